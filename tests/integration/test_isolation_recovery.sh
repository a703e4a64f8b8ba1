#!/usr/bin/env bash
# Containers across an agent restart: after `kill -9` of the agent, tasks in
# containers (in a busybox image, in test_isolation_recovery_image.sh) keep
# running and their updates keep flowing;
# a task that went over its memory while the agent was down is reported
# TASK_FAILED with the memory reason; one that exited is reported with its
# status; cgroups of finished containers and orphan groups are removed; a kill
# after the restart still takes the whole container down. The agent keeps its
# containers' metadata in a --runtime_dir on a tmpfs, as recommended, so the
# recovery reads it from there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/images.sh"
require_root

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}
saw_event() {
    jq -e -s "any(.[]; $1)" "$T/sched-$SCHED_NAME.events" >/dev/null 2>&1
}
wait_event() {
    wait_until "$1" saw_event "$2" || fail "no event matching '$2' within $1 s ($3)"
}
event_of() {
    jq -c -s "[.[] | select($1)] | last" "$T/sched-$SCHED_NAME.events"
}
update_is() { # TASK STATE
    echo ".event == \"update\" and .task_id == \"$1\" and .state == \"$2\""
}
task_field() {
    agent_json /state | jq -r --arg t "$1" \
        "[.frameworks[].executors[], .frameworks[].completed_executors[]] | .[].tasks[], .[].completed_tasks[] | select(.id == \$t) | $2" |
        head -1
}
cg_groups() {
    local r
    for r in $(cat "$T/agent-a1/meta/cgroups"); do ls -d "$r"/*/ 2>/dev/null || true; done
}

# test_isolation_recovery_image.sh runs every task in a busybox image.
image=""
if [ "${RECOVERY_IMAGE:-0}" = 1 ]; then
    require_busybox
    make_rootfs_tar "$T/rootfs.tar"
    image=$T/rootfs.tar
fi

start_master
start_agent a1 --status_update_retry_interval=500ms --executor_shutdown_grace_period=1secs \
    --runtime_dir="$RT_PREFIX-a1"
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
start_scheduler fw1
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
# oomlater and exitlater wait for a file "go" in their sandbox, given once the
# agent is down.
tasks=$(jq -c --arg img "$image" '[
  {task_id: "long", resources: "cpus:0.1;mem:64", cmd: "sleep 8881 & sleep 8882"},
  {task_id: "oomlater", resources: "cpus:0.1;mem:32",
   cmd: "while [ ! -e go ]; do sleep 0.1; done; dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 60"},
  {task_id: "exitlater", resources: "cpus:0.1;mem:32", cmd: "while [ ! -e go ]; do sleep 0.1; done; exit 3"}
] | map(if $img == "" then . else . + {image: $img} end)' <<<'null')
send launch_json "$offer" "$tasks"
running=(long oomlater exitlater)
for t in "${running[@]}"; do wait_event 20 "$(update_is $t TASK_RUNNING)" "$t running"; done
n=$(ls "$RT_PREFIX-a1/containers" | wc -l)
[ "$n" = "${#running[@]}" ] || fail "expected ${#running[@]} containers in --runtime_dir, found $n"
[ -z "$(ls "$T/agent-a1/meta/containers")" ] || fail "container metadata in the work directory"
long_pid=$(task_field long .pid)
exit_pid=$(task_field exitlater .pid)
oom_pid=$(task_field oomlater .pid)
oom_dir=$(task_field oomlater .directory)
exit_dir=$(task_field exitlater .directory)
[ -d "$oom_dir" ] && [ -d "$exit_dir" ] || fail "no sandboxes: '$oom_dir' '$exit_dir'"
if [ -n "$image" ]; then
    [ -e "/proc/$long_pid/root/etc/image-marker" ] || fail "long does not run in the image"
fi

# kill -9 the agent; a stray group appears under its root meanwhile.
kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
log "agent killed"
mem_root=$(grep /memory/ "$T/agent-a1/meta/cgroups" || head -1 "$T/agent-a1/meta/cgroups")
mkdir "$mem_root/stray-orphan"
# While it is down, oomlater goes over its memory (its executor ends the
# container) and exitlater exits.
touch "$oom_dir/go" "$exit_dir/go"
wait_until 30 eval '! kill -0 "$oom_pid" 2>/dev/null' || fail "oomlater did not end while the agent was down"
wait_until 30 eval '! kill -0 "$exit_pid" 2>/dev/null' || fail "exitlater did not exit while the agent was down"
kill -0 "$long_pid" || fail "long died with the agent"
start_agent a1 --status_update_retry_interval=500ms --executor_shutdown_grace_period=1secs \
    --runtime_dir="$RT_PREFIX-a1"
wait_event 20 "$(update_is oomlater TASK_FAILED)" "oomlater's end after the restart"
ev=$(event_of "$(update_is oomlater TASK_FAILED)")
echo "$ev" | jq -e '.reason == "REASON_CONTAINER_LIMITATION_MEMORY"' >/dev/null || fail "oomlater: $ev"
wait_event 20 "$(update_is exitlater TASK_FAILED)" "exitlater's end after the restart"
event_of "$(update_is exitlater TASK_FAILED)" | jq -e '.message | test("status 3")' >/dev/null ||
    fail "exitlater's message"
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].id')" = "$agent_id" ] || fail "another agent id"
[ "$(task_field long .state)" = TASK_RUNNING ] || fail "long is not running after the restart"
[ "$(task_field long .pid)" = "$long_pid" ] || fail "long has another pid"
[ ! -d "$mem_root/stray-orphan" ] || fail "the orphan group was not removed"
# Statistics still come from the recovered containers' cgroups.
agent_json /monitor/statistics | jq -e '[.[] | select(.executor_id == "long") | .statistics.processes] | .[0] >= 3' >/dev/null ||
    fail "no cgroup statistics for long after the restart"

# Kill after the restart: the whole container goes.
send kill long "$agent_id"
wait_event 15 "$(update_is long TASK_KILLED)" "long killed"
wait_until 20 sh -c "! kill -0 $long_pid 2>/dev/null" || fail "long survived"
[ -z "$(agent_procs "$agent_id" 'sleep 888[12]')" ] ||
    fail "a process of long survived: $(agent_procs "$agent_id" 'sleep 888[12]' | xargs -r ps -o pid=,args= -p)"
wait_until 10 test -z "$(cg_groups)" || fail "cgroups left: $(cg_groups)"
! grep -q "$T" /proc/self/mountinfo || fail "mounts left behind"
wait_until 10 test -z "$(ls "$RT_PREFIX-a1/containers")" ||
    fail "container metadata left in --runtime_dir: $(ls "$RT_PREFIX-a1/containers")"
log "ok"
