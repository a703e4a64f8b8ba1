#!/usr/bin/env bash
# Marathon's secrets from agora-services' file store (--secrets_dir): an env
# value {"secret": NAME} reaches the task's environment; no REST output (the
# app, its versions, the app list, the event stream) ever holds the value; a
# reference to an undefined secret is refused (422); a missing file or one
# others may read launches nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

VALUE="s3cr3t-$RANDOM-$RANDOM"
mkdir -p "$T/secrets/db"
(umask 077 && printf '%s\n' "$VALUE" >"$T/secrets/db/pass")
(umask 022 && printf 'open\n' >"$T/secrets/loose")

start_master
start_svc_agent a1
wait_agents 1
start_services --secrets_dir="$T/secrets"
start_events

api POST /v2/apps '{"id": "/sec", "cmd": "echo \"pass=$DB_PASS\" > env.out; sleep 1000", "cpus": 0.05,
  "mem": 16, "env": {"DB_PASS": {"secret": "pw"}, "PLAIN": "x"},
  "secrets": {"pw": {"source": "/db/pass"}}}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
wait_app /sec 1
got() { f=$(find "$T/agent-a1/sandboxes" -name env.out | head -1); [ -n "$f" ] && grep -qx "pass=$VALUE" "$f"; }
wait_until 15 got || fail "the task did not get the secret in its environment"

# The definition keeps the reference only.
app_json /sec | jq -e '.env.DB_PASS == {"secret": "pw"} and .secrets.pw == {"source": "/db/pass"}' \
    >/dev/null || fail "the app does not show the references: $(app_json /sec | jq -c '{env, secrets}')"
api PUT /v2/apps/sec '{"cmd": "echo \"pass=$DB_PASS\" > env.out; exec sleep 1000", "cpus": 0.05,
  "mem": 16, "env": {"DB_PASS": {"secret": "pw"}}, "secrets": {"pw": {"source": "db/pass"}}}' >/dev/null
wait_app /sec 1
for path in /v2/apps /v2/apps/sec /v2/apps/sec/versions /v2/deployments /v2/tasks /v2/queue; do
    api GET "$path" >/dev/null
    ! grep -q "$VALUE" "$T/api.body" || fail "GET $path shows the secret's value"
done
for v in $(curl -sf "http://127.0.0.1:$SVC_PORT/v2/apps/sec/versions" | jq -r '.versions[]'); do
    api GET "/v2/apps/sec/versions/$v" >/dev/null
    ! grep -q "$VALUE" "$T/api.body" || fail "version $v shows the secret's value"
done
! grep -q "$VALUE" "$T/events.sse" || fail "the event stream shows the secret's value"
! grep -rq "$VALUE" "$T/services.log" || fail "agora-services logged the secret's value"

# Refused: a reference to no secret, a source out of the store.
api POST /v2/apps '{"id": "/bad", "cmd": "true", "env": {"X": {"secret": "nope"}}}' >/dev/null
[ "$(api_code)" = 422 ] || fail "an undefined secret: $(api_code), not 422"
api POST /v2/apps '{"id": "/bad", "cmd": "true", "env": {"X": {"secret": "s"}},
  "secrets": {"s": {"source": "../etc/shadow"}}}' >/dev/null
[ "$(api_code)" = 422 ] || fail "a source with '..': $(api_code), not 422"
api POST /v2/apps '{"id": "/bad", "cmd": "true", "labels": {"X": {"secret": "s"}}}' >/dev/null
[ "$(api_code)" = 422 ] || fail "a secret in labels: $(api_code), not 422"

# A file others may read is no secret: nothing is launched, the log says why.
api POST /v2/apps '{"id": "/loose", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
  "env": {"X": {"secret": "s"}}, "secrets": {"s": {"source": "loose"}}}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create /loose: $(api_code)"
wait_until 15 grep -q "secret 's'.*loose is not a regular file of mode 0600" "$T/services.log" ||
    fail "no warning about the readable secret file"
[ "$(app_json /loose | jq .tasksRunning)" = 0 ] || fail "/loose runs without its secret"
log "ok"
