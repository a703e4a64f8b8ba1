#!/usr/bin/env bash
# libagora-scheduler against a real master and agent, through agora-test-scheduler:
# subscribe and launch; the driver reconnects and resubscribes with its framework
# id after `kill -9` of the master; a new scheduler process resumes the framework
# with --framework_id and gets the unacknowledged update again (--no-auto-ack);
# explicit and helper reconciliation; kill; teardown ends the scheduler.
. "$(dirname "$0")/lib.sh"

start_master
start_agent a1
wait_agents 1

# --- first instance, updates acknowledged by hand
start_scheduler fw1 --failover_timeout=120 --checkpoint --no-auto-ack
sub=$(expect_event 10 '.event == "subscribed"' "subscription")
fid=$(jq -r .framework_id <<<"$sub")
[ "$(jq -r .resubscribed <<<"$sub")" = false ] || fail "first subscription marked as resubscription"
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(jq -r '.offers[0].id' <<<"$ev")
send "launch_json $offer {\"task_id\":\"sleeper\",\"resources\":\"cpus:0.1;mem:32\",\"cmd\":\"sleep 600\",\"env\":{\"A\":\"1\"},\"kill_grace_ms\":500}"
ev=$(expect_event 15 '.event == "update" and .task_id == "sleeper"' "first update of sleeper")
[ "$(jq -r .state <<<"$ev")" = TASK_STARTING ] || fail "expected TASK_STARTING first: $ev"
uuid=$(jq -r .uuid <<<"$ev")
agent=$(jq -r .agent_id <<<"$ev")
# Not acknowledged: the task's next update is held back by the agent.
if next_event 2 '.event == "update" and .task_id == "sleeper"' >/dev/null; then
    fail "an update arrived before the first one was acknowledged"
fi
send "ack sleeper $agent $uuid"
expect_event 15 '.event == "update" and .task_id == "sleeper" and .state == "TASK_RUNNING"' \
    "TASK_RUNNING after the ack" >/dev/null

# --- master restart: disconnected, then resubscribed with the same id
log "restarting the master"
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
expect_event 10 '.event == "disconnected"' "disconnection" >/dev/null
start_master
sub=$(expect_event 30 '.event == "subscribed"' "resubscription")
[ "$(jq -r .framework_id <<<"$sub")" = "$fid" ] || fail "resubscribed with another id: $sub"
[ "$(jq -r .resubscribed <<<"$sub")" = true ] || fail "resubscription not marked: $sub"
wait_agents 1
send "reconcile sleeper $agent"
ev=$(expect_event 15 '.event == "update" and .task_id == "sleeper" and .reason == "REASON_RECONCILIATION"' \
    "reconciliation answer")
[ "$(jq -r .state <<<"$ev")" = TASK_RUNNING ] || fail "sleeper not running after the restart: $ev"

# --- framework failover: a new process resumes the framework
send quit
wait "$SCHED_PID" || fail "scheduler did not exit cleanly on quit"
start_scheduler fw2 --framework_id="$fid" --failover_timeout=120
sub=$(expect_event 10 '.event == "subscribed"' "failover subscription")
[ "$(jq -r .framework_id <<<"$sub")" = "$fid" ] || fail "failover got another id: $sub"
send "reconcile_known sleeper $agent"
expect_event 15 '.event == "update" and .task_id == "sleeper"' "helper answer" >/dev/null
expect_event 15 '.event == "reconciled"' "helper completion" >/dev/null

# --- kill, then teardown ends the scheduler process
send "kill sleeper"
expect_event 15 '.event == "update" and .task_id == "sleeper" and .state == "TASK_KILLED"' \
    "TASK_KILLED" >/dev/null
send teardown
wait_until 10 bash -c "! kill -0 $SCHED_PID" || fail "scheduler still running after teardown"
wait "$SCHED_PID" || fail "scheduler exited with an error after teardown"
if master_json /state | jq -e --arg f "$fid" '.frameworks[] | select(.id == $f)' >/dev/null; then
    fail "framework still active after teardown"
fi
log "ok"
