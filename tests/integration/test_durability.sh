#!/usr/bin/env bash
# Durability before action, seen with strace: agora-services, an agent and a
# plugin host (the spread plugin) run under `strace -f`; an app is deployed
# and scaled to 0, then spread launches its copy, and strace_durability.py
# checks from the system calls that
#   - agora-services synced services.db-wal after writing a task's record and
#     before launching it, and again before each acknowledgement or kill;
#   - the plugin host synced plugin.db-wal after spread recorded its copy and
#     before launching it;
#   - the agent synced agent.db-wal, and meta/ since the WAL was created,
#     before its first status update of a task;
#   - each agora-executor fsynced status.json, renamed it, fsynced its
#     directory and the directory's parent, and only then told the agent.
# See docs/operations.md, "What survives a power cut".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

command -v strace >/dev/null || { echo "SKIP: strace is not installed (tools/deps)"; exit 77; }
strace -f -qq -o /dev/null true 2>/dev/null ||
    { echo "SKIP: strace cannot trace here (ptrace not permitted)"; exit 77; }

# The daemons start under strace (its pid is the one lib.sh kills; the traced
# daemons are stopped by their pids below).
mkdir -p "$T/bin"
for b in "$AGORA_BIN"/*; do ln -s "$b" "$T/bin/"; done
for d in agora-services agora-agent agora-scheduler; do
    rm "$T/bin/$d"
    printf '#!/bin/sh\nexec strace -f -qq -yy -xx -s 1000000 -e trace=%s -o %s -- %s "$@"\n' \
        pwrite64,fdatasync,fsync,rename,sendmsg,sendto,write,writev,recvmsg,recvfrom,read,readv \
        "$T/strace-$d.txt" "$AGORA_BIN/$d" >"$T/bin/$d"
    chmod +x "$T/bin/$d"
done
REAL_BIN=$AGORA_BIN
AGORA_BIN=$T/bin
HOST_PID=""
traced_pids() {
    local p
    for p in "${AGENT_PID[a1]}" "$SVC_PID" $HOST_PID; do pgrep -P "$p" || true; done
}
stop_traced() {
    for p in $(traced_pids); do kill -TERM "$p" 2>/dev/null || true; done
}
trap 'rc=$?; [ "$BASHPID" = "$$" ] && stop_traced; set +e; (exit $rc); cleanup' EXIT

start_master
start_svc_agent a1 --attributes=rack:r1
wait_agents 1
start_services

# ---- agora-services: launches, acknowledgements, kills; the executors' verdicts
api POST /v2/apps '{"id": "/durable", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2}' \
    >/dev/null
[ "$(api_code)" = 201 ] || fail "POST /v2/apps: $(api_code) $(cat "$T/api.body")"
wait_app /durable 2 60
ids=$(app_task_ids /durable)
api PUT /v2/apps/durable '{"instances": 0}' >/dev/null
wait_app /durable 0 60
# Every executor has reported its end (status.json, "exited") once its task is gone.
wait_until 30 sh -c "! pgrep -f '[a]gora-executor --meta=$T' >/dev/null" ||
    fail "executors still running after the scale to 0"

# ---- the plugin host: spread records its copy, then launches it
echo '{"name": "web", "command": "sleep 600", "resources": "cpus:0.1;mem:16", "count": 1,
       "attribute": "rack"}' >"$T/spread.json"
"$AGORA_BIN/agora-scheduler" --master="127.0.0.1:$MASTER_PORT" --work_dir="$T/wd-spread" \
    --plugin=spread --config="$T/spread.json" >>"$T/host-spread.log" 2>&1 &
HOST_PID=$!
PIDS+=("$HOST_PID")
AGORA_BIN=$REAL_BIN
spread_task() {
    master_json /state | jq -r '.frameworks[] | select(.name == "spread") | .tasks[] |
        select(.state == "TASK_RUNNING") | .id'
}
spread_running() { [ -n "$(spread_task)" ]; }
wait_until 60 spread_running || fail "spread's copy did not start: $(tail -5 "$T/host-spread.log")"
spread_id=$(spread_task)

# strace ends with the last process it traces, its log complete: stop the
# daemons, and end spread's copy so that its executor (traced with the agent)
# ends too.
stop_traced
for f in "$T"/agent-a1/meta/containers/*/task.pid; do
    [ -f "$f" ] && kill -KILL -- "-$(cat "$f")" 2>/dev/null || true
done
wait "${AGENT_PID[a1]}" "$SVC_PID" "$HOST_PID" 2>/dev/null || true

check="$(dirname "$0")/strace_durability.py"
bad=()
# shellcheck disable=SC2086
python3 "$check" store "$T/strace-agora-services.txt" services.db "$MASTER_PORT" $ids ||
    bad+=(agora-services)
python3 "$check" store "$T/strace-agora-scheduler.txt" plugin.db "$MASTER_PORT" "$spread_id" ||
    bad+=("agora-scheduler (plugin host)")
# shellcheck disable=SC2086
python3 "$check" agent "$T/strace-agora-agent.txt" "$MASTER_PORT" $ids || bad+=(agora-agent)
python3 "$check" executor "$T/strace-agora-agent.txt" || bad+=(agora-executor)
[ ${#bad[@]} -eq 0 ] || fail "state acted on before it was durable: ${bad[*]}"
log "state files durable before every action"
