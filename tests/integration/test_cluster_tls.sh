#!/usr/bin/env bash
# `agora cluster up --tls`: the CA and certificates are made in DIR/tls by
# agora-tls-init (tools/tls-init); the master, the agents and agora-services
# serve only https:// and wss:// (a plain client is refused on every port);
# the agents and agora-services register over wss://; the CLI, pointed at the
# cluster with what up prints (AGORA_MASTER=https://..., AGORA_TLS_CA), lists
# the agents, deploys an app through agora-services and reads its task's
# output from its agent over https://; the master's dashboard and
# agora-services' apps page work in chromium over https:// (the browser pins the
# cluster's certificate), the app scaled from the page and a task's output read
# from its agent; the plugin host runs hello over wss://
# with --tls_ca (and gets nowhere without it); the choice is kept by the next up.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cli_lib.sh"

command -v openssl >/dev/null || { echo "SKIP: needs the openssl CLI (tools/deps)"; exit 77; }
cluster_bin
[ -x "$AGORA_BIN/agora-tls-init" ] || fail "no $AGORA_BIN/agora-tls-init (tools/CMakeLists.txt copies it)"
ln -s "$AGORA_BIN/agora-tls-init" "$CL_BIN/agora-tls-init"
cluster_ports

log "up --tls makes the certificates and starts every component on TLS"
expect_rc 0 "$CL" cluster up --tls --dir="$CL_DIR" --port="$CL_PORT" --services_port="$CL_SVC" --agents=2
for f in ca.pem server.pem server-key.pem client.pem; do
    [ -s "$CL_DIR/tls/$f" ] || fail "up --tls did not make $CL_DIR/tls/$f"
done
grep -q "TLS only" "$T/out" || fail "up does not say the cluster is TLS only: $(cat "$T/out")"
grep -q "master    https://127.0.0.1:$CL_PORT" "$T/out" || fail "up addresses: $(cat "$T/out")"
grep -q "export AGORA_MASTER=https://127.0.0.1:$CL_PORT AGORA_SERVICES=https://127.0.0.1:$CL_SVC AGORA_TLS_CA=$CL_DIR/tls/ca.pem" "$T/out" ||
    fail "up does not print the CLI's environment: $(cat "$T/out")"
jq -e '.tls == true' "$CL_DIR/cluster.json" >/dev/null || fail "cluster.json does not keep tls"

CA=(--cacert "$CL_DIR/tls/ca.pem")
for p in "$CL_PORT" $((CL_PORT + 1)) $((CL_PORT + 2)); do
    [ "$(curl -s "${CA[@]}" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$p/health")" = 200 ] ||
        fail "port $p does not answer https://"
    curl -s -o /dev/null "http://127.0.0.1:$p/health" && fail "port $p answered plain http://"
done
curl -sf "${CA[@]}" -o /dev/null "https://127.0.0.1:$CL_SVC/v2/apps" || fail "agora-services does not answer https://"
curl -s -o /dev/null "http://127.0.0.1:$CL_SVC/v2/apps" && fail "agora-services answered plain http://"
curl -s -o /dev/null "https://127.0.0.1:$CL_PORT/health" && fail "a client without the CA was answered"
grep -q "registered with the master .*master=wss://" "$CL_DIR/agent1.log" ||
    fail "agent1 did not register over wss://: $(tail -5 "$CL_DIR/agent1.log")"
wait_until 20 sh -c "curl -sf --cacert '$CL_DIR/tls/ca.pem' https://127.0.0.1:$CL_SVC/v2/info | jq -e '.frameworkId != null'" ||
    fail "agora-services did not subscribe over wss://"

log "status over https://"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR"
[ "$(grep -c " running  *healthy  *https://" "$T/out")" = 4 ] || fail "status: $(cat "$T/out")"

log "the CLI with the environment up printed"
export AGORA_MASTER="https://127.0.0.1:$CL_PORT" AGORA_SERVICES="https://127.0.0.1:$CL_SVC"
export AGORA_TLS_CA="$CL_DIR/tls/ca.pem"
expect_rc 0 "$CL" agents --json
[ "$(jq 'length' "$T/out")" = 2 ] || fail "agents over https://: $(cat "$T/out")"
cat >"$T/echo.json" <<'JSON'
{"id": "/tls-echo", "cmd": "echo hello-over-tls; exec sleep 600", "cpus": 0.1, "mem": 32, "instances": 1}
JSON
expect_rc 0 "$CL" app deploy "$T/echo.json"
expect_rc 0 "$CL" tasks --json
task=$(jq -r '.[] | select(.state == "TASK_RUNNING") | .id' "$T/out" | head -1)
[ -n "$task" ] || fail "no running task: $(cat "$T/out")"
wait_until 10 sh -c "'$CL' task logs '$task' | grep -q hello-over-tls" ||
    fail "task logs over https:// from the agent: $("$CL" task logs "$task" 2>&1)"
log "the dashboard and the apps page in chromium over https:// (the agents' sandboxes too)"
spki=$(openssl x509 -in "$CL_DIR/tls/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
MASTER_URL="https://127.0.0.1:$CL_PORT" SERVICES_URL="https://127.0.0.1:$CL_SVC" SPKI="$spki" \
    APP_ID=/tls-echo INSTANCES=1 SCALE_TO=2 AGENTS=agent1,agent2 LOG_TEXT=hello-over-tls \
    ARTIFACTS="$T/artifacts" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    timeout 180 node "$(dirname "$0")/../browser/dashboard.mjs" >"$T/browser.log" 2>&1 ||
    { cat "$T/browser.log" >&2; fail "the web UIs over TLS failed (screenshots in $T/artifacts)"; }
grep "^ok" "$T/browser.log" >&2

log "a plugin (hello, in the plugin host) over wss:// with --tls_ca"
set +e
timeout 120 "$AGORA_BIN/agora-scheduler" --master="127.0.0.1:$CL_PORT" --tls_ca="$CL_DIR/tls/ca.pem" \
    --work_dir="$T/wd-hello" --plugin=hello --config=<(echo '{"instances": 2}') >"$T/hello.log" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || fail "hello over TLS exited $rc: $(tail -5 "$T/hello.log")"
grep -q "all 2 tasks ended, 0 failed" "$T/hello.log" || fail "hello did not run its tasks: $(tail -5 "$T/hello.log")"
# ($AGORA_TLS_CA is the host's --tls_ca too: without it, the host speaks clear text.)
env -u AGORA_TLS_CA "$AGORA_BIN/agora-scheduler" --master="127.0.0.1:$CL_PORT" --work_dir="$T/wd-plain" \
    --plugin=hello --config=<(echo '{"instances": 1}') >"$T/plain.log" 2>&1 &
plain=$!
PIDS+=("$plain")
sleep 3
grep -q "subscribed framework_id" "$T/plain.log" && fail "a plugin host without --tls_ca subscribed"
grep -q "master=ws://" "$T/plain.log" || fail "the plain host did not try ws://: $(tail -3 "$T/plain.log")"
kill "$plain" 2>/dev/null || true
expect_rc 1 env -u AGORA_TLS_CA "$CL" agents
grep -q "cannot reach the master" "$T/err" || fail "no clear error without the CA: $(cat "$T/err")"
expect_rc 1 env -u AGORA_TLS_CA AGORA_MASTER="127.0.0.1:$CL_PORT" "$CL" agents

log "the next up keeps TLS without --tls, also after down"
expect_rc 0 "$CL" cluster up --dir="$CL_DIR"
grep -q "TLS only" "$T/out" || fail "second up: $(cat "$T/out")"
expect_rc 0 "$CL" app rm /tls-echo
expect_rc 0 "$CL" cluster down --dir="$CL_DIR"
expect_rc 0 "$CL" cluster up --dir="$CL_DIR"
grep -q "master    https://127.0.0.1:$CL_PORT" "$T/out" || fail "up after down forgot TLS: $(cat "$T/out")"
curl -s -o /dev/null "http://127.0.0.1:$CL_PORT/health" && fail "the restarted master answered plain http://"
expect_rc 0 "$CL" cluster down --dir="$CL_DIR" --purge
[ ! -e "$CL_DIR" ] || fail "--purge left $CL_DIR"
log "ok"
