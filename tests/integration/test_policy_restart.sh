#!/usr/bin/env bash
# Quota and weights set over the operator API survive a master restart: they
# are stored in the registry (meta records "quota/<role>", "weight/<role>")
# before they take effect, and restored when the master starts. A removed
# quota stays removed; a refused change is not stored; a weight set by an
# operator wins over --weights.
. "$(dirname "$0")/lib.sh"

start_master --weights=eng=2
url="http://127.0.0.1:$MASTER_PORT"

put_weights() {
    curl -s -o /dev/null -w '%{http_code}' -X PUT -d "$1" "$url/weights"
}
post_quota() {
    curl -s -o /dev/null -w '%{http_code}' -X POST -d "$1" "$url/quota"
}
weight_of() {
    master_json /weights | jq -r --arg r "$1" '.[] | select(.role == $r) | .weight'
}

[ "$(put_weights '[{"role": "ops", "weight": 3}, {"role": "eng/web", "weight": 1.5}]')" = 200 ] ||
    fail "PUT /weights"
[ "$(put_weights '[{"role": "ops", "weight": -1}]')" = 400 ] || fail "a negative weight accepted"
[ "$(post_quota '{"role": "eng", "guarantee": "cpus:1;mem:128", "limit": "cpus:2;mem:1024"}')" = 200 ] ||
    fail "POST /quota eng"
[ "$(post_quota '{"role": "dev", "guarantee": "cpus:1"}')" = 200 ] || fail "POST /quota dev"
[ "$(post_quota '{"role": "eng/web", "guarantee": "cpus:3", "limit": "cpus:1"}')" = 400 ] ||
    fail "a guarantee over its limit accepted"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url/quota?role=dev")
[ "$code" = 200 ] || fail "DELETE /quota: $code"

kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master --weights=eng=2

[ "$(weight_of ops)" = 3 ] || fail "ops weight after the restart: $(master_json /weights)"
[ "$(weight_of eng/web)" = 1.5 ] || fail "eng/web weight after the restart: $(master_json /weights)"
[ "$(weight_of eng)" = 2 ] || fail "eng weight (--weights) after the restart: $(master_json /weights)"
master_json /quota | jq -e '[.infos[] | select(.role == "eng")] | length == 1 and
    .[0].guarantee.cpus == 1 and .[0].guarantee.mem == 128 and
    .[0].limit.cpus == 2 and .[0].limit.mem == 1024' >/dev/null ||
    fail "eng quota after the restart: $(master_json /quota)"
master_json /quota | jq -e '[.infos[] | select(.role == "dev" or .role == "eng/web")] | length == 0' \
    >/dev/null || fail "a removed or refused quota came back: $(master_json /quota)"

# An operator's weight is stored over the --weights one; a second restart keeps it.
[ "$(put_weights '[{"role": "eng", "weight": 5}]')" = 200 ] || fail "PUT /weights eng"
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master --weights=eng=2
[ "$(weight_of eng)" = 5 ] || fail "eng weight after the second restart: $(master_json /weights)"
[ "$(weight_of ops)" = 3 ] || fail "ops weight after the second restart: $(master_json /weights)"
log "ok"
