#!/usr/bin/env bash
# An agent whose tasks hold more than its total (here: it comes back from a
# restart with fewer cpus than its running task uses) cannot be refused: the
# master admits it OVERCOMMITTED, says so (/agents allocator_state, metric,
# error log), offers what is still free on it (its memory) and none of what is
# over, and offers everything again once enough tasks ended.
. "$(dirname "$0")/lib.sh"

agent_field() { master_json /agents | jq -r ".agents[0].$1"; }

start_master
start_agent_with a1 "cpus:1;mem:1024;disk:100;ports:[31000-31009]"
wait_agents 1
start_scheduler s1
expect_event 10 '.event == "subscribed"' "subscribed" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.8;mem:128" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null
[ "$(agent_field allocator_state)" = OK ] || fail "allocator_state $(agent_field allocator_state) before the restart"

# The agent comes back with half a cpu while its task uses 0.8. (No offers
# meanwhile: only those made after it is back count below.)
send suppress
kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/agents | jq -e '.agents[0].active == false'" ||
    fail "agent still active after kill -9"
start_agent_with a1 "cpus:0.5;mem:1024;disk:100;ports:[31000-31009]"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/agents | jq -e '.agents[0].active and .agents[0].resources.cpus == 0.5'" ||
    fail "the agent did not come back with 0.5 cpus: $(master_json /agents | jq -c '.agents[0] | {active, resources}')"
wait_until 5 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/agents | jq -e '.agents[0].allocator_state == \"OVERCOMMITTED\"'" ||
    fail "an agent with 0.8 of 0.5 cpus in use is not shown OVERCOMMITTED: $(master_json /agents | jq -c '.agents[0]')"
[ "$(master_json /metrics/snapshot | jq '."master/agents_overcommitted"')" = 1 ] || fail "metric master/agents_overcommitted is not 1"
grep -q "ERROR master: agent .* runs more than its total" "$T/master.log" || fail "no error logged for the overcommitted agent"
master_json /books | jq -e .consistent >/dev/null || fail "books differ: $(master_json /books | jq -c .problems)"

# What is free (memory, disk, ports) is offered; no cpus are.
next_event 0 false || true # skip the events so far
send revive
ev=$(expect_event 15 '.event == "offers" and ([.offers[] | select(.hostname == "a1")] | length > 0)' "an offer from the overcommitted agent")
res=$(echo "$ev" | jq -r '.offers[] | select(.hostname == "a1") | .resources')
echo "$res" | grep -q 'mem:896' || fail "the free memory is not offered: $res"
echo "$res" | grep -q 'cpus' && fail "cpus offered on an agent with more cpus in use than it has: $res"
send decline "$(echo "$ev" | jq -r '.offers[0].id')" 0

# Once the task ends the agent is within its total and all of it is offered.
send kill t1
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_KILLED"' "t1 killed" >/dev/null
ev=$(expect_event 15 '.event == "offers" and ([.offers[] | select(.hostname == "a1") | .resources | test("cpus:0.5")] | any)' "the whole agent offered again")
wait_until 5 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/agents | jq -e '.agents[0].allocator_state == \"OK\"'" ||
    fail "allocator_state $(agent_field allocator_state) after the task ended"
[ "$(master_json /metrics/snapshot | jq '."master/agents_overcommitted"')" = 0 ] || fail "metric master/agents_overcommitted is not 0"
master_json /books | jq -e .consistent >/dev/null || fail "books differ at the end: $(master_json /books | jq -c .problems)"
log "ok"
