#!/usr/bin/env bash
# A bad task gets TASK_ERROR naming the problem; good tasks in the same ACCEPT
# still run; unknown offers give TASK_DROPPED; hostile bytes do not hurt the master.
. "$(dirname "$0")/lib.sh"

start_master
start_agent a1
wait_agents 1
start_scheduler fw1
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')

# Too large for the offer.
send launch "$offer" big "cpus:400;mem:64" 'true'
ev=$(expect_event 10 '.event == "update" and .task_id == "big"' "big refused")
[ "$(echo "$ev" | jq -r .state)" = TASK_ERROR ] || fail "big: expected TASK_ERROR: $ev"
echo "$ev" | jq -e '.message | test("more than the offers")' >/dev/null || fail "big: message: $ev"

ev=$(expect_event 10 '.event == "offers"' "offer after refusal")
offer=$(echo "$ev" | jq -r '.offers[0].id')
# The library refuses an invalid id before it reaches the master.
send launch_json "$offer" '{"task_id": "bad/id", "resources": "cpus:0.1;mem:16", "cmd": "true"}'
expect_event 10 '.event == "error" and (.message | test("bad/id"))' "library refuses bad id" >/dev/null
# Two tasks that together need more than the offer: the first runs, the second is refused.
send launch_json "$offer" '[{"task_id": "good", "resources": "cpus:3;mem:16", "cmd": "sleep 30"}, {"task_id": "second", "resources": "cpus:3;mem:16", "cmd": "true"}]'
ev=$(expect_event 10 '.event == "update" and .task_id == "second"' "second refused")
[ "$(echo "$ev" | jq -r .state)" = TASK_ERROR ] || fail "second: expected TASK_ERROR: $ev"
expect_event 10 '.event == "update" and .task_id == "good" and .state == "TASK_RUNNING"' "good runs" >/dev/null

# Duplicate task id.
ev=$(expect_event 10 '.event == "offers"' "offer for duplicate")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" good "cpus:0.1;mem:16" 'true'
ev=$(expect_event 10 '.event == "update" and .task_id == "good" and .state == "TASK_ERROR"' "duplicate refused")
echo "$ev" | jq -e '.message | test("already used")' >/dev/null || fail "duplicate: $ev"

# An unknown offer.
send launch no-such-offer t9 "cpus:0.1;mem:16" 'true'
expect_event 10 '.event == "update" and .task_id == "t9" and .state == "TASK_DROPPED"' "unknown offer" >/dev/null

# Garbage on the message port and on HTTP: the master stays up, state unchanged.
before=$(master_json /state | jq -c '[(.slaves | length), (.frameworks | length)]')
head -c 4096 /dev/urandom | curl -s -o /dev/null -X POST --data-binary @- "http://127.0.0.1:$MASTER_PORT/agora/v1/stream" || true
(head -c 65536 /dev/urandom >/dev/tcp/127.0.0.1/$MASTER_PORT) 2>/dev/null || true
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{bad json' "http://127.0.0.1:$MASTER_PORT/quota")
[ "$code" = 400 ] || fail "bad JSON to /quota: HTTP $code"
curl -sf "http://127.0.0.1:$MASTER_PORT/health" >/dev/null || fail "master died"
after=$(master_json /state | jq -c '[(.slaves | length), (.frameworks | length)]')
[ "$before" = "$after" ] || fail "state changed: $before -> $after"
master_json /tasks | jq -e '[.tasks[] | select(.id == "good" and .state == "TASK_RUNNING")] | length == 1' >/dev/null ||
    fail "good task lost"
log "ok"
