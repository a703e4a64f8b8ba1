#!/usr/bin/env bash
# Durability before action, seen with strace: agora-services and an agent run
# under `strace -f`, an app is deployed and scaled to 0, and
# strace_durability.py checks from the system calls that
#   - agora-services synced services.db-wal after writing a task's record and
#     before launching it, and again before each acknowledgement or kill;
#   - the agent fsynced meta/ (agent.db's directory) and agent.db-wal before
#     its first status update of a task;
#   - each agora-executor fsynced status.json, renamed it, fsynced its
#     directory and the directory's parent, and only then told the agent.
# See docs/operations.md, "What survives a power cut".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

command -v strace >/dev/null || { echo "SKIP: strace is not installed (tools/deps)"; exit 77; }
strace -f -qq -o /dev/null true 2>/dev/null ||
    { echo "SKIP: strace cannot trace here (ptrace not permitted)"; exit 77; }

# agora-services and agora-agent start under strace (its own pid is the one
# lib.sh kills; the traced daemons are killed by their pids below).
mkdir -p "$T/bin"
for b in "$AGORA_BIN"/*; do ln -s "$b" "$T/bin/"; done
for d in agora-services agora-agent; do
    rm "$T/bin/$d"
    printf '#!/bin/sh\nexec strace -f -qq -yy -xx -s 1000000 -e trace=%s -o %s -- %s "$@"\n' \
        pwrite64,fdatasync,fsync,rename,sendmsg,sendto,write,writev,recvmsg,recvfrom,read,readv \
        "$T/strace-$d.txt" "$AGORA_BIN/$d" >"$T/bin/$d"
    chmod +x "$T/bin/$d"
done
REAL_BIN=$AGORA_BIN
AGORA_BIN=$T/bin
traced_pids() { pgrep -P "${AGENT_PID[a1]}" || true; pgrep -P "$SVC_PID" || true; }
stop_traced() {
    for p in $(traced_pids); do kill -TERM "$p" 2>/dev/null || true; done
}
trap 'rc=$?; stop_traced; (exit $rc); cleanup' EXIT

start_master
start_svc_agent a1
wait_agents 1
start_services
AGORA_BIN=$REAL_BIN

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
# strace ends with the last process it traces, its log complete.
stop_traced
wait "${AGENT_PID[a1]}" "$SVC_PID" 2>/dev/null || true

check="$(dirname "$0")/strace_durability.py"
# shellcheck disable=SC2086
python3 "$check" services "$T/strace-agora-services.txt" "$MASTER_PORT" $ids || fail "agora-services"
# shellcheck disable=SC2086
python3 "$check" agent "$T/strace-agora-agent.txt" "$MASTER_PORT" $ids || fail "agora-agent"
python3 "$check" executor "$T/strace-agora-agent.txt" || fail "agora-executor"
log "state files durable before every action"
