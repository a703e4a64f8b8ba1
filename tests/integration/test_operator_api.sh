#!/usr/bin/env bash
# The master's operator endpoints: state shapes, weights, quota, dynamic
# reservations (offered only to their role), flags, metrics; bad requests get a
# clear error and change nothing.
. "$(dirname "$0")/lib.sh"

start_master --weights=eng=2
start_agent a1
wait_agents 1
agent_id=$(master_json /slaves | jq -r '.slaves[0].id')

for path in /state /state-summary /slaves /agents /frameworks /tasks /roles /weights /quota /flags /version /metrics/snapshot; do
    master_json "$path" >/dev/null || fail "GET $path"
done
curl -sf "http://127.0.0.1:$MASTER_PORT/metrics" | grep -q '^agora_master_slaves_active 1' || fail "Prometheus metrics"
[ "$(master_json /flags | jq -r .flags.weights)" = "eng=2" ] || fail "/flags"
master_json /state | jq -e '.slaves[0].resources.cpus == 4 and .slaves[0].resources.ports == "[31000-31099]"' >/dev/null ||
    fail "agent resources in /state: $(master_json /state | jq -c .slaves[0].resources)"

# Weights.
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '[{"role": "ops", "weight": 3}]' "http://127.0.0.1:$MASTER_PORT/weights")
[ "$code" = 200 ] || fail "PUT /weights: $code"
master_json /weights | jq -e '[.[] | select(.role == "ops" and .weight == 3)] | length == 1' >/dev/null || fail "ops weight"
master_json /weights | jq -e '[.[] | select(.role == "eng" and .weight == 2)] | length == 1' >/dev/null || fail "eng weight from --weights"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '[{"role": "ops", "weight": -1}]' "http://127.0.0.1:$MASTER_PORT/weights")
[ "$code" = 400 ] || fail "negative weight accepted: $code"
master_json /weights | jq -e '[.[] | select(.role == "ops" and .weight == 3)] | length == 1' >/dev/null || fail "a refused PUT changed the weight"

# Quota.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"role": "eng", "guarantee": "cpus:1;mem:128", "limit": "cpus:2;mem:1024"}' "http://127.0.0.1:$MASTER_PORT/quota")
[ "$code" = 200 ] || fail "POST /quota: $code"
master_json /quota | jq -e '.infos[] | select(.role == "eng") | .limit.cpus == 2' >/dev/null || fail "quota not listed"
code=$(curl -s -o /tmp/q.$$ -w '%{http_code}' -X POST -d '{"role": "eng", "guarantee": "cpus:x"}' "http://127.0.0.1:$MASTER_PORT/quota")
[ "$code" = 400 ] && grep -q cpus /tmp/q.$$ || fail "bad quota: $code $(cat /tmp/q.$$)"
rm -f /tmp/q.$$

# A framework in role eng is offered at most its limit (2 cpus of 4).
start_scheduler engfw --role=eng
expect_event 10 '.event == "subscribed"' "eng framework" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "eng offer")
# (guarantee and the rest up to the limit may come as separate offers)
cpus=$(echo "$ev" | jq '[.offers[].resources | capture("cpus:(?<c>[0-9.]+)").c | tonumber] | add')
[ "$cpus" = 2 ] || fail "quota limit not applied: offered $cpus cpus: $ev"
use_scheduler engfw
send decline "$(echo "$ev" | jq -r '[.offers[].id] | join(",")')" 3600

# Reserve 1 cpu for role web on the agent: offered only to a web framework.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):1;mem(web):64\"}" "http://127.0.0.1:$MASTER_PORT/reserve")
[ "$code" = 202 ] || fail "POST /reserve: $code"
master_json /slaves | jq -e '.slaves[0].reserved_resources.cpus == 1' >/dev/null || fail "reservation not shown"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):100\"}" "http://127.0.0.1:$MASTER_PORT/reserve")
[ "$code" = 409 ] || fail "reserving more than the agent has: $code"
start_scheduler webfw --role=web
expect_event 10 '.event == "subscribed"' "web framework" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "web offer")
echo "$ev" | jq -e '[.offers[].resources | test("cpus\\(web\\):1")] | any' >/dev/null || fail "web not offered its reservation: $ev"
send decline "$(echo "$ev" | jq -r '[.offers[].id] | join(",")')" 3600
start_scheduler other --role=other
expect_event 10 '.event == "subscribed"' "other framework" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "other offer")
if echo "$ev" | jq -e '.offers[].resources | test("\\(web\\)")' >/dev/null; then
    fail "reserved resources offered to another role: $ev"
fi
master_json /roles | jq -e '[.roles[] | select(.name == "web")] | length == 1' >/dev/null || fail "/roles lacks web"
log "ok"
