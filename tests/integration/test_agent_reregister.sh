#!/usr/bin/env bash
# The agent across a silent master (SIGSTOP: like a network cut), status
# updates retried until acknowledged, and an agent the master removed: it kills
# its tasks, forgets its id and registers anew.
. "$(dirname "$0")/lib.sh"
STOPPABLE=(setsid) # daemons are stopped with SIGSTOP below

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}

# Pings every second; the agent redials after 5 missed ones (AGENT_MISSED_PINGS).
PING_S=1
start_master --agent_ping_timeout=${PING_S}secs --max_agent_ping_timeouts=4 --agent_reregister_timeout=4secs
start_agent a1 --status_update_retry_interval=300ms
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
start_scheduler fw1 --no-auto-ack

expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'

# Without acknowledgements the agent keeps resending TASK_STARTING (only the
# head of the stream is in flight): the framework sees it several times.
for i in 1 2 3; do
    ev=$(expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_STARTING"' "STARTING #$i")
done
uuid=$(echo "$ev" | jq -r .uuid)
next_event 1 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' >/dev/null &&
    fail "TASK_RUNNING sent before TASK_STARTING was acknowledged"
[ "$(agent_json /state | jq .unacknowledged_updates)" = 2 ] || fail "expected 2 pending updates"
send ack t1 "$agent_id" "$uuid"
ev=$(expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "RUNNING after the ack")
send ack t1 "$agent_id" "$(echo "$ev" | jq -r .uuid)"
send ack t1 "$agent_id" "$uuid" # a duplicate acknowledgement is harmless
wait_until 20 sh -c "curl -sf http://127.0.0.1:${AGENT_PORT[a1]}/state | jq -e '.unacknowledged_updates == 0'" ||
    fail "updates still pending after the acks"

# The master goes silent until the agent notices (5 missed pings) and redials;
# it re-registers with the same id when the master answers again.
kill -STOP "$MASTER_PID"
wait_until $((5 * PING_S + 20)) grep -q "reconnecting to the master" "$T/agent-a1.log" ||
    { kill -CONT "$MASTER_PID"; fail "the agent did not notice the silence"; }
kill -CONT "$MASTER_PID"
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].id')" = "$agent_id" ] || fail "another id after the cut"
[ "$(agent_json /state | jq -r .connection)" = REGISTERED ] || fail "agent not registered after the cut"

# The agent stays away longer than --agent_reregister_timeout: the master
# removes it; when it comes back it kills its tasks and registers anew.
t1_pid=$(agent_json /state | jq -r '.frameworks[].executors[].tasks[] | select(.id == "t1") | .pid')
kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
wait_until 30 grep -q "agent removed agent_id=$agent_id" "$T/master.log" || fail "the master did not remove the agent"
start_agent a1 --status_update_retry_interval=300ms
wait_until 20 grep -q "registering as a new agent" "$T/agent-a1.log" || fail "no reset"
wait_until 20 sh -c "curl -sf http://127.0.0.1:${AGENT_PORT[a1]}/state | jq -e '.connection == \"REGISTERED\"'" ||
    fail "not registered after the reset"
new_id=$(agent_json /state | jq -r .id)
[ "$new_id" != "$agent_id" ] || fail "the agent kept its removed id"
wait_until 10 sh -c "! kill -0 $t1_pid" || fail "the task of the removed agent survived"
[ "$(agent_json /state | jq '.frameworks | length')" = 0 ] || fail "tasks left after the reset"
log "ok"
