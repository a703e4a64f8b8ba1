#!/usr/bin/env bash
# Containers built from cgroups and namespaces (docs/isolation.md): a memory
# hog ends TASK_FAILED with the memory reason; a fork bomb (one that keeps
# trying, so it is there to be checked however slow the machine) is held at
# the pids limit while the host stays fine; a task sees only its own processes and its
# own hostname; "network": "none" leaves only loopback; a busy loop with
# cpus:0.5 is held to half a core; no resize on the agent behind the master; a task
# that forks daemons leaves nothing behind when killed; cgroups are removed;
# sandboxes of finished tasks are garbage-collected after --gc_delay.
. "$(dirname "$0")/lib.sh"
require_root

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}

# stat_of TASK FIELD: a field of TASK's statistics in /monitor/statistics.
stat_of() {
    agent_json /monitor/statistics | jq -r --arg t "$1" ".[] | select(.executor_id == \$t) | .statistics | $2"
}

task_dir() {
    agent_json /state | jq -r --arg t "$1" \
        '[.frameworks[].executors[] | select(.id == $t) | .directory][0] // empty'
}

# Events are matched in any order here: saw_event FILTER (any event so far),
# wait_event SECONDS FILTER WHAT, event_of FILTER (the last matching one).
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

# The agent's cgroup roots (one per hierarchy).
cg_roots() {
    cat "$T/agent-a1/meta/cgroups"
}

# Number of container groups under the agent's roots.
cg_count() {
    local n=0 r g
    for r in $(cg_roots); do
        for g in "$r"/*/; do [ -d "$g" ] && n=$((n + 1)); done
    done
    echo "$n"
}

start_master
start_agent a1 --container_pids_max=32 --executor_shutdown_grace_period=1secs --gc_delay=3secs
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
[ "$(agent_json /state | jq -r .isolation)" != posix ] || fail "the agent runs without isolation"
log "isolation: $(agent_json /state | jq -r '.isolation + " (" + .cgroup_layout + ")"')"
[ -s "$T/agent-a1/meta/cgroups" ] || fail "the agent did not record its cgroup roots"
start_scheduler fw1
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')

tasks=$(jq -c . <<'JSON'
[
 {"task_id":"hog","resources":"cpus:0.1;mem:32","cmd":"dd if=/dev/zero of=/dev/null bs=256M count=1; sleep 60"},
 {"task_id":"bomb","resources":"cpus:0.2;mem:128","cmd":"exec /usr/bin/python3 -c 'import os, sys, time\nwhile True:\n    try:\n        if os.fork() == 0:\n            time.sleep(1000)\n            os._exit(0)\n    except OSError as e:\n        print(\"fork:\", e, file=sys.stderr, flush=True)\n        time.sleep(0.05)'"},
 {"task_id":"ps","resources":"cpus:0.1;mem:32","cmd":"ps -e -o pid=,comm= > ps.out; hostname > hostname.out; sleep 60"},
 {"task_id":"busy","resources":"cpus:0.5;mem:32","cmd":"while :; do :; done"},
 {"task_id":"daemons","resources":"cpus:0.1;mem:32","cmd":"setsid sh -c \"exec sleep 7771\" & (sleep 7772 &); nohup sleep 7773 >/dev/null 2>&1 & sleep 7770"},
 {"task_id":"nonet","resources":"cpus:0.1;mem:32","network":"none","cmd":"cat /proc/net/dev > net.out; sleep 60"},
 {"task_id":"nobody","resources":"cpus:0.1;mem:32","user":"nobody","cmd":"id -u > uid.out; grep CapEff /proc/self/status > caps.out; sleep 60"}
]
JSON
)
send launch_json "$offer" "$tasks"
for t in bomb ps busy daemons nonet nobody; do
    wait_event 15 "$(update_is $t TASK_RUNNING)" "$t running"
done

# Memory: the hog is killed and reported with the memory reason.
wait_event 15 "$(update_is hog TASK_FAILED)" "hog failed"
ev=$(event_of "$(update_is hog TASK_FAILED)")
echo "$ev" | jq -e '.reason == "REASON_CONTAINER_LIMITATION_MEMORY"' >/dev/null ||
    fail "hog: wrong reason: $ev"
echo "$ev" | jq -e '.message | test("Memory limit exceeded")' >/dev/null || fail "hog: message: $ev"
fid=$(agent_json /state | jq -r '.frameworks[0].id')
sbx="$T/agent-a1/sandboxes/$fid"
[ -f "$sbx/hog/stdout" ] || fail "hog's sandbox is gone at once"

# pid and uts namespaces: only its own processes, its own hostname.
dir=$(task_dir ps)
wait_until 10 test -s "$dir/hostname.out" || fail "ps did not write its output"
[ "$(cat "$dir/hostname.out")" = ps ] || fail "hostname in the task: $(cat "$dir/hostname.out")"
n=$(wc -l <"$dir/ps.out")
[ "$n" -le 4 ] || fail "the task sees $n processes: $(cat "$dir/ps.out")"
awk '$1 == 1' "$dir/ps.out" | grep -q . || fail "no pid 1 in the task's namespace: $(cat "$dir/ps.out")"
! grep -q agora-agent "$dir/ps.out" || fail "the task sees the agent"

# The task's user, with its sandbox given to it and no capabilities left.
dir=$(task_dir nobody)
wait_until 10 test -s "$dir/caps.out" || fail "nobody did not write its output"
[ "$(cat "$dir/uid.out")" = "$(id -u nobody)" ] || fail "the task runs as uid $(cat "$dir/uid.out")"
grep -q "0000000000000000" "$dir/caps.out" || fail "the task kept capabilities: $(cat "$dir/caps.out")"

# network none: only loopback.
dir=$(task_dir nonet)
wait_until 10 test -s "$dir/net.out" || fail "nonet did not write its output"
ifaces=$(tail -n +3 "$dir/net.out" | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')
[ "$ifaces" = "lo " ] || fail "network none: interfaces '$ifaces'"

# cpus:0.5 holds a busy loop to half a core: over 3 s it uses no more (a
# quota; on a busy machine it may get less, so there is no lower bound), and
# it was throttled, so it did reach the quota.
c0=$(stat_of busy '(.cpus_user_time_secs + .cpus_system_time_secs)')
t0=$(date +%s.%N)
sleep 3
c1=$(stat_of busy '(.cpus_user_time_secs + .cpus_system_time_secs)')
t1=$(date +%s.%N)
share=$(echo "($c1 - $c0) / ($t1 - $t0)" | bc -l)
log "busy loop with cpus:0.5 used $share of a core"
[ "$(echo "$share > 0 && $share < 0.6" | bc -l)" = 1 ] || fail "busy loop got $share of a core"
[ "$(echo "$(stat_of busy .cpus_throttled_time_secs) > 0" | bc -l)" = 1 ] || fail "no throttling seen"
[ "$(stat_of busy .cpus_limit)" = 0.5 ] || fail "cpus_limit $(stat_of busy .cpus_limit)"
[ "$(stat_of busy .mem_limit_bytes)" = $((32 << 20)) ] || fail "mem_limit_bytes $(stat_of busy .mem_limit_bytes)"
# 512 shares for cpus:0.5 on both layouts (v2 keeps a cpu.weight, 20, that stands for 501-526).
[ "$(stat_of busy .cpus_shares)" = 512 ] || fail "cpus_shares $(stat_of busy .cpus_shares), not 512"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    [ "$(stat_of busy .cpus_weight)" = 20 ] || fail "cpus_weight $(stat_of busy .cpus_weight), not 20"
fi

# No resize behind the master's back: the agent's old /containers/update is gone.
update='{"framework_id":"'$fid'","task_id":"busy","cpus":1.5,"mem":64}'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$update" \
    "http://127.0.0.1:${AGENT_PORT[a1]}/containers/update")
[ "$code" = 404 ] || fail "POST /containers/update gave $code"
[ "$(stat_of busy .cpus_limit)" = 0.5 ] && [ "$(stat_of busy .mem_limit_bytes)" = $((32 << 20)) ] ||
    fail "the task's limits changed"

# The fork bomb stays at the pids limit; the host is fine.
bomb_at_limit() {
    [ "$(stat_of bomb .processes)" -ge 24 ] && grep -q "fork" "$(task_dir bomb)/stderr"
}
wait_until 30 bomb_at_limit || fail "the fork bomb never hit the limit: $(stat_of bomb .processes) processes; $(grep 'task_id=bomb' "$T/agent-a1.log" | tail -2); stderr: $(find "$T/agent-a1" -path '*bomb*' -name stderr -exec tail -3 {} +)"
p=$(stat_of bomb .processes)
[ "$p" -le 32 ] || fail "the fork bomb has $p processes (limit 32)"
curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/health" >/dev/null || fail "the agent does not answer"
# The host starts more processes than the container may have (64 > 32) while
# the bomb runs: the limit is the container's only.
# (In a shell of its own: it signals its children, which must not run this
# test's traps.)
alive=$(bash -c 'pids=()
    for i in $(seq 64); do sleep 60 & pids+=($!); done
    n=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
    kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null
    echo "$n"') || fail "the host could not fork while the fork bomb ran"
[ "$alive" = 64 ] || fail "the host started $alive of 64 processes while the fork bomb ran"
p=$(stat_of bomb .processes)
[ "$p" -le 32 ] || fail "the fork bomb has $p processes (limit 32)"

# Kill: daemons forked by the task die with it.
[ -n "$(agent_procs "$agent_id" 'sleep 777[123]')" ] || fail "the daemons did not start"
send kill daemons "$agent_id"
wait_event 10 "$(update_is daemons TASK_KILLED)" "daemons killed"
daemons_gone() { [ -z "$(agent_procs "$agent_id" 'sleep 777[0123]')" ]; }
wait_until 20 daemons_gone || fail "daemons survived: $(agent_procs "$agent_id" 'sleep 777' | xargs -r ps -o pid=,args= -p)"

# Everything killed: no process and no cgroup left.
for t in bomb ps busy nonet nobody; do send kill "$t" "$agent_id"; done
for t in bomb ps busy nonet nobody; do
    wait_event 15 "$(update_is $t TASK_KILLED)" "$t killed"
done
wait_until 10 test "$(cg_count)" = 0 || fail "cgroups left: $(for r in $(cg_roots); do ls -d "$r"/*/ 2>/dev/null; done)"

# GC: the finished tasks' sandboxes go after --gc_delay (3 s).
wait_until 15 test ! -e "$sbx/hog" || fail "hog's sandbox was not garbage-collected"
wait_until 10 test ! -e "$sbx" || fail "the framework's sandbox directory stays"
log "ok"
