#!/usr/bin/env bash
# With --credentials the master admits only agents and frameworks that prove
# their secret (HMAC challenge-response); others are refused with a log line on
# both sides and nothing changes.
. "$(dirname "$0")/lib.sh"

cat >"$T/credentials.json" <<'JSON'
{"credentials": [{"principal": "agent", "secret": "agent-secret"},
                 {"principal": "fw", "secret": "fw-secret"}]}
JSON
echo '{"principal": "agent", "secret": "agent-secret"}' >"$T/good.json"
echo '{"principal": "agent", "secret": "wrong"}' >"$T/bad.json"

start_master --credentials="$T/credentials.json"
grep -q "secret" "$T/master.log" && fail "the master logged a secret"

# No credential, wrong secret: refused.
start_agent nocred
start_agent badcred --credential="$T/bad.json"
sleep 2
[ "$(master_json /state | jq '.slaves | length')" = 0 ] || fail "an agent without a valid credential was admitted"
grep -q "authentication required\|authentication failed\|not permitted" "$T/agent-nocred.log" ||
    fail "the agent without a credential does not say why it was refused"
grep -q "authentication failed" "$T/master.log" || fail "the master did not log the bad secret"

# The right secret: admitted.
start_agent good --credential="$T/good.json"
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].hostname')" = good ] || fail "wrong agent admitted"

# Frameworks: a wrong secret is refused, the right one subscribes and gets offers.
start_scheduler bad --principal=fw --secret=nope
if next_event 3 '.event == "subscribed"' >/dev/null; then
    fail "a framework with a wrong secret subscribed"
fi
start_scheduler good --principal=fw --secret=fw-secret
expect_event 10 '.event == "subscribed"' "good framework subscribed" >/dev/null
expect_event 10 '.event == "offers"' "offers after authentication" >/dev/null
[ "$(master_json /state | jq '.frameworks | length')" = 1 ] || fail "expected one framework"
log "ok"
