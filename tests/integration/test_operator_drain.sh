#!/usr/bin/env bash
# Operator operations take effect at once: with a periodic allocation pass an
# hour apart, a reservation made over HTTP is offered within seconds. Drain:
# a drained agent gets no new offers (its outstanding ones are rescinded) while
# its tasks keep running; the drain survives a master restart (it is in the
# registry); undrain offers it again at once.
. "$(dirname "$0")/lib.sh"

start_master --allocation_interval=1hrs
start_agent a1
wait_agents 1
agent_id=$(master_json /slaves | jq -r '.slaves[0].id')
url="http://127.0.0.1:$MASTER_PORT"

start_scheduler webfw --role=web
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
# A filter of 1 s: the decline alone brings no re-offer, and once it expires
# only an allocation pass would offer the agent again.
send decline "$(echo "$ev" | jq -r '[.offers[].id] | join(",")')" 1
sleep 2
if next_event 1 '.event == "offers"' >/dev/null; then
    fail "offered again without an allocation pass"
fi

# Reserve: the reservation is offered at once (not at the next periodic pass).
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -d "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):1;mem(web):64\"}" "$url/reserve")
[ "$code" = 202 ] || fail "POST /reserve: $code"
ev=$(expect_event 10 '.event == "offers"' "offer right after the reservation")
echo "$ev" | jq -e '[.offers[].resources | test("cpus\\(web\\):1")] | any' >/dev/null ||
    fail "the reservation is not in the offer: $ev"
offer=$(echo "$ev" | jq -r '.offers[0].id')

# A task runs on the agent; then the agent is drained.
send launch "$offer" t1 "cpus(web):0.5;mem(web):32" 'sleep 60'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running"
# What t1 left comes back filtered: a revive has it offered again.
send revive
expect_event 10 '.event == "offers"' "re-offer of what t1 left" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\"}" "$url/drain")
[ "$code" = 200 ] || fail "POST /drain: $code"
expect_event 10 '.event == "rescind"' "outstanding offer rescinded by the drain" >/dev/null
master_json /slaves | jq -e '.slaves[0].draining == true' >/dev/null || fail "/slaves: not draining"
"$AGORA_BIN/agora" agents --master="127.0.0.1:$MASTER_PORT" | grep -q DRAINING ||
    fail "the CLI does not show DRAINING"

# Nothing is offered from the drained agent, even when resources free up there
# or the framework revives; its task keeps running.
send revive
if next_event 3 '.event == "offers"' >/dev/null; then
    fail "a drained agent was offered"
fi
master_json /tasks | jq -e '.tasks[] | select(.id == "t1") | .state == "TASK_RUNNING"' >/dev/null ||
    fail "t1 stopped running on the drained agent"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"agent_id": "no-such-agent"}' "$url/drain")
[ "$code" = 404 ] || fail "draining an unknown agent: $code"

# The master restarts: the agent comes back still drained.
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master --allocation_interval=1hrs
wait_agents 1
master_json /slaves | jq -e '.slaves[0].draining == true' >/dev/null ||
    fail "/slaves: not draining after the master restart"
expect_event 30 '.event == "subscribed" and .resubscribed' "re-subscribed after the master restart" >/dev/null
send revive
if next_event 3 '.event == "offers"' >/dev/null; then
    fail "a drained agent was offered after the master restart"
fi

# Undrain: offered again at once.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\"}" "$url/undrain")
[ "$code" = 200 ] || fail "POST /undrain: $code"
expect_event 10 '.event == "offers"' "offer right after the undrain" >/dev/null
master_json /slaves | jq -e '.slaves[0].draining == false' >/dev/null || fail "/slaves: still draining"
log "ok"
