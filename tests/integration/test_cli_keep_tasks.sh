#!/usr/bin/env bash
# `agora cluster down --keep_tasks` (docs/cli.md) on a real local cluster
# (master, one agent, agora-services): the task of an app keeps running, same
# process, while everything else is down; the next `up` recovers it (same task
# id, same pid, running for the master and for agora-services). A plain `down`
# then stops it.
. "$(dirname "$0")/lib.sh"

AG="$AGORA_BIN/agora"
[ -x "$AG" ] && [ -x "$AGORA_BIN/agora-services" ] || fail "no agora or agora-services in $AGORA_BIN"
CL_DIR="$T/cluster"
TASK_PID=""
cluster_cleanup() {
    if [ -f "$CL_DIR/cluster.json" ]; then
        "$AG" cluster down --dir="$CL_DIR" --grace=2secs >/dev/null 2>&1 || true
    fi
    for f in "$CL_DIR"/*.pid; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
    [ -z "$TASK_PID" ] || kill -KILL -- "-$TASK_PID" 2>/dev/null || kill -KILL "$TASK_PID" 2>/dev/null || true
}
trap 'rc=$?; set +e; [ "$BASHPID" = "$$" ] && cluster_cleanup; (exit $rc); cleanup' EXIT

# The master on CL_PORT, its agent on CL_PORT+1 (which must be free too).
while :; do
    CL_PORT=$(free_port)
    CL_SVC=$(free_port)
    [ "$CL_SVC" != $((CL_PORT + 1)) ] && ! (echo >/dev/tcp/127.0.0.1/$((CL_PORT + 1))) 2>/dev/null && break
done
SVC="http://127.0.0.1:$CL_SVC"
up() {
    "$AG" cluster up --dir="$CL_DIR" --port="$CL_PORT" --services_port="$CL_SVC" --agents=1 \
        --resources="cpus:1;mem:1024;disk:1024;ports:[19000-19099]" >"$T/up.out" 2>&1 ||
        fail "cluster up: $(cat "$T/up.out")"
}
app() {
    curl -sf "$SVC/v2/apps/keep" | jq -c .app
}
app_running() {
    app | jq -e '.tasksRunning == 1 and (.deployments | length) == 0' >/dev/null
}
task_pid() { # TASK_ID: its pid from the agent's /state
    curl -sf "http://127.0.0.1:$((CL_PORT + 1))/state" |
        jq -r --arg t "$1" '[.frameworks[].executors[].tasks[] | select(.id == $t) | .pid][0] // empty'
}
alive() {
    kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

up
wait_until 30 curl -sf "$SVC/v2/info" || fail "agora-services of the cluster does not answer"
code=$(curl -s -o "$T/post.out" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"id": "/keep", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16}' "$SVC/v2/apps")
[ "$code" = 201 ] || fail "POST /v2/apps: $code $(cat "$T/post.out")"
wait_until 30 app_running || fail "/keep not running: $(app)"
task=$(app | jq -r '.tasks[0].id')
TASK_PID=$(task_pid "$task")
[ -n "$TASK_PID" ] && alive "$TASK_PID" || fail "no live pid for $task: '$TASK_PID'"

# down --keep_tasks: every component stops, the task does not.
cl_pids=$(cat "$CL_DIR"/*.pid)
"$AG" cluster down --dir="$CL_DIR" --keep_tasks >"$T/down.out" 2>&1 || fail "down --keep_tasks: $(cat "$T/down.out")"
for p in $cl_pids; do
    ! alive "$p" || fail "component pid $p still runs after down --keep_tasks"
done
alive "$TASK_PID" || fail "down --keep_tasks stopped the task (pid $TASK_PID)"
"$AG" cluster status --dir="$CL_DIR" >"$T/status.out" 2>&1 && fail "status exits 0 with the cluster down: $(cat "$T/status.out")"

# up: recovered, same task, same process.
up
wait_until 30 curl -sf "$SVC/v2/info" || fail "agora-services does not answer after the second up"
wait_until 30 sh -c "curl -sf 'http://127.0.0.1:$CL_PORT/tasks?state=TASK_RUNNING' | jq -e '[.tasks[] | select(.id == \"$task\")] | length == 1'" ||
    fail "the master does not know $task running after up"
wait_until 30 app_running || fail "/keep after up: $(app)"
[ "$(app | jq -r '.tasks[0].id')" = "$task" ] || fail "agora-services replaced $task by $(app | jq -r '.tasks[0].id')"
[ "$(task_pid "$task")" = "$TASK_PID" ] || fail "the agent reports pid $(task_pid "$task") for $task, was $TASK_PID"
alive "$TASK_PID" || fail "the task died across up"

# A plain down stops the task.
"$AG" cluster down --dir="$CL_DIR" --grace=5secs >"$T/down.out" 2>&1 || fail "down: $(cat "$T/down.out")"
wait_until 15 sh -c "! kill -0 $TASK_PID 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' /proc/$TASK_PID/stat" ||
    fail "a plain down left the task (pid $TASK_PID) running"
log "ok: $task (pid $TASK_PID) survived down --keep_tasks and up"
