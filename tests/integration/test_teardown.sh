#!/usr/bin/env bash
# Operator teardown (POST /teardown): a connected framework hears a fatal
# "Framework removed" error and its driver stops; its id cannot subscribe
# again; it is listed in completed_frameworks. A task of a torn-down framework
# on an agent that was disconnected at teardown time is an orphan: killed
# when the agent comes back (its process is gone), counted and logged.
# Explicit reconciliation of a task on an unknown agent answers TASK_UNKNOWN.
. "$(dirname "$0")/lib.sh"

agent_task_pid() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[$1]}/state" |
        jq -r --arg t "$2" '.frameworks[].executors[].tasks[] | select(.id == $t) | .pid'
}
teardown() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "frameworkId=$1" "http://127.0.0.1:$MASTER_PORT/teardown")
    [ "$code" = 200 ] || fail "teardown of $1: HTTP $code"
}

start_master --max_completed_frameworks=1
start_agent a1
wait_agents 1

# --- A connected framework is told.
start_scheduler s1 --failover_timeout=300 --partition_aware
fw1=$(expect_event 10 '.event == "subscribed"' "s1 subscribed" | jq -r .framework_id)
s1_pid=$SCHED_PID
ev=$(expect_event 10 '.event == "offers"' "s1 offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null

# Explicit reconciliation: a task on an agent nobody knows is TASK_UNKNOWN.
send reconcile ghost no-such-agent
expect_event 10 '.event == "update" and .task_id == "ghost"' "reconciliation answer" |
    jq -e '.state == "TASK_UNKNOWN"' >/dev/null || fail "a task on an unknown agent is not TASK_UNKNOWN"

teardown "$fw1"
ev=$(expect_event 10 '.event == "error"' "an error event after the teardown")
echo "$ev" | jq -e '.fatal and (.message | test("Framework removed"))' >/dev/null ||
    fail "the teardown error is not a fatal 'Framework removed': $ev"
wait_until 10 sh -c "! kill -0 $s1_pid" || fail "the scheduler's driver did not stop after the teardown"
rc=0
wait "$s1_pid" || rc=$?
[ "$rc" = 1 ] || fail "the scheduler exited $rc after a fatal error (expected 1)"
wait_until 15 grep -Eq "TASK_KILLED .*task_id=t1 " "$T/agent-a1.log" || fail "t1 was not killed by the teardown"
master_json /state | jq -e --arg f "$fw1" '[.completed_frameworks[] | select(.id == $f and .active == false)] | length == 1' >/dev/null ||
    fail "the torn-down framework is not in completed_frameworks: $(master_json /state | jq -c .completed_frameworks)"
master_json /frameworks | jq -e --arg f "$fw1" '[.completed_frameworks[].id] == [$f]' >/dev/null ||
    fail "/frameworks completed_frameworks: $(master_json /frameworks | jq -c '[.completed_frameworks[].id]')"

# Its id cannot subscribe again.
start_scheduler s1b --framework_id="$fw1"
expect_event 10 '.event == "error" and .fatal and (.message | test("removed"))' "the torn-down id refused" >/dev/null
wait_until 10 sh -c "! kill -0 $SCHED_PID" || fail "the refused scheduler still runs"
master_json /state | jq -e --arg f "$fw1" '[.frameworks[] | select(.id == $f)] | length == 0' >/dev/null ||
    fail "the torn-down id subscribed again"

# --- A task on an agent disconnected at teardown time.
start_scheduler s2 --failover_timeout=300
fw2=$(expect_event 10 '.event == "subscribed"' "s2 subscribed" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "s2 offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" o1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "o1" and .state == "TASK_RUNNING"' "o1 running" >/dev/null
o1_pid=$(agent_task_pid a1 o1)
[ -n "$o1_pid" ] && kill -0 "$o1_pid" || fail "no process for o1"
kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.slaves[0].active == false'" ||
    fail "agent still active after kill -9"
teardown "$fw2"
kill -0 "$o1_pid" || fail "o1 died with its agent: the test proves nothing"
start_agent a1
wait_agents 1
wait_until 20 sh -c "! kill -0 $o1_pid" || fail "the orphan task o1 still runs after its agent came back"
grep -q "killing orphan task $fw2/o1" "$T/master.log" || fail "the orphan kill is not logged"
[ "$(master_json /metrics/snapshot | jq '."master/orphan_tasks_killed"')" = 1 ] || fail "metric master/orphan_tasks_killed is not 1"
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.orphan_tasks == []'" ||
    fail "orphan task still listed: $(master_json /state | jq -c .orphan_tasks)"
master_json /books | jq -e .consistent >/dev/null || fail "books differ: $(master_json /books | jq -c .problems)"
# --max_completed_frameworks=1: only the latest is kept.
master_json /state | jq -e --arg f "$fw2" '[.completed_frameworks[].id] == [$f]' >/dev/null ||
    fail "completed_frameworks not bounded: $(master_json /state | jq -c '[.completed_frameworks[].id]')"
log "ok"
