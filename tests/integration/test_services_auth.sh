#!/usr/bin/env bash
# agora-services against a master with --credentials: with the right
# --principal/--secret it subscribes and runs apps; without a principal or with
# a wrong secret it does not subscribe, says why and exits 1, and changes
# nothing: not the master (no framework, tasks of its earlier run untouched)
# and not its own store (same framework id, apps and tasks), so the next start
# with the right secret carries on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

cat >"$T/credentials.json" <<'JSON'
{"credentials": [{"principal": "agent", "secret": "agent-secret"},
                 {"principal": "services", "secret": "services-secret"}]}
JSON
echo '{"principal": "agent", "secret": "agent-secret"}' >"$T/agent.json"

start_master --credentials="$T/credentials.json"
start_svc_agent a1 --credential="$T/agent.json"
wait_agents 1

frameworks() {
    master_json /state | jq '.frameworks | length'
}

# refused NAME WORK_DIR [FLAGS...]: agora-services must exit 1 on its own
# (not be stopped by the timeout); its output goes to $T/NAME.log.
refused() {
    local name=$1 dir=$2 rc=0
    shift 2
    timeout 30 "$AGORA_BIN/agora-services" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 \
        --http_port="$(free_port)" --hostname=127.0.0.1 --work_dir="$dir" "$@" \
        >"$T/$name.log" 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "$name: agora-services exited with $rc, expected 1: $(tail -5 "$T/$name.log")"
}

# ---- no principal: refused, says that the master requires authentication ----
refused no-principal "$T/services-none"
grep -q "authentication required" "$T/no-principal.log" ||
    fail "no-principal: the log does not say why: $(tail -5 "$T/no-principal.log")"
[ "$(frameworks)" = 0 ] || fail "a framework without credentials was admitted"

# ---- wrong secret, fresh state: refused, says so, nothing registered ----
refused bad-secret "$T/services-bad" --principal=services --secret=not-the-secret
grep -q "refused our authentication" "$T/bad-secret.log" ||
    fail "bad-secret: the log does not say why: $(tail -5 "$T/bad-secret.log")"
grep -q "not-the-secret" "$T/bad-secret.log" && fail "agora-services logged its secret"
grep -q "authentication failed" "$T/master.log" || fail "the master did not log the bad secret"
[ "$(frameworks)" = 0 ] || fail "a framework with a wrong secret was admitted"
[ "$(sqlite3 "$T/services-bad/services.db" "SELECT count(*) FROM meta WHERE key = 'framework_id' AND value != ''")" = 0 ] ||
    fail "bad-secret: a framework id was stored"

# ---- the right secret: subscribes, an app reaches RUNNING ----
start_services --principal=services --secret=services-secret
FRAMEWORK_ID=$(framework_id)
[ "$(master_json /state | jq -r --arg f "$FRAMEWORK_ID" '.frameworks[] | select(.id == $f) | .principal')" = services ] ||
    fail "the framework is not registered under its principal: $(master_json /state | jq -c '[.frameworks[] | {id, principal}]')"
api POST /v2/apps '{"id": "/auth", "cmd": "sleep 3600", "cpus": 0.05, "mem": 8, "instances": 2}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
wait_app /auth 2
tasks=$(app_task_ids /auth)
[ "$(master_running_tasks)" = "$tasks" ] || fail "the master runs other tasks than agora-services lists"
grep -q "services-secret" "$T/services.log" "$T/master.log" && fail "a secret was logged"

# ---- restarted with a wrong secret on the same state: refused, nothing changes ----
kill9_services
dump_before=$(sqlite3 "$T/services/services.db" .dump | sha256sum)
refused bad-restart "$T/services" --principal=services --secret=not-the-secret
grep -q "refused our authentication" "$T/bad-restart.log" ||
    fail "bad-restart: the log does not say why: $(tail -5 "$T/bad-restart.log")"
[ "$(sqlite3 "$T/services/services.db" .dump | sha256sum)" = "$dump_before" ] ||
    fail "a refused start changed the store"
[ "$(frameworks)" = 1 ] || fail "expected the first framework only"
[ "$(master_running_tasks)" = "$tasks" ] || fail "a refused start changed the tasks the master runs"

# ---- the right secret again: the same framework and tasks carry on ----
start_services --principal=services --secret=services-secret
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "framework id changed: $(framework_id)"
wait_app /auth 2
[ "$(app_task_ids /auth)" = "$tasks" ] || fail "tasks changed across the refused start"
log "ok"
