#!/usr/bin/env bash
# HTTP authentication (--http_credentials, --authenticate_http_readwrite,
# --authenticate_http_readonly) on the master, an agent and agora-services,
# each rule both ways: without credentials, or with a wrong secret, a request
# is answered 401 with WWW-Authenticate and changes nothing (the framework
# stays, no app is created or removed, no weight is set, no container is
# resized); with the right credentials (Basic, or a Bearer token) it works.
# /health and /ping stay open. With --authenticate_http_readonly off, GETs are
# open and writes are still refused. The CLI authenticates with --principal
# and --secret_file (or $AGORA_PRINCIPAL, $AGORA_SECRET_FILE) and without them
# says what to set.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

AG="$AGORA_BIN/agora"
SECRET=s3cret-$RANDOM$RANDOM
TOKEN=t0ken-$RANDOM$RANDOM
cat >"$T/http_credentials.json" <<EOF
{"credentials": [{"principal": "ops", "secret": "$SECRET"},
                 {"principal": "ci", "secret": "$TOKEN"}]}
EOF
printf '%s\n' "$SECRET" >"$T/ops.secret"
printf 'wrong\n' >"$T/wrong.secret"
# Every curl of the helpers (lib.sh, services_lib.sh) authenticates as ops;
# the anonymous requests below start with -q, which skips this file.
export CURL_HOME="$T"
printf 'user = "ops:%s"\n' "$SECRET" >"$T/.curlrc"

AUTH=(--http_credentials="$T/http_credentials.json" --authenticate_http_readwrite
    --authenticate_http_readonly)

# req WHO METHOD URL [BODY]: the status code (the body in $T/req.body, the
# headers in $T/req.headers). WHO: anon, wrong (ops with a wrong secret),
# bearer (ci's token), badbearer, ops.
req() {
    local who=$1 method=$2 url=$3 body=${4:-}
    local args=(-q -s -o "$T/req.body" -D "$T/req.headers" -w '%{http_code}' -X "$method")
    case $who in
    anon) ;;
    wrong) args+=(-u "ops:wrong") ;;
    bearer) args+=(-H "Authorization: Bearer $TOKEN") ;;
    badbearer) args+=(-H "Authorization: Bearer $SECRET-x") ;;
    ops) args+=(-u "ops:$SECRET") ;;
    esac
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    curl "${args[@]}" "$url" || echo 000
}

# expect WANT WHO METHOD URL [BODY]
expect() {
    local want=$1 got
    shift
    got=$(req "$@")
    [ "$got" = "$want" ] || fail "$1 $2 $3 answered $got, expected $want: $(cat "$T/req.body")"
    if [ "$want" = 401 ]; then
        grep -qi '^WWW-Authenticate: Basic realm="agora"' "$T/req.headers" ||
            fail "$2 $3: 401 without WWW-Authenticate: $(cat "$T/req.headers")"
    fi
}

start_master "${AUTH[@]}"
M="http://127.0.0.1:$MASTER_PORT"
start_svc_agent a1 "${AUTH[@]}"
A="http://127.0.0.1:${AGENT_PORT[a1]}"
wait_agents 1
start_services "${AUTH[@]}"
S="http://127.0.0.1:$SVC_PORT"
FID=$(framework_id)
[ -n "$FID" ] && [ "$FID" != null ] || fail "no framework id"

has_framework() {
    master_json /frameworks | jq -e --arg f "$FID" '[.frameworks[] | select(.id == $f)] | length == 1' >/dev/null
}

# ---- the master
expect 200 anon GET "$M/health"
for who in anon wrong badbearer; do
    expect 401 $who GET "$M/state"
    expect 401 $who GET "$M/flags"
    expect 401 $who GET "$M/no-such-path" # no 404: routes are not probed anonymously
    expect 401 $who POST "$M/teardown" "{\"framework_id\": \"$FID\"}"
    expect 401 $who PUT "$M/weights" '[{"role": "eng", "weight": 3}]'
    expect 401 $who POST "$M/quota" '{"role": "eng", "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]}'
done
grep -q 'authentication required' "$T/req.body" || fail "401 body: $(cat "$T/req.body")"
has_framework || fail "an unauthenticated POST /teardown removed the framework"
master_json /weights | jq -e 'map(select(.role == "eng")) | length == 0' >/dev/null ||
    fail "an unauthenticated PUT /weights set a weight: $(master_json /weights)"
expect 200 ops GET "$M/state"
expect 200 bearer GET "$M/state"
expect 404 ops GET "$M/no-such-path"
expect 200 ops PUT "$M/weights" '[{"role": "eng", "weight": 3}]'
master_json /weights | jq -e 'map(select(.role == "eng" and .weight == 3)) | length == 1' >/dev/null ||
    fail "an authenticated PUT /weights did not set the weight: $(master_json /weights)"
# /flags shows the file, never a secret.
master_json /flags | jq -e --arg p "$T/http_credentials.json" \
    '.flags.http_credentials == $p and .flags.authenticate_http_readwrite == "true"' >/dev/null ||
    fail "/flags: $(master_json /flags | jq -c .flags)"
! master_json /flags | grep -q -e "$SECRET" -e "$TOKEN" || fail "/flags shows a secret"
log "master: 401 without or with wrong credentials, nothing changed; Basic and Bearer work"

# ---- agora-services
expect 200 anon GET "$S/ping"
APP='{"id": "/authapp", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16}'
for who in anon wrong badbearer; do
    expect 401 $who GET "$S/v2/apps"
    expect 401 $who GET "$S/v2/info"
    expect 401 $who POST "$S/v2/apps" "$APP"
    expect 401 $who GET "$S/" # the web UI's page: the browser prompts for Basic credentials
done
[ "$(api GET /v2/apps | jq '.apps | length')" = 0 ] || fail "an unauthenticated POST /v2/apps created an app"
expect 201 ops POST "$S/v2/apps" "$APP"
wait_app /authapp 1
TASK=$(app_task_ids /authapp)
for who in anon wrong; do
    expect 401 $who DELETE "$S/v2/apps/authapp/tasks/$TASK?scale=true"
    expect 401 $who PUT "$S/v2/apps/authapp" '{"instances": 2}'
    expect 401 $who DELETE "$S/v2/apps/authapp"
done
app_is /authapp 1 || fail "an unauthenticated request changed /authapp: $(app_json /authapp)"
[ "$(app_task_ids /authapp)" = "$TASK" ] || fail "an unauthenticated DELETE killed $TASK"
expect 200 bearer GET "$S/v2/apps/authapp"
log "agora-services: 401 without or with wrong credentials, nothing changed; Basic and Bearer work"

# ---- the agent
expect 200 anon GET "$A/health"
for who in anon wrong badbearer; do
    expect 401 $who GET "$A/state"
    expect 401 $who GET "$A/files/browse?path=/"
    expect 401 $who GET "$A/files/read?path=/etc/passwd&offset=0"
    # before any route: a POST anywhere (the agent serves none) needs credentials
    expect 401 $who POST "$A/state" '{}'
done
expect 200 ops GET "$A/state"
# The routing runs with credentials: GET only.
expect 405 ops POST "$A/state" '{}'
log "agent: 401 without or with wrong credentials; the handlers run with them"

# ---- the CLI
unset AGORA_PRINCIPAL AGORA_SECRET_FILE
if "$AG" frameworks --master="127.0.0.1:$MASTER_PORT" >"$T/out" 2>"$T/err"; then
    fail "agora frameworks without credentials succeeded: $(cat "$T/out")"
fi
grep -q -e '401' "$T/err" && grep -q -e '--principal' "$T/err" && grep -q -e 'AGORA_SECRET_FILE' "$T/err" ||
    fail "unclear error without credentials: $(cat "$T/err")"
"$AG" frameworks --master="127.0.0.1:$MASTER_PORT" --principal=ops --secret_file="$T/ops.secret" >"$T/out" 2>"$T/err" ||
    fail "agora frameworks with --principal: $(cat "$T/err")"
grep -q "$FID" "$T/out" || fail "agora frameworks does not list $FID: $(cat "$T/out")"
AGORA_PRINCIPAL=ops AGORA_SECRET_FILE="$T/ops.secret" "$AG" app list --services="127.0.0.1:$SVC_PORT" \
    >"$T/out" 2>"$T/err" || fail "agora app list with \$AGORA_PRINCIPAL: $(cat "$T/err")"
grep -q authapp "$T/out" || fail "agora app list does not list /authapp: $(cat "$T/out")"
if "$AG" app rm /authapp --services="127.0.0.1:$SVC_PORT" --principal=ops \
    --secret_file="$T/wrong.secret" >"$T/out" 2>"$T/err"; then
    fail "agora app rm with a wrong secret succeeded"
fi
grep -q 'refused the credentials' "$T/err" || fail "unclear error with a wrong secret: $(cat "$T/err")"
app_is /authapp 1 || fail "agora app rm with a wrong secret changed /authapp"
if "$AG" agents --principal=ops >"$T/out" 2>"$T/err"; then
    fail "--principal without --secret_file was accepted"
fi
grep -q -e '--secret_file' "$T/err" || fail "unclear error for --principal alone: $(cat "$T/err")"
log "CLI: --principal/--secret_file and \$AGORA_PRINCIPAL/\$AGORA_SECRET_FILE work; a 401 says what to set"

# ---- no secret in any log
for f in "$T"/*.log; do
    ! grep -q -e "$SECRET" -e "$TOKEN" "$f" || fail "$f shows a secret"
done

# ---- --authenticate_http_readonly off: GETs open, writes still refused
kill -TERM "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master --http_credentials="$T/http_credentials.json" --authenticate_http_readwrite
expect 200 anon GET "$M/state"
expect 404 anon GET "$M/no-such-path"
expect 401 wrong GET "$M/state" # wrong credentials are refused even where none are needed
expect 401 anon PUT "$M/weights" '[{"role": "eng", "weight": 5}]'
expect 401 anon POST "$M/teardown" "{\"framework_id\": \"$FID\"}"
wait_until 30 has_framework || fail "agora-services did not come back to the restarted master"
expect 200 ops GET "$M/weights"
jq -e 'map(select(.role == "eng" and .weight == 5)) | length == 0' "$T/req.body" >/dev/null ||
    fail "an unauthenticated PUT /weights changed the weight: $(cat "$T/req.body")"
expect 200 ops POST "$M/teardown" "{\"framework_id\": \"$FID\"}"
wait_until 10 sh -c "! curl -sf $M/frameworks | jq -e --arg f $FID '[.frameworks[] | select(.id == \$f)] | length == 1' >/dev/null" ||
    fail "an authenticated POST /teardown did not remove the framework"
log "readonly off: GETs open, writes need credentials; an authenticated teardown works"
log "PASS"
