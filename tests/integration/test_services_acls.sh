#!/usr/bin/env bash
# agora-services --acls: Agora's manage_apps and view_apps (app id prefixes at
# a segment boundary) on the Marathon API, each rule both ways: the allowed
# request works; the denied one gets 403 {"message": ...} and changes
# nothing. Principals (--http_credentials): teama may manage and view /team-a
# only; ops everything; anonymous requests may only read.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

svc_credentials
ANY='{"type": "ANY"}'
NONE='{"type": "NONE"}'
cat >"$T/acls.json" <<EOF
{"manage_apps": [{"principals": {"values": ["teama"]}, "app_ids": {"values": ["/team-a"]}},
                 {"principals": {"values": ["ops"]}, "app_ids": $ANY},
                 {"principals": $ANY, "app_ids": $NONE}],
 "view_apps": [{"principals": {"values": ["teama"]}, "app_ids": {"values": ["/team-a"]}},
               {"principals": {"values": ["teama"]}, "app_ids": $NONE},
               {"principals": $ANY, "app_ids": $ANY}]}
EOF
chmod 600 "$T"/*.json

# A malformed file stops agora-services, with the reason.
echo '{"manage_apps": [{"principals": {"type": "ANY"}, "apps": {"type": "ANY"}}]}' >"$T/bad.json"
if timeout 10 "$AGORA_BIN/agora-services" --master=127.0.0.1:1 --http_port="$(free_port)" \
    --work_dir="$T/bad" --acls="$T/bad.json" >"$T/bad.log" 2>&1; then
    fail "agora-services started with a malformed --acls"
fi
grep -q 'manage_apps\[0\]: unknown key' "$T/bad.log" || fail "no reason for the bad --acls: $(cat "$T/bad.log")"

start_master
start_svc_agent a1
wait_agents 1
start_services --http_credentials="$T/http_credentials.json" --authenticate_http_readwrite \
    --acls="$T/acls.json"

app() { # ID [N]
    echo "{\"id\": \"$1\", \"cmd\": \"sleep 3600\", \"cpus\": 0.05, \"mem\": 8, \"instances\": ${2:-1}}"
}
ids() { jq -c '[.apps[].id] | sort' "$T/as.body"; }

# ---- create: under the prefix only, at a segment boundary ----
want 201 teama POST /v2/apps "$(app /team-a/web)"
want 403 teama POST /v2/apps "$(app /team-ab)"
want 403 teama POST /v2/apps "$(app /other/db)"
want 201 ops POST /v2/apps "$(app /other/db)"
want 403 teama PUT /v2/apps/team-b/new "$(app /team-b/new)"
as ops GET /v2/apps >/dev/null
[ "$(ids)" = '["/other/db","/team-a/web"]' ] || fail "refused creations changed the apps: $(ids)"
wait_app /team-a/web 1
wait_app /other/db 1
log "manage_apps: create allowed under /team-a, refused for /team-ab and /other"

# ---- view: lists filtered, a hidden app answers as missing ----
as teama GET /v2/apps >/dev/null
[ "$(ids)" = '["/team-a/web"]' ] || fail "teama sees: $(ids)"
as anon GET /v2/apps >/dev/null
[ "$(ids)" = '["/other/db","/team-a/web"]' ] || fail "an anonymous reader sees: $(ids)"
want 404 teama GET /v2/apps/other/db
want 200 teama GET /v2/apps/team-a/web
as teama GET /v2/tasks >/dev/null
jq -e '[.tasks[].appId] | unique == ["/team-a/web"]' "$T/as.body" >/dev/null ||
    fail "teama sees other apps' tasks: $(cat "$T/as.body")"
log "view_apps: teama sees /team-a only"

# ---- update, restart, kill, delete: refused outside the prefix, nothing changes ----
other_task=$(app_task_ids /other/db)
mine=$(app_task_ids /team-a/web)
want 403 teama PUT /v2/apps/other/db '{"instances": 2}'
want 403 teama PATCH /v2/apps/other/db '{"instances": 2}'
want 403 teama POST /v2/apps/other/db/restart
want 403 teama DELETE "/v2/apps/other/db/tasks/$other_task?scale=true"
want 403 teama DELETE /v2/apps/other/db/tasks
want 403 teama POST /v2/tasks/delete "{\"ids\": [\"$mine\", \"$other_task\"]}"
want 403 teama DELETE /v2/queue/other/db/delay
want 403 teama DELETE /v2/apps/other/db
[ "$(app_json /other/db | jq '.instances')" = 1 ] || fail "a refused update changed /other/db"
[ "$(app_task_ids /other/db)" = "$other_task" ] || fail "a refused request killed or replaced /other/db's task"
[ "$(app_task_ids /team-a/web)" = "$mine" ] || fail "a refused bulk kill killed teama's own task"
grep -q "not permitted by --acls: manage_apps of '/other/db' by principal 'teama'" "$T/services.log" ||
    fail "agora-services did not log the refusals"

want 200 teama PUT /v2/apps/team-a/web '{"instances": 2}'
wait_app /team-a/web 2
want 200 ops PUT /v2/apps/other/db '{"instances": 2}'
wait_app /other/db 2
want 200 teama DELETE /v2/apps/team-a/web
want 200 ops DELETE /v2/apps/other/db
wait_until 20 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps | jq -e '.apps | length == 0'" ||
    fail "the allowed deletes did not remove the apps"
log "manage_apps: update, restart, kill and delete refused outside /team-a, allowed inside"
log "PASS"
