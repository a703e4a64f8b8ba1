#!/usr/bin/env bash
# Two agent claims that need root: a task with command.user "nobody" runs as
# nobody, and with --no-switch_user as the agent's own user; the
# namespaces/ipc isolator gives a task its own System V IPC (a host message
# queue is invisible inside it, visible to a task without the isolator).
. "$(dirname "$0")/lib.sh"
require_root
command -v ipcmk >/dev/null && command -v ipcs >/dev/null ||
    { echo "SKIP: ipcmk/ipcs (util-linux) are missing" >&2; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user 'nobody' on this host" >&2; exit 77; }
nobody_uid=$(id -u nobody)

# A message queue on the host; removed at the end.
qid=$(ipcmk -Q | awk '{print $NF}')
[ -n "$qid" ] || fail "ipcmk -Q printed no id"
# (ipcs -i exits 0 even for an unknown id: look for the id in the list)
ipcs -q | awk '{print $2}' | grep -qx "$qid" || fail "the host does not see its own queue $qid"
# (cleanup, from lib.sh, reads the exit status from $?)
trap 'rc=$?; set +e; [ "$BASHPID" = "$$" ] && ipcrm -q "$qid" 2>/dev/null; (exit $rc); cleanup' EXIT

start_master
start_agent sw --isolation=posix
start_agent nosw --isolation=posix --no-switch_user
start_agent ipc --isolation=namespaces/ipc
start_agent noipc --isolation=namespaces/uts
wait_agents 4
start_scheduler fw
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null

agent_json() { # AGENT PATH
    curl -sf "http://127.0.0.1:${AGENT_PORT[$1]}$2"
}
# sandbox_file AGENT TASK FILE: the contents of FILE in TASK's sandbox.
sandbox_file() {
    local dir
    dir=$(agent_json "$1" /state | jq -r --arg t "$2" '[.frameworks[].executors[] | select(.id == $t) | .directory][0]')
    agent_json "$1" "/files/read?path=$dir/$3&offset=0" | jq -r .data
}

# One task per agent, launched on that agent's offer as it comes.
declare -A launched=()
nlaunched=0
cmd="id -u > uid.out; if ipcs -q | awk '{print \$2}' | grep -qx $qid; then echo shared; else echo private; fi > ipc.out; readlink /proc/self/ns/ipc > ns.out; echo done > done.out; sleep 1000"
while [ "$nlaunched" -lt 4 ]; do
    ev=$(expect_event 20 '.event == "offers"' "offers ($nlaunched tasks launched)")
    for i in $(seq 0 $(($(echo "$ev" | jq '.offers | length') - 1))); do
        host=$(echo "$ev" | jq -r ".offers[$i].hostname")
        offer=$(echo "$ev" | jq -r ".offers[$i].id")
        [ -z "${launched[$host]:-}" ] || continue
        send launch_json "$offer" "$(jq -cn --arg id "t-$host" --arg cmd "$cmd" \
            '{task_id: $id, resources: "cpus:0.1;mem:32", user: "nobody", cmd: $cmd}')"
        launched[$host]=1
        nlaunched=$((nlaunched + 1))
    done
done
# Updates in any order.
saw_event() {
    jq -e -s "any(.[]; $1)" "$T/sched-fw.events" >/dev/null 2>&1
}
for host in sw nosw ipc noipc; do
    wait_until 20 saw_event ".event == \"update\" and .task_id == \"t-$host\" and .state == \"TASK_RUNNING\"" ||
        fail "t-$host not running: $(jq -c -s "[.[] | select(.task_id == \"t-$host\")] | last" "$T/sched-fw.events")"
done
sandbox_done() { # AGENT TASK
    [ "$(sandbox_file "$1" "$2" done.out 2>/dev/null)" = done ]
}
for host in sw nosw ipc noipc; do
    wait_until 15 sandbox_done "$host" "t-$host" || fail "t-$host did not finish its checks"
done

# --switch_user (default): the task runs as its command's user.
[ "$(sandbox_file sw t-sw uid.out)" = "$nobody_uid" ] ||
    fail "with --switch_user the task ran as uid $(sandbox_file sw t-sw uid.out), not nobody ($nobody_uid)"
# --no-switch_user: as the agent's user (root here).
[ "$(sandbox_file nosw t-nosw uid.out)" = 0 ] ||
    fail "with --no-switch_user the task ran as uid $(sandbox_file nosw t-nosw uid.out), not the agent's (0)"

# namespaces/ipc: another IPC namespace, the host's queue not visible.
host_ns=$(readlink /proc/self/ns/ipc)
[ "$(sandbox_file ipc t-ipc ns.out)" != "$host_ns" ] || fail "namespaces/ipc: the task shares the host's IPC namespace"
[ "$(sandbox_file ipc t-ipc ipc.out)" = private ] || fail "namespaces/ipc: the task sees the host's queue $qid"
# Without it (namespaces/uts only): the host's namespace and queue.
[ "$(sandbox_file noipc t-noipc ns.out)" = "$host_ns" ] || fail "without namespaces/ipc the task has its own IPC namespace"
[ "$(sandbox_file noipc t-noipc ipc.out)" = shared ] || fail "without namespaces/ipc the task does not see the host's queue"
log "ok: uid $(sandbox_file sw t-sw uid.out) / $(sandbox_file nosw t-nosw uid.out); ipc $(sandbox_file ipc t-ipc ipc.out) / $(sandbox_file noipc t-noipc ipc.out)"
