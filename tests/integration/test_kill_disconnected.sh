#!/usr/bin/env bash
# A kill asked for while the task's agent is disconnected is remembered by the
# master and sent when the agent re-registers (as Mesos does): the task's
# process is gone and the framework hears TASK_KILLED, with no retry from the
# framework.
. "$(dirname "$0")/lib.sh"

agent_task_pid() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[$1]}/state" |
        jq -r --arg t "$2" '.frameworks[].executors[].tasks[] | select(.id == $t) | .pid'
}

start_master
start_agent a1
wait_agents 1
start_scheduler s --failover_timeout=300 --partition_aware
expect_event 10 '.event == "subscribed"' "subscribed" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null
pid=$(agent_task_pid a1 t1)
[ -n "$pid" ] && kill -0 "$pid" || fail "no process for t1"

kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
wait_until 20 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.slaves[0].active == false'" ||
    fail "agent still active after kill -9"
send kill t1
# The framework hears where the task stands (the master's answer to a kill it
# cannot deliver now); then the agent comes back.
expect_event 10 '.event == "update" and .task_id == "t1"' "the master's answer to the kill" >/dev/null
kill -0 "$pid" || fail "t1 died with its agent: the test proves nothing"

start_agent a1
wait_agents 1
expect_event 20 '.event == "update" and .task_id == "t1" and .state == "TASK_KILLED"' "t1 killed once its agent is back" >/dev/null
wait_until 10 sh -c "! kill -0 $pid" || fail "t1's process (pid $pid) still runs"
master_json /books | jq -e .consistent >/dev/null || fail "books differ: $(master_json /books | jq -c .problems)"
log "ok: the kill held while the agent was away reached it when it came back"
