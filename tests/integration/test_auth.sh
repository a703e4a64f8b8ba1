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

# No credential, wrong secret: refused, each agent saying why (they keep
# retrying; the refusal is the event to wait for, not a time).
start_agent nocred
start_agent badcred --credential="$T/bad.json"
wait_until 30 grep -q "authentication required" "$T/agent-nocred.log" ||
    fail "the agent without a credential does not say why it was refused"
wait_until 30 grep -q "authentication failed" "$T/agent-badcred.log" ||
    fail "the agent with a wrong secret does not say why it was refused"
wait_until 30 grep -q "authentication failed principal=agent" "$T/master.log" ||
    fail "the master did not log the bad secret"
[ "$(master_json /state | jq '.slaves | length')" = 0 ] || fail "an agent without a valid credential was admitted"

# The right secret: admitted.
start_agent good --credential="$T/good.json"
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].hostname')" = good ] || fail "wrong agent admitted"

# Frameworks: a wrong secret or none is refused with a fatal error event, the
# right one subscribes and gets offers.
start_scheduler bad --principal=fw --secret=nope
ev=$(expect_event 30 '.event == "error" or .event == "subscribed"' "an answer to the bad secret")
echo "$ev" | jq -e '.event == "error" and .fatal and (.message | test("authentication failed"))' >/dev/null ||
    fail "a framework with a wrong secret: $ev"
start_scheduler nocred
ev=$(expect_event 30 '.event == "error" or .event == "subscribed"' "an answer to no credential")
echo "$ev" | jq -e '.event == "error" and .fatal and (.message | test("authentication required"))' >/dev/null ||
    fail "a framework without a credential: $ev"
start_scheduler good --principal=fw --secret=fw-secret
expect_event 10 '.event == "subscribed"' "good framework subscribed" >/dev/null
expect_event 10 '.event == "offers"' "offers after authentication" >/dev/null
[ "$(master_json /state | jq '.frameworks | length')" = 1 ] || fail "expected one framework"
log "ok"
