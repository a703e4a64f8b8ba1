#!/usr/bin/env bash
# Rolling upgrades on a real cluster while a poller samples the app (at least
# 10 samples during each deployment; the log gives the measured interval): the
# number of ready instances never drops below minimumHealthCapacity and the
# number of instances never exceeds 1 + maximumOverCapacity. Then a version
# whose tasks keep failing is rolled back automatically (the event stream
# says so) without the old instances ever going away.
# Here "ready" means running; test_services_upgrade_health.sh runs this with
# health checks (ready = healthy), and a version that never passes its health
# check is rolled back too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"
. "$(dirname "$0")/images.sh"

start_master
start_svc_agent a1
start_svc_agent a2
wait_agents 2
start_services
FRAMEWORK_ID=$(framework_id)
start_events

HC=""
CMD="sleep 1000"
if [ "${UPGRADE_WITH_HEALTH:-0}" = 1 ]; then
    require_busybox # its httpd serves the health checks
    health_checks_supported || fail "the agent's health checks gave no healthy verdict"
    HC=", \"healthChecks\": $(http_check /health)"
    CMD=$HTTPD_CMD
    log "with health checks: ready = healthy"
else
    log "without health checks: ready = running"
fi
export POLL_HC=$HC

# poll ID OUT: samples app ID into OUT (poll_start).
poll() {
    poll_start "$2" "/v2/apps/$1"
}

# check_samples FILE T0 T1 MIN MAX: at least 10 samples were taken in [T0, T1]
# (a deployment here takes about a second or more), each with >= MIN ready
# and <= MAX tasks.
check_samples() {
    local file=$1 t0=$2 t1=$3 min=$4 max=$5
    poll_require "$file" "$t0" "$t1" 10
    poll_window "$file" "$t0" "$t1" \
        '.app | [([.tasks[] | select(.state == "TASK_RUNNING" and (.killing | not) and
                  ($ENV.POLL_HC == "" or (.healthCheckResults[0].alive // false)))] | length),
                 (.tasks | length)] | @tsv' |
        awk -v min="$min" -v max="$max" '$1 < min || $2 > max { bad++; print "bad sample: " $0 > "/dev/stderr" }
        END { exit bad > 0 }' || fail "strategy violated (min $min ready, max $max tasks)"
    log "$(basename "$file"): $(poll_stats "$file" "$t0" "$t1"); ready >= $min, tasks <= $max"
}

# wait_version ID: every task runs the app's current config and nothing is deploying.
wait_current() {
    local id=$1 n=$2
    wait_app "$id" "$n" 60
    app_json "$id" | jq -e '.versionInfo.lastConfigChangeAt as $v | [.tasks[] | select(.version < $v)] | length == 0' \
        >/dev/null || fail "old tasks left after the upgrade"
}

api POST /v2/apps "{\"id\": \"/web\", \"cmd\": \"$CMD\", \"cpus\": 0.1, \"mem\": 16,
    \"instances\": 6, \"upgradeStrategy\": {\"minimumHealthCapacity\": 0.5,
    \"maximumOverCapacity\": 0.34} $HC}" >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
wait_current /web 6

# ---- minimumHealthCapacity 0.5, maximumOverCapacity 0.34: >= 3 ready, <= 8 tasks ----
poll web "$T/poll1"
t0=$(date +%s.%N)
api PUT /v2/apps/web '{"env": {"V": "2"}}' >/dev/null
[ "$(api_code)" = 200 ] || fail "upgrade 1: $(api_code)"
wait_current /web 6
t1=$(date +%s.%N)
poll_stop "$T/poll1"
check_samples "$T/poll1" "$t0" "$t1" 3 8

# ---- minimumHealthCapacity 1, maximumOverCapacity 0.5: >= 6 ready, <= 9 tasks ----
api PUT /v2/apps/web '{"upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.5}}' >/dev/null
wait_current /web 6
poll web "$T/poll2"
t0=$(date +%s.%N)
api POST /v2/apps/web/restart >/dev/null
[ "$(api_code)" = 200 ] || fail "restart: $(api_code)"
wait_current /web 6
t1=$(date +%s.%N)
poll_stop "$T/poll2"
check_samples "$T/poll2" "$t0" "$t1" 6 9

# ---- automatic rollback: the new version's tasks keep failing ----
good=$(app_task_ids /web)
good_version=$(app_json /web | jq -r .version)
poll web "$T/poll3"
t0=$(date +%s.%N)
api PUT /v2/apps/web '{"cmd": "echo broken; exit 1", "backoffSeconds": 0.2}' >/dev/null
[ "$(api_code)" = 200 ] || fail "bad upgrade: $(api_code)"
bad_dep=$(jq -r .deploymentId "$T/api.body")
wait_until 60 sh -c "[ \$(sed -n 's/^data: //p' $T/events.sse | jq -c 'select(.eventType == \"deployment_failed\" and .id == \"$bad_dep\")' | wc -l) = 1 ]" ||
    fail "no deployment_failed for the broken version"
[ "$(event_count deployment_failed ".id == \"$bad_dep\" and (.reason | test(\"automatic rollback\"))")" = 1 ] ||
    fail "deployment_failed should say rollback"
[ "$(event_count deployment_info ".plan.rollbackOf == \"$bad_dep\"")" = 1 ] ||
    fail "no deployment_info for the rollback"
wait_current /web 6
t1=$(date +%s.%N)
poll_stop "$T/poll3"
app_json /web | jq -e --arg v "$good_version" --arg c "$CMD" '.cmd == $c and .env.V == "2" and .version == $v' \
    >/dev/null || fail "rollback should restore the previous definition: $(app_json /web | jq -c '{cmd, env, version}')"
[ "$(master_running_tasks)" = "$(app_task_ids /web)" ] || fail "master and services disagree"
if [ -n "$HC" ]; then
    # New tasks never became healthy, so no good task was touched.
    check_samples "$T/poll3" "$t0" "$t1" 6 9
    [ "$(app_task_ids /web)" = "$good" ] || fail "the good tasks should never have been replaced"
else
    # Without health checks a new task counts as ready while it runs, even if it
    # crashes a moment later (as in Marathon): only the capacity bound holds.
    check_samples "$T/poll3" "$t0" "$t1" 0 9
fi
app_json /web | jq -e '.lastTaskFailure.state == "TASK_FAILED"' >/dev/null || fail "lastTaskFailure"

if [ -n "$HC" ]; then
    # ---- a version that never passes its health check is rolled back too ----
    api PUT /v2/apps/web "{\"env\": {\"V\": \"3\"}, \"healthChecks\": $(http_check /missing)}" >/dev/null
    [ "$(api_code)" = 200 ] || fail "unhealthy upgrade: $(api_code)"
    bad_dep=$(jq -r .deploymentId "$T/api.body")
    wait_until 90 sh -c "[ \$(sed -n 's/^data: //p' $T/events.sse | jq -c 'select(.eventType == \"deployment_failed\" and .id == \"$bad_dep\")' | wc -l) = 1 ]" ||
        fail "no rollback of the unhealthy version"
    wait_app /web 6 60
    [ "$(app_task_ids /web)" = "$good" ] || fail "good tasks replaced during the unhealthy upgrade"
fi
log "ok"
