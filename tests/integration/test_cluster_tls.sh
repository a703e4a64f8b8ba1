#!/usr/bin/env bash
# `agora cluster up --tls`: the CA and certificates are made in DIR/tls by
# agora-tls-init (tools/tls-init); the master, the agents and agora-services
# serve only https:// and wss:// (a plain client is refused on every port);
# the agents and agora-services register over wss://; the CLI, pointed at the
# cluster with what up prints (AGORA_MASTER=https://..., AGORA_TLS_CA), lists
# the agents, deploys an app through agora-services and reads its task's
# output from its agent over https://; the choice is kept by the next up.
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
