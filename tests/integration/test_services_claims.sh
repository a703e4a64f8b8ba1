#!/usr/bin/env bash
# What docs/services.md promises, each checked by its effect: PUT
# {"version": V} rolls an app back to V; ?partialUpdate=false replaces the
# definition (fields left out return to their defaults) while a plain PUT
# merges; DELETE /v2/queue/{id}/delay relaunches a crashing app at once instead
# of after its backoff; ?event_type= narrows the event stream;
# /metrics?format=prometheus is Prometheus text with the JSON's figures;
# --max_tasks_per_offer=1 launches each task from an offer of its own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1
wait_agents 1
start_services --max_tasks_per_offer=1
FRAMEWORK_ID=$(framework_id)
start_events
# A second stream that only wants deployment_success.
# (the filter drops even the event_stream_attached greeting: wait for the headers)
curl -sN -D "$T/filtered.headers" "http://127.0.0.1:$SVC_PORT/v2/events?event_type=deployment_success" \
    >"$T/filtered.sse" 2>/dev/null &
PIDS+=($!)
wait_until 5 grep -qi '^content-type: text/event-stream' "$T/filtered.headers" || fail "no filtered event stream"

svc_metric() {
    api GET /metrics | jq -r --arg k "services/$1" '.[$k]'
}

# ---- --max_tasks_per_offer=1: 3 instances need 3 offers (one offer has room
# for all of them, so without the cap one offer would do).
offers0=$(svc_metric offers_received)
launched0=$(svc_metric tasks_launched)
expect_code 201 POST /v2/apps '{"id": "/per", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3}'
wait_app /per 3
launched=$(($(svc_metric tasks_launched) - launched0))
offers=$(($(svc_metric offers_received) - offers0))
[ "$launched" = 3 ] || fail "tasks_launched went up by $launched, expected 3"
[ "$offers" -ge 3 ] || fail "3 tasks launched from $offers offers under --max_tasks_per_offer=1"
log "--max_tasks_per_offer=1: 3 tasks from $offers offers"

# ---- PUT {"version": V}: back to a stored version.
expect_code 201 POST /v2/apps '{"id": "/rb", "cmd": "sleep 1001", "cpus": 0.1, "mem": 16}'
wait_app /rb 1
v1=$(app_json /rb | jq -r .version)
t1=$(app_task_ids /rb)
expect_code 200 PUT /v2/apps/rb '{"cmd": "sleep 1002"}'
wait_app /rb 1
v2=$(app_json /rb | jq -r .version)
t2=$(app_task_ids /rb)
[ "$v2" != "$v1" ] && [ "$t2" != "$t1" ] || fail "the config change made no new version or task"
expect_code 404 PUT /v2/apps/rb '{"version": "2001-01-01T00:00:00.000Z"}'
app_json /rb | jq -e '.cmd == "sleep 1002"' >/dev/null || fail "a PUT of an unknown version changed the app"
expect_code 200 PUT /v2/apps/rb "{\"version\": \"$v1\"}"
jq -e '.deploymentId and .version' "$T/api.body" >/dev/null || fail "rollback reply: $(cat "$T/api.body")"
wait_app /rb 1
app_json /rb | jq -e '.cmd == "sleep 1001"' >/dev/null || fail "rolled back to $v1 but cmd is $(app_json /rb | jq .cmd)"
t3=$(app_task_ids /rb)
[ "$t3" != "$t2" ] || fail "the rollback did not replace the task"
# What the agent runs for the new task (its launch.json) is v1's command.
spec=$(grep -l -F "$t3" "$T"/agent-a1/meta/containers/*/launch.json | head -1)
[ -n "$spec" ] && grep -q 'sleep 1001' "$spec" || fail "the agent does not run v1's command for $t3: $(cat "$spec" 2>/dev/null)"
log "rolled back /rb to $v1"

# ---- a plain PUT merges; ?partialUpdate=false replaces.
expect_code 201 POST /v2/apps '{"id": "/pu", "cmd": "sleep 1003", "cpus": 0.1, "mem": 16, "instances": 2,
    "env": {"A": "1"}, "labels": {"team": "x"}}'
wait_app /pu 2
expect_code 200 PUT /v2/apps/pu '{"cmd": "sleep 1004"}'
wait_app /pu 2
app_json /pu | jq -e '.cmd == "sleep 1004" and .instances == 2 and .env == {"A": "1"} and .labels == {"team": "x"}' >/dev/null ||
    fail "a plain PUT lost fields: $(app_json /pu | jq -c '{cmd, instances, env, labels}')"
expect_code 200 PUT '/v2/apps/pu?partialUpdate=false' '{"cmd": "sleep 1005", "cpus": 0.1, "mem": 16}'
wait_app /pu 1
app_json /pu | jq -e '.cmd == "sleep 1005" and .instances == 1 and .env == {} and .labels == {}' >/dev/null ||
    fail "partialUpdate=false kept fields: $(app_json /pu | jq -c '{cmd, instances, env, labels}')"

# ---- DELETE /v2/queue/{id}/delay: a crashing app waits out an hour of
# backoff, unless the delay is reset.
failures() {
    event_count status_update_event '.appId == "/crash" and .taskStatus == "TASK_FAILED"'
}
expect_code 201 POST /v2/apps '{"id": "/crash", "cmd": "exit 1", "cpus": 0.1, "mem": 16,
    "backoffSeconds": 3600, "backoffFactor": 1, "maxLaunchDelaySeconds": 3600}'
wait_until 30 sh -c "[ \"\$(curl -sf http://127.0.0.1:$SVC_PORT/v2/queue | jq '[.queue[] | select(.app.id == \"/crash\" and .delay.timeLeftSeconds > 600)] | length')\" = 1 ]" ||
    fail "no hour-long delay in the queue: $(api GET /v2/queue | jq -c .)"
n=$(failures)
[ "$n" = 1 ] || fail "$n failures before the delay was reset, expected 1"
expect_code 404 DELETE /v2/queue/nosuchapp/delay
expect_code 204 DELETE /v2/queue/crash/delay
wait_until 30 sh -c "[ \$(sed -n 's/^data: //p' '$T/events.sse' | jq -c 'select(.eventType == \"status_update_event\" and .appId == \"/crash\" and .taskStatus == \"TASK_FAILED\")' | wc -l) -ge 2 ]" ||
    fail "no relaunch after DELETE /v2/queue/crash/delay ($(failures) failures)"
expect_code 200 DELETE '/v2/apps/crash?force=true'

# ---- ?event_type=deployment_success: only those (after the greeting).
n_all=$(event_count deployment_success)
wait_until 10 sh -c "[ \$(grep -c '^event: deployment_success' '$T/filtered.sse') -ge $n_all ]" ||
    fail "the filtered stream has $(grep -c '^event: deployment_success' "$T/filtered.sse") deployment_success, the full one $n_all"
[ "$n_all" -ge 5 ] || fail "only $n_all deployments succeeded"
others=$(grep '^event: ' "$T/filtered.sse" | { grep -v -e '^event: deployment_success$' -e '^event: event_stream_attached$' || true; } | sort | uniq -c)
[ -z "$others" ] || fail "the filtered stream carries other events: $others"
[ "$(event_count status_update_event)" -gt 0 ] && [ "$(event_count api_post_event)" -gt 0 ] ||
    fail "the full stream lacks the events the filter left out"

# ---- /metrics?format=prometheus
curl -s -D "$T/prom.headers" -o "$T/prom.txt" "http://127.0.0.1:$SVC_PORT/metrics?format=prometheus"
grep -qi '^content-type: text/plain' "$T/prom.headers" || fail "Prometheus content type: $(cat "$T/prom.headers")"
! jq -e . "$T/prom.txt" >/dev/null 2>&1 || fail "format=prometheus answered JSON"
json_launched=$(svc_metric tasks_launched)
prom_launched=$(awk '$1 ~ /tasks_launched$/ {print $2}' "$T/prom.txt")
[ -n "$prom_launched" ] && [ "$prom_launched" = "$json_launched" ] ||
    fail "tasks_launched: Prometheus '$prom_launched', JSON '$json_launched': $(head -20 "$T/prom.txt")"
grep -Eq '^# TYPE [a-z_]+tasks_launched counter$' "$T/prom.txt" || fail "no TYPE line for tasks_launched"
bad=$(grep -v -E '^(# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|summary)|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+|)$' "$T/prom.txt" | head -3 || true)
[ -z "$bad" ] || fail "lines that are not Prometheus text: $bad"
log "ok"
