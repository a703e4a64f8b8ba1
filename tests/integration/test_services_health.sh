#!/usr/bin/env bash
# Health-based replacement: an instance failing its health check is replaced
# surge-first (the replacement is healthy before the old one is killed), the
# number of healthy instances never drops, and kills of unhealthy instances
# follow the global rate limit. Skipped (77) when the agent does not run
# health checks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1
wait_agents 1
start_services --unhealthy_kill_rate=0.2 --unhealthy_kill_burst=1
FRAMEWORK_ID=$(framework_id)
if ! health_checks_supported; then
    echo "SKIP: the agent does not run health checks" >&2
    exit 77
fi
start_events

api POST /v2/apps "{\"id\": \"/hc\", \"cmd\": \"$HTTPD_CMD\", \"cpus\": 0.05, \"mem\": 8,
    \"instances\": 3, \"upgradeStrategy\": {\"minimumHealthCapacity\": 1, \"maximumOverCapacity\": 0.34},
    \"healthChecks\": $(http_check /health)}" >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
healthy_is() {
    app_json /hc | jq -e --argjson n "$1" '.tasksHealthy == $n and (.deployments | length) == 0' >/dev/null
}
wait_until 60 healthy_is 3 || fail "3 healthy instances expected: $(app_json /hc | jq -c '{tasksRunning, tasksHealthy}')"

# Sample: running instances not being killed, and healthy ones among them.
poll_start "$T/poll" /v2/apps/hc

# ---- one instance turns unhealthy: replaced surge-first ----
victim=$(app_task_ids /hc | head -1)
originals=$(app_task_ids /hc | jq -R . | jq -s -c .)
t0=$(date +%s.%N)
rm "$(sandbox "$victim")/www/health" || fail "no sandbox for $victim"
wait_until 60 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/hc | jq -e --arg v $victim '[.app.tasks[].id] | index(\$v) == null'" ||
    fail "$victim not replaced"
wait_until 30 healthy_is 3 || fail "not back to 3 healthy"
t1=$(date +%s.%N)
poll_stop "$T/poll"
[ "$(event_count health_status_changed_event ".taskId == \"$victim\" and (.alive | not)")" -ge 1 ] ||
    fail "no unhealthy event for $victim"
[ "$(event_count unhealthy_instance_kill_event ".taskId == \"$victim\"")" = 1 ] ||
    fail "no unhealthy_instance_kill_event for $victim"
# The replacement was healthy before the kill: a healthy verdict of a task
# that is not one of the three original ones comes before the kill event in
# the stream.
events_json | jq -s -e --arg v "$victim" --argjson orig "$originals" '
    (map(.eventType == "unhealthy_instance_kill_event" and .taskId == $v) | index(true)) as $kill |
    (map(.eventType == "health_status_changed_event" and .alive and
         (.taskId as $t | $orig | index($t) == null)) | index(true)) as $new |
    $new != null and $kill != null and $new < $kill' >/dev/null ||
    fail "the replacement should be healthy before the unhealthy instance is killed"

# Surge-first: never fewer than 3 instances, never fewer than the 2 healthy ones
# left; checked on samples that cover the replacement (its health check needs
# 2 failures 1 s apart, the new task a passing check: seconds, so 50 samples
# at the least).
log "sampling while replacing: $(poll_stats "$T/poll" "$t0" "$t1")"
poll_require "$T/poll" "$t0" "$t1" 50
poll_window "$T/poll" "$t0" "$t1" \
    '[.app.tasks[] | select((.killing | not) and .state == "TASK_RUNNING")] as $r |
     [($r | length), ($r | map(select(.healthCheckResults[0].alive // false)) | length)] | @tsv' | awk '$1 < 3 || $2 < 2 { bad++; print "bad sample: " $0 > "/dev/stderr" }
    END { exit bad > 0 }' || fail "capacity dropped while replacing"

# ---- all three turn unhealthy: kills follow the rate limit (1 per 5 s) ----
for t in $(app_task_ids /hc); do rm "$(sandbox "$t")/www/health"; done
wait_until 120 sh -c "[ \$(sed -n 's/^data: //p' $T/events.sse | jq -c 'select(.eventType == \"unhealthy_instance_kill_event\")' | wc -l) -ge 4 ]" ||
    fail "unhealthy instances not replaced"
events_json | jq -s -e '[.[] | select(.eventType == "unhealthy_instance_kill_event") | .timestamp |
    sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601] | .[1:] as $t | . as $all |
    [range(1; length) | $all[.] - $all[. - 1]] | all(. >= 4)' >/dev/null ||
    fail "unhealthy kills closer than the rate limit allows"
wait_until 90 healthy_is 3 || fail "not back to 3 healthy after the second round"
log "ok"
