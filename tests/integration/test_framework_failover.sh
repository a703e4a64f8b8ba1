#!/usr/bin/env bash
# A framework that disconnects keeps its tasks for its failover_timeout: one that
# comes back in time finds them running; one that does not has them killed and
# is removed, and cannot resubscribe with its old id. TEARDOWN from an operator
# kills everything too.
. "$(dirname "$0")/lib.sh"

start_master --offer_timeout=2secs
start_agent a1
wait_agents 1

# Within the timeout.
start_scheduler f1 --failover_timeout=30
fw1=$(expect_event 10 '.event == "subscribed"' "f1" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "f1 offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" a "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "a" and .state == "TASK_RUNNING"' "a running" >/dev/null
kill -KILL "$SCHED_PID"
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.frameworks[0].connected == false'" ||
    fail "f1 still connected"
start_scheduler f1b --failover_timeout=30 --framework_id="$fw1"
[ "$(expect_event 10 '.event == "subscribed"' "f1 back" | jq -r .framework_id)" = "$fw1" ] || fail "another id"
send reconcile
expect_event 10 '.event == "update" and .task_id == "a" and .state == "TASK_RUNNING"' "a still running" >/dev/null
# Leave the rest of the agent to the next framework (its outstanding offer times out).
send suppress

# Past the timeout.
start_scheduler f2 --failover_timeout=1
fw2=$(expect_event 10 '.event == "subscribed"' "f2" | jq -r .framework_id)
ev=$(expect_event 15 '.event == "offers"' "f2 offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" b "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "b" and .state == "TASK_RUNNING"' "b running" >/dev/null
kill -KILL "$SCHED_PID"
wait_until 15 grep -Eq "TASK_KILLED .*task_id=b " "$T/agent-a1.log" || fail "b was not killed after the failover timeout"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '[.frameworks[] | select(.id == \"$fw2\")] | length == 0'" ||
    fail "f2 not removed"
start_scheduler f2b --framework_id="$fw2"
expect_event 10 '.event == "error" and (.message | test("removed"))' "old id refused" >/dev/null

# Operator teardown of f1: its task is killed.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "frameworkId=$fw1" "http://127.0.0.1:$MASTER_PORT/teardown")
[ "$code" = 200 ] || fail "teardown: HTTP $code"
wait_until 15 grep -Eq "TASK_KILLED .*task_id=a " "$T/agent-a1.log" || fail "a was not killed by the teardown"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "frameworkId=nope" "http://127.0.0.1:$MASTER_PORT/teardown")
[ "$code" = 404 ] || fail "teardown of an unknown framework: HTTP $code"
log "ok"
