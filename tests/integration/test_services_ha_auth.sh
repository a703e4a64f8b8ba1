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

svc_credentials
cat >"$T/acls.json" <<'JSON'
{"manage_apps": [{"principals": {"values": ["teama"]}, "app_ids": {"values": ["/team-a"]}},
                 {"principals": {"values": ["ops"]}, "app_ids": {"type": "ANY"}},
                 {"principals": {"type": "ANY"}, "app_ids": {"type": "NONE"}}]}
JSON
chmod 600 "$T"/*.json
svc_ha_cluster --http_credentials="$T/http_credentials.json" --authenticate_http_readwrite \
    --acls="$T/acls.json"

# on NAME CMD...: CMD (want, as) against instance NAME.
on() {
    local n=$1
    shift
    SVC_PORT=${SP[$n]} "$@"
}

app='{"id": "ID", "cmd": "exec sleep 1000", "cpus": 0.05, "mem": 8, "instances": 1}'
on "$OTHER" want 401 anonymous POST /v2/apps "${app/ID//team-a/web}"
on "$OTHER" want 401 anonymous DELETE /v2/leader
on "$OTHER" want 201 teama POST /v2/apps "${app/ID//team-a/web}"
on "$OTHER" want 403 teama POST /v2/apps "${app/ID//ops/web}"
on "$OTHER" want 201 ops POST /v2/apps "${app/ID//ops/web}"
on "$OTHER" want 404 teama GET /v2/apps/nope
grep -q "not permitted by --acls: manage_apps of '/ops/web' by principal 'teama'" "$T/svc-$LEADER.log" ||
    fail "the leader did not log the refusal (so who authorized it?)"
log "the proxy authenticates and forwards credentials; the leader authorizes"

# Abdication needs manage_apps on every app.
on "$OTHER" want 403 teama DELETE /v2/leader
on "$LEADER" want 403 teama DELETE /v2/leader
[ "$(svc_leader)" = "$LEADER" ] || fail "leadership moved after a refused abdication"
on "$OTHER" want 200 ops DELETE /v2/leader
[ "$(jq -r .message "$T/as.body")" = "Leadership abdicated" ] || fail "abdication said $(cat "$T/as.body")"
l2=$(wait_svc_leader 20 "$LEADER") || fail "no new leader after the abdication"
[ "$l2" = "$OTHER" ] || fail "expected $OTHER to lead, $l2 does"
svc_use "$l2"
wait_app /team-a/web 1 30
wait_app /ops/web 1 30
on "$LEADER" want 200 teama PUT /v2/apps/team-a/web '{"instances": 2}'
wait_app /team-a/web 2 30
log "PASS"
