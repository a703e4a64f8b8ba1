#!/usr/bin/env bash
# Explicit reconciliation of a task whose agent the restarted master has
# recovered from its registry but which has not re-registered yet: the master
# gives no answer (as Mesos drops reconciliation on transitional agents), so a
# framework that reconciles until it knows waits and then hears TASK_RUNNING
# once the agent is back. An answer of TASK_UNKNOWN at that point would make
# the framework give the running task up (agora-services marked it
# unreachable after `agora cluster down --keep_tasks` and `up`).
. "$(dirname "$0")/lib.sh"
STOPPABLE=(setsid) # daemons are stopped with SIGSTOP below

start_master
start_agent a1
wait_agents 1
agent=$(master_json /state | jq -r '.slaves[0].id')

start_scheduler s --failover_timeout=300 --partition_aware --checkpoint
fw=$(expect_event 10 '.event == "subscribed"' "subscribed" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null

# The agent cannot re-register (stopped) while the master restarts.
kill -STOP "${AGENT_PID[a1]}"
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master
master_json /state | jq -e --arg a "$agent" '[.slaves[] | select(.id == $a and .active == false)] | length == 1' >/dev/null ||
    fail "the restarted master does not list the agent as recovered: $(master_json /state | jq -c .slaves)"
sub=$(expect_event 20 '.event == "subscribed" and .resubscribed' "the framework back on the restarted master")
[ "$(echo "$sub" | jq -r .framework_id)" = "$fw" ] || fail "resubscribed as another framework: $sub"

# Reconcile until known: while the agent is away, no answer may come. The
# driver retries each second; three retries unanswered is the evidence.
ev0=$(wc -l <"$T/sched-s.events")
log0=$(grep -c 'reconciling' "$T/sched-s.log" || true)
answered() { tail -n +$((ev0 + 1)) "$T/sched-s.events" | grep -q '"task_id":"t1"'; }
retried() { [ "$(grep -c 'reconciling' "$T/sched-s.log")" -ge $((log0 + 3)) ]; }
send reconcile_known t1 "$agent"
wait_until 20 sh -c "ev0=$ev0 log0=$log0 T=$T; $(declare -f answered retried); answered || retried" ||
    fail "the scheduler neither retried its reconciliation nor heard an answer: $(tail -5 "$T/sched-s.log")"
if next_event 0 '.event == "update" and .task_id == "t1"' >"$T/early"; then
    fail "answered while the agent has not re-registered: $(cat "$T/early")"
fi
kill -CONT "${AGENT_PID[a1]}"
wait_agents 1
expect_event 20 '.event == "update" and .task_id == "t1"' "t1 reconciled after the agent came back" |
    jq -e '.state == "TASK_RUNNING"' >/dev/null || fail "t1 is not TASK_RUNNING after its agent came back"
expect_event 10 '.event == "reconciled"' "reconciliation complete" >/dev/null
log "ok: no answer while the agent was recovering, TASK_RUNNING once it was back"
