#!/usr/bin/env bash
# TLS (--tls_cert, --tls_key, --tls_ca, --tls_verify_peer, --tls_required)
# with certificates from tools/tls-init: a master serving only https:// and
# wss:// on its port, an agent registering over wss:// (its own port on
# https://), agora-services (its driver over wss://, its REST API on
# https://, an app launched through it and running) and the CLI over https://
# work; a plain HTTP client and a plain agent are refused, and so is a client
# that does not trust the CA. With --tls_verify_peer, a client without a
# certificate is refused and those with the CA's certificates work.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || { echo "SKIP: needs the openssl CLI (tools/deps)"; exit 77; }
AG="$AGORA_BIN/agora"
"$(dirname "$0")/../../tools/tls-init" "$T/tls" >/dev/null || fail "tools/tls-init failed"
C=$T/tls
SERVE=(--tls_cert="$C/server.pem" --tls_key="$C/server-key.pem")
CLIENT=(--tls_ca="$C/ca.pem")
CURL=(-s --cacert "$C/ca.pem")

# start_tls_master [FLAGS...]: start_master, checked over https://.
start_tls_master() {
    MASTER_PORT=${MASTER_PORT:-$(free_port)}
    "$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="$MASTER_PORT" --work_dir="$T/master" \
        "$@" >>"$T/master.log" 2>&1 &
    MASTER_PID=$!
    PIDS+=("$MASTER_PID")
    wait_until 10 curl "${CURL[@]}" "${MCERT[@]}" -f "https://127.0.0.1:$MASTER_PORT/health" ||
        fail "master did not start with TLS"
}
MCERT=()
tls_agents() {
    curl "${CURL[@]}" "${MCERT[@]}" -f "https://127.0.0.1:$MASTER_PORT/slaves" | jq '.slaves | length'
}
agents_tls_are() { [ "$(tls_agents)" = "$1" ]; }

log "the flags are checked at start, files named"
"$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="$(free_port)" --work_dir="$T/bad" \
    --tls_cert="$C/server.pem" --tls_key="$C/nope.pem" >"$T/bad.out" 2>&1 &&
    fail "a master started with a missing key"
grep -q -- "--tls_key $C/nope.pem: cannot read: No such file" "$T/bad.out" ||
    fail "no clear error: $(cat "$T/bad.out")"
"$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="$(free_port)" --work_dir="$T/bad" \
    --tls_required >"$T/bad.out" 2>&1 && fail "a master started --tls_required without a certificate"
grep -q -- "--tls_required needs --tls_cert" "$T/bad.out" || fail "no clear error: $(cat "$T/bad.out")"

log "master on https:// and wss:// only"
start_tls_master "${SERVE[@]}"
grep -q "TLS only" "$T/master.log" || fail "the master does not say its port is TLS only"
curl -s -o /dev/null "http://127.0.0.1:$MASTER_PORT/health" && fail "plain http:// answered"
curl -s -o /dev/null "https://127.0.0.1:$MASTER_PORT/health" &&
    fail "a client that does not trust the CA was answered"
[ "$(curl "${CURL[@]}" -o /dev/null -w '%{http_code}' "https://localhost:$MASTER_PORT/health")" = 200 ] ||
    fail "https://localhost did not answer"

log "an agent with --tls_ca registers over wss://; its own port serves https://"
start_agent tls "${CLIENT[@]}" "${SERVE[@]}"
wait_until 20 agents_tls_are 1 || fail "the TLS agent did not register: $(tail -5 "$T/agent-tls.log")"
grep -q "registered with the master .*master=wss://" "$T/agent-tls.log" || fail "not over wss://"
wait_until 10 curl "${CURL[@]}" -f "https://127.0.0.1:${AGENT_PORT[tls]}/health" ||
    fail "the agent does not serve https://"
curl -s -o /dev/null "http://127.0.0.1:${AGENT_PORT[tls]}/health" && fail "the agent answered http://"

log "a plain agent, and one that does not trust the CA, cannot register"
start_agent plain
start_agent untrusting --master="https://127.0.0.1:$MASTER_PORT"
sleep 3
agents_tls_are 1 || fail "a plain or untrusting agent registered: $(tls_agents) agents"
grep -q "registered with the master" "$T/agent-plain.log" && fail "the plain agent registered"
grep -q "registered with the master" "$T/agent-untrusting.log" && fail "the untrusting agent registered"

log "the CLI over https://"
"$AG" agents --master="https://127.0.0.1:$MASTER_PORT" "${CLIENT[@]}" >"$T/cli.out" ||
    fail "agora agents over https:// failed: $(cat "$T/cli.out")"
grep -q ACTIVE "$T/cli.out" || fail "the CLI does not list the agent: $(cat "$T/cli.out")"
"$AG" agents --master="127.0.0.1:$MASTER_PORT" "${CLIENT[@]}" --json | jq -e 'length == 1' >/dev/null ||
    fail "HOST:PORT with --tls_ca is not reached over https://"
"$AG" agents --master="127.0.0.1:$MASTER_PORT" >"$T/cli.out" 2>&1 && fail "the CLI got through in clear text"
"$AG" agents --master="https://127.0.0.1:$MASTER_PORT" >"$T/cli.out" 2>&1 &&
    fail "the CLI trusted the master without --tls_ca"
"$AG" agents --master="http://127.0.0.1:$MASTER_PORT" "${CLIENT[@]}" --tls_required >"$T/cli.out" 2>&1 &&
    fail "--tls_required let the CLI use http://"
grep -q "tls_required" "$T/cli.out" || fail "no clear error: $(cat "$T/cli.out")"
"$AG" agents --master="https://127.0.0.1:$MASTER_PORT" --tls_ca="$C/missing.pem" >"$T/cli.out" 2>&1 &&
    fail "the CLI ran with a missing --tls_ca"
grep -q "missing.pem: cannot read" "$T/cli.out" || fail "no clear error: $(cat "$T/cli.out")"

log "agora-services over TLS: a task launched through the Marathon API on https://"
SVC_PORT=$(free_port)
"$AGORA_BIN/agora-services" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 --http_port="$SVC_PORT" \
    --hostname=127.0.0.1 --work_dir="$T/services" "${CLIENT[@]}" "${SERVE[@]}" >>"$T/services.log" 2>&1 &
SVC_PID=$!
PIDS+=("$SVC_PID")
SVC=https://127.0.0.1:$SVC_PORT
svc_subscribed() { curl "${CURL[@]}" "${MCERT[@]}" -f "$SVC/v2/info" | jq -e '.frameworkId != null'; }
wait_until 20 svc_subscribed || fail "agora-services did not subscribe over TLS: $(tail -5 "$T/services.log")"
curl -s -o /dev/null "http://127.0.0.1:$SVC_PORT/ping" && fail "agora-services answered http://"
code=$(curl "${CURL[@]}" -o "$T/post.out" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"id": "/tls/sleep", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16}' "$SVC/v2/apps")
[ "$code" = 201 ] || fail "POST /v2/apps over https:// answered $code: $(cat "$T/post.out")"
svc_running() {
    curl "${CURL[@]}" "${MCERT[@]}" -f "$SVC/v2/apps/tls/sleep" | jq -e '.app.tasksRunning == 1'
}
wait_until 30 svc_running || fail "the app's task is not running: $(curl "${CURL[@]}" "$SVC/v2/apps/tls/sleep")"
curl "${CURL[@]}" -f "https://127.0.0.1:$MASTER_PORT/tasks" | jq -e '[.tasks[] | select(.state == "TASK_RUNNING")] | length == 1' >/dev/null ||
    fail "the master does not see the task running"

log "--tls_verify_peer: clients need a certificate of the CA"
kill "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
MCERT=(--cert "$C/client.pem" --key "$C/client-key.pem")
start_tls_master "${SERVE[@]}" --tls_ca="$C/ca.pem" --tls_verify_peer --tls_required
curl "${CURL[@]}" -o /dev/null "https://127.0.0.1:$MASTER_PORT/health" &&
    fail "a client without a certificate was answered"
wait_until 30 agents_tls_are 1 || fail "the agent (with a certificate) did not come back"
"$AG" agents --master="https://127.0.0.1:$MASTER_PORT" "${CLIENT[@]}" >"$T/cli.out" 2>&1 &&
    fail "the CLI without a certificate got through"
"$AG" agents --master="https://127.0.0.1:$MASTER_PORT" "${CLIENT[@]}" --tls_cert="$C/client.pem" \
    --tls_key="$C/client-key.pem" >"$T/cli.out" || fail "the CLI with a certificate failed"
wait_until 30 svc_subscribed || fail "agora-services (with a certificate) did not come back"
svc_running >/dev/null || fail "the app's task is not running after the master restart"
start_agent nocert "${CLIENT[@]}"
sleep 3
agents_tls_are 1 || fail "an agent without a certificate registered"

log "PASS"
