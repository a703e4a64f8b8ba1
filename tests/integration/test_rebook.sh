#!/usr/bin/env bash
# A framework's running tasks stay allocated across everything that
# re-subscribes it or re-registers their agent: scheduler failover, master
# restart, agent restart, agent partition. Offers never hold what its tasks use, and the
# allocator's books equal the tasks' and offers' (GET /books). A framework
# removed after its failover timeout frees its tasks' resources.
. "$(dirname "$0")/lib.sh"
STOPPABLE=(setsid) # daemons are stopped with SIGSTOP below

books_ok() { master_json /books | jq -e '.consistent' >/dev/null; }
check_books() {
    wait_until 10 books_ok || fail "books differ ($1): $(master_json /books | jq -c .problems)"
}
# offer_cpus EVENT: the cpus of the event's first offer.
offer_cpus() { echo "$1" | jq -r '.offers[0].resources' | { grep -o 'cpus:[0-9.]*' || echo cpus:0; } | cut -d: -f2; }
# at_most A B: A <= B (decimals).
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b + 1e-9) }'; }
used_cpus() { master_json /agents | jq -r '.agents[0].used_resources.cpus // 0'; }

start_master --offer_timeout=30secs --agent_ping_timeout=500ms --max_agent_ping_timeouts=4
start_agent_with a1 "cpus:1;mem:256"
wait_agents 1

start_scheduler s1 --failover_timeout=300
fw=$(expect_event 10 '.event == "subscribed"' "subscribed" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "first offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.8;mem:128" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null
check_books "after the launch"

# 1. Scheduler failover: kill -9, the same framework id subscribes again.
kill -KILL "$SCHED_PID"
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.frameworks[0].connected == false'" ||
    fail "s1 still connected"
check_books "framework disconnected"
start_scheduler s1b --failover_timeout=300 --framework_id="$fw"
expect_event 10 '.event == "subscribed" and .resubscribed' "re-subscribed" >/dev/null
ev=$(expect_event 20 '.event == "offers"' "offer after the failover")
cpus=$(offer_cpus "$ev")
at_most "$cpus" 0.2 || fail "after a failover the agent running a 0.8 cpu task was offered cpus:$cpus of 1"
check_books "after the failover"
# Take the rest of its cpus and mem (disk and ports stay free).
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t2 "cpus:0.2;mem:128" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t2" and .state == "TASK_RUNNING"' "t2 running" >/dev/null
at_most "$(used_cpus)" 1 || fail "agent over-booked: $(used_cpus) of 1 cpus used"
check_books "agent full"

# 2. Master restart: the registry brings the framework back, the agent
# re-registers with its tasks, the scheduler's driver re-subscribes.
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master --offer_timeout=30secs --agent_ping_timeout=500ms --max_agent_ping_timeouts=4
wait_agents 1
expect_event 30 '.event == "subscribed" and .resubscribed' "re-subscribed after the master restart" >/dev/null
send revive
next_event 3 '.event == "offers" and ([.offers[].resources | test("cpus|mem")] | any)' >/dev/null &&
    fail "an agent with all its cpus and mem in use was offered some after the master restart"
at_most "$(used_cpus)" 1 || fail "agent over-booked after the master restart: $(used_cpus) of 1"
check_books "after the master restart"

# 3. Agent restart: it re-registers with both tasks.
kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.slaves[0].active == false'" ||
    fail "agent still active after kill -9"
start_agent_with a1 "cpus:1;mem:256"
wait_agents 1
send revive
next_event 3 '.event == "offers" and ([.offers[].resources | test("cpus|mem")] | any)' >/dev/null &&
    fail "an agent with all its cpus and mem in use was offered some after its restart"
check_books "after the agent restart"

# 4. Scheduler failover again, then it stays away past a short failover
# timeout: the framework is removed and the agent is entirely free again.
send kill t2
expect_event 10 '.event == "update" and .task_id == "t2" and .state == "TASK_KILLED"' "t2 killed" >/dev/null
ev=$(expect_event 20 '.event == "offers" and (.offers[0].resources | test("cpus"))' "offer of t2's resources")
cpus=$(offer_cpus "$ev")
at_most "$cpus" 0.2 || fail "offered cpus:$cpus while t1 (0.8) runs"
check_books "after a kill"
kill -KILL "$SCHED_PID"
start_scheduler s1c --failover_timeout=1 --framework_id="$fw"
expect_event 10 '.event == "subscribed"' "re-subscribed with a short failover timeout" >/dev/null
kill -KILL "$SCHED_PID"
wait_until 20 grep -Eq "TASK_KILLED .*task_id=t1 " "$T/agent-a1.log" || fail "t1 not killed after the failover timeout"
check_books "framework removed"
start_scheduler s2
expect_event 10 '.event == "subscribed"' "s2 subscribed" >/dev/null
ev=$(expect_event 20 '.event == "offers"' "offer to s2")
[ "$(offer_cpus "$ev")" = 1 ] || fail "the removed framework's task still holds resources: $(echo "$ev" | jq -c .offers)"
check_books "framework removed, new one"

# 5. Partition: the agent is silent long enough to be unreachable (its task is
# LOST to this framework), then comes back: the master kills the task, which
# stays booked until the agent confirms.
send launch "$(echo "$ev" | jq -r '.offers[0].id')" p1 "cpus:0.5;mem:64" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "p1" and .state == "TASK_RUNNING"' "p1 running" >/dev/null
kill -STOP "${AGENT_PID[a1]}"
expect_event 20 '.event == "update" and .task_id == "p1" and .state == "TASK_LOST"' "p1 lost" >/dev/null
check_books "agent unreachable"
kill -CONT "${AGENT_PID[a1]}"
wait_agents 1
wait_until 20 grep -Eq "TASK_KILLED .*task_id=p1 " "$T/agent-a1.log" || fail "p1 not killed after the partition"
check_books "after the partition"
# Once the kill is confirmed, all of the agent's cpus are offered (in one or more offers).
wait_until 20 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/agents | jq -e '.agents[0].offered_resources.cpus == 1'" ||
    fail "the agent's cpus are not all offered after the partition: $(master_json /agents | jq -c '.agents[0] | {used_resources, offered_resources}')"
check_books "end"
log "ok"
