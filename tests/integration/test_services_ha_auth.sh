#!/usr/bin/env bash
# agora-services in high availability with authentication and --acls: a
# non-leader checks credentials itself and forwards them, and the leader
# authorizes what is proxied to it. DELETE /v2/leader is a change to every
# app: refused (403) to a principal limited to /team-a, 401 without
# credentials, and abdicates for one allowed everything, through the proxy too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/services_lib.sh"
. "$(dirname "$0")/services_ha.sh"

TEAMA=teama-$RANDOM$RANDOM
OPS=ops-$RANDOM$RANDOM
cat >"$T/http_credentials.json" <<JSON
{"credentials": [{"principal": "teama", "secret": "$TEAMA"}, {"principal": "ops", "secret": "$OPS"}]}
JSON
cat >"$T/acls.json" <<'JSON'
{"manage_apps": [{"principals": {"values": ["teama"]}, "app_ids": {"values": ["/team-a"]}},
                 {"principals": {"values": ["ops"]}, "app_ids": {"type": "ANY"}},
                 {"principals": {"type": "ANY"}, "app_ids": {"type": "NONE"}}]}
JSON
chmod 600 "$T"/*.json
svc_ha_cluster --http_credentials="$T/http_credentials.json" --authenticate_http_readwrite \
    --acls="$T/acls.json"

# as WHO NAME METHOD PATH [BODY]: the status code of the request to instance NAME.
as() {
    local who=$1 n=$2 method=$3 path=$4 body=${5:-}
    local args=(-s -o "$T/as.body" -w '%{http_code}' -X "$method")
    case $who in
    teama) args+=(-u "teama:$TEAMA") ;;
    ops) args+=(-u "ops:$OPS") ;;
    esac
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "http://127.0.0.1:${SP[$n]}$path" || echo 000
}
want() { # CODE WHO NAME METHOD PATH [BODY]
    local code=$1 got
    shift
    got=$(as "$@")
    [ "$got" = "$code" ] || fail "$1 $3 $4 on $2 answered $got, expected $code: $(cat "$T/as.body")"
}

app='{"id": "ID", "cmd": "exec sleep 1000", "cpus": 0.05, "mem": 8, "instances": 1}'
want 401 anonymous "$OTHER" POST /v2/apps "${app/ID//team-a/web}"
want 401 anonymous "$OTHER" DELETE /v2/leader
want 201 teama "$OTHER" POST /v2/apps "${app/ID//team-a/web}"
want 403 teama "$OTHER" POST /v2/apps "${app/ID//ops/web}"
jq -e '.message | test("not permitted")' "$T/as.body" >/dev/null || fail "the leader's 403 did not come back: $(cat "$T/as.body")"
want 201 ops "$OTHER" POST /v2/apps "${app/ID//ops/web}"
want 404 teama "$OTHER" GET /v2/apps/nope
grep -q "not permitted by --acls: manage_apps of '/ops/web' by principal 'teama'" "$T/svc-$LEADER.log" ||
    fail "the leader did not log the refusal (so who authorized it?)"
log "the proxy authenticates and forwards credentials; the leader authorizes"

# Abdication needs manage_apps on every app.
want 403 teama "$OTHER" DELETE /v2/leader
want 403 teama "$LEADER" DELETE /v2/leader
[ "$(svc_leader)" = "$LEADER" ] || fail "leadership moved after a refused abdication"
want 200 ops "$OTHER" DELETE /v2/leader
[ "$(jq -r .message "$T/as.body")" = "Leadership abdicated" ] || fail "abdication said $(cat "$T/as.body")"
l2=$(wait_svc_leader 20 "$LEADER") || fail "no new leader after the abdication"
[ "$l2" = "$OTHER" ] || fail "expected $OTHER to lead, $l2 does"
svc_use "$l2"
wait_app /team-a/web 1 30
wait_app /ops/web 1 30
want 200 teama "$LEADER" PUT /v2/apps/team-a/web '{"instances": 2}'
wait_app /team-a/web 2 30
log "PASS"
