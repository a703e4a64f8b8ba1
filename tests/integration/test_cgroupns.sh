#!/usr/bin/env bash
# An agent inside a cgroup namespace on a pure cgroup v2 host, as in a Docker or
# Kubernetes container: /sys/fs/cgroup is the namespace's root, which holds the
# agent's own process. The agent moves the processes there into a leaf
# ("init"), enables the controllers, and its tasks get their cpu and memory
# limits (before, --isolation=auto ran them without limits, with a warning).
# Needs root and a pure v2 host: tools/test runs it inside tools/v2vm when the
# host has another layout.
. "$(dirname "$0")/lib.sh"
require_root
if [ ! -f /sys/fs/cgroup/cgroup.controllers ] || grep -q '^cgroup ' /proc/mounts; then
    echo "SKIP: needs a pure cgroup v2 host (tools/test runs this test in tools/v2vm)" >&2
    exit 77
fi
command -v unshare >/dev/null || { echo "SKIP: unshare (util-linux) is missing" >&2; exit 77; }
for c in cpu memory pids; do
    grep -qw "$c" /sys/fs/cgroup/cgroup.subtree_control ||
        echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control ||
        fail "cannot enable $c at the root"
done

CG=/sys/fs/cgroup/agora-test-cgns-$$
mkdir "$CG"
cg_cleanup() { # kills what is left in $CG and removes it, deepest first
    local rc=$?
    if [ "$BASHPID" = "$$" ] && [ -d "$CG" ]; then
        find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        sleep 0.2
        find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
    set +e # (errexit would end this trap at the status below, before cleanup)
    (exit "$rc")
    cleanup
}
trap cg_cleanup EXIT

start_master
APORT=$(free_port)
AGENT_PORT[a1]=$APORT
# Into $CG, then a cgroup and a mount namespace with cgroup2 mounted afresh:
# the agent sees $CG as /sys/fs/cgroup, holding its own process.
bash -c 'echo $$ >"$1/cgroup.procs"; shift
    exec unshare --cgroup --mount --propagation private sh -c \
        "umount -l /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"\$0\" \"\$@\"" "$@"' \
    _ "$CG" "$AGORA_BIN/agora-agent" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 --port="$APORT" \
    --hostname=a1 --work_dir="$T/agent-a1" --resources="cpus:2;mem:1024" >>"$T/agent-a1.log" 2>&1 &
AGENT_PID[a1]=$!
PIDS+=("${AGENT_PID[a1]}")
wait_agents 1
grep -q "cgroups: moved [0-9]* process(es) from /sys/fs/cgroup into /sys/fs/cgroup/init" "$T/agent-a1.log" ||
    fail "the agent did not move the namespace root's processes: $(grep -i cgroup "$T/agent-a1.log")"
grep -q "isolation: cgroups/cpu,cgroups/mem,cgroups/pids" "$T/agent-a1.log" ||
    fail "the agent has no cgroups isolators: $(grep isolation "$T/agent-a1.log")"
[ -d "$CG/init" ] && [ -n "$(cat "$CG/init/cgroup.procs")" ] || fail "nothing in $CG/init"
[ -z "$(cat "$CG/cgroup.procs")" ] || fail "the namespace root still holds processes"
log "agent in a cgroup namespace: root vacated into init, controllers enabled"

start_scheduler fw
expect_event 15 '.event == "subscribed"' "subscribed" >/dev/null
offer=$(expect_event 15 '.event == "offers"' "an offer" | jq -r '.offers[0].id')
send launch "$offer" limited "cpus:0.5;mem:32" 'sleep 1000'
expect_event 20 '.event == "update" and .task_id == "limited" and .state == "TASK_RUNNING"' \
    "the task running" >/dev/null
# The task's cgroup, seen from outside the namespace, has the limits.
mem=$(find "$CG" -path '*/agora/*' -name memory.max -exec cat {} + 2>/dev/null | grep -v max | head -1)
[ "$mem" = $((32 << 20)) ] || fail "the task's memory.max is '$mem', not $((32 << 20))"
cpu=$(find "$CG" -path '*/agora/*' -name cpu.max -exec cat {} + 2>/dev/null | grep -v '^max' | head -1)
[ "$cpu" = "50000 100000" ] || fail "the task's cpu.max is '$cpu', not '50000 100000'"
log "the task has memory.max $mem and cpu.max $cpu"
log "PASS"
