#!/usr/bin/env bash
# Registration, offer, launch, status updates to FINISHED and FAILED, the task's
# sandbox output, /state consistency, and a decline with a filter.
. "$(dirname "$0")/lib.sh"

start_master
start_agent a1
wait_agents 1
start_scheduler fw1

ev=$(expect_event 10 '.event == "subscribed"' "subscription")
fwid=$(echo "$ev" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
agent=$(echo "$ev" | jq -r '.offers[0].agent_id')
[ "$(echo "$ev" | jq -r '.offers[0].hostname')" = a1 ] || fail "offer hostname"
echo "$ev" | jq -e '.offers[0].resources | test("cpus:4")' >/dev/null || fail "offer resources: $ev"

send launch "$offer" t1 "cpus:0.5;mem:64" 'echo hello from t1; sleep 0.5'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running"
# While it runs, /state shows it on the framework and the agent.
master_json /state | jq -e --arg f "$fwid" \
    '.frameworks[] | select(.id == $f) | .tasks[] | select(.id == "t1")' >/dev/null ||
    fail "t1 not in /state"
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_FINISHED"' "t1 finished"
grep -rq "hello from t1" "$T/agent-a1" || fail "t1's stdout not in its sandbox"

# Resources come back and are offered again (event-driven, no wait for a batch).
ev=$(expect_event 10 '.event == "offers"' "re-offer after t1")
offer=$(echo "$ev" | jq -r '.offers[0].id')

# A failing command ends FAILED with a message.
send launch "$offer" t2 "cpus:0.5;mem:64" 'exit 3'
ev=$(expect_event 10 '.event == "update" and .task_id == "t2" and .state == "TASK_FAILED"' "t2 failed")
echo "$ev" | jq -e '.message == "Command exited with status 3"' >/dev/null ||
    fail "t2 message should name the exit status: $ev"

# Completed tasks are listed.
wait_until 20 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/tasks | jq -e '[.tasks[] | select(.id == \"t1\" and .state == \"TASK_FINISHED\")] | length == 1'" ||
    fail "/tasks does not list t1 as finished"

# Decline with a long filter: the agent is not offered to this framework again.
ev=$(expect_event 10 '.event == "offers"' "offer to decline")
send decline "$(echo "$ev" | jq -r '.offers[0].id')" 3600
if next_event 3 '.event == "offers"' >/dev/null; then
    fail "offer came back despite a 3600 s filter"
fi
# Revive clears filters.
send revive
expect_event 10 '.event == "offers"' "offer after revive"
log "ok"
