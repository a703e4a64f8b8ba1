#!/usr/bin/env bash
# `agora cluster` and the agents' cgroups (root only): the agents of a local
# cluster put each task in a cgroup under their roots (listed in
# DIR/agentN/meta/cgroups); `cluster down` stops the tasks while their agents
# run, so that the agents remove the containers' cgroups, and --purge removes
# the agents' cgroup roots with the state.
. "$(dirname "$0")/lib.sh"
require_root
. "$(dirname "$0")/cli_lib.sh"

cluster_bin
cluster_ports
expect_rc 0 "$CL" cluster up --dir="$CL_DIR" --port="$CL_PORT" --services_port="$CL_SVC" --agents=2
MASTER_PORT=$CL_PORT
wait_agents 2
start_scheduler down
offer=$(expect_event 10 '.event == "offers"' "an offer of the local cluster" | jq -r '.offers[0].id')
send launch "$offer" t1 "cpus:0.1;mem:16" sleep 600
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null
roots=$(cat "$CL_DIR"/agent*/meta/cgroups 2>/dev/null || true)
[ -n "$roots" ] || fail "the agents recorded no cgroup roots in $CL_DIR/agent*/meta/cgroups"
for r in $roots; do [ -d "$r" ] || fail "cgroup root $r does not exist"; done
groups=$(for r in $roots; do ls -d "$r"/*/ 2>/dev/null || true; done)
[ -n "$groups" ] || fail "no container cgroups under the agents' roots while t1 runs: $roots"
# t1's process (the executor runs it as the container's "sleep 600") in one of them.
in_groups() {
    local g
    for g in $groups; do grep -qx "$1" "$g/cgroup.procs" 2>/dev/null && return 0; done
    return 1
}
pid=""
for p in $(pgrep -x sleep || true); do
    if [ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "sleep 600 " ] && in_groups "$p"; then
        pid=$p
        break
    fi
done
[ -n "$pid" ] || fail "t1's process is in none of the containers' cgroups"
log "t1 (pid $pid) runs in a cgroup under $(echo "$roots" | tr '\n' ' ')"
expect_rc 0 "$CL" cluster down --dir="$CL_DIR" --purge
[ ! -e "$CL_DIR" ] || fail "--purge left $CL_DIR"
for r in $roots; do
    [ ! -e "$r" ] || fail "cluster down --purge left the cgroup $r ($(ls "$r" | head -20 | tr '\n' ' '))"
done
! kill -0 "$pid" 2>/dev/null || fail "t1 survived cluster down"
log "ok"
