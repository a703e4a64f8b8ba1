#!/usr/bin/env bash
# agora-services on a real cluster: deploy, scale 1 -> 10 -> 3 (YOUNGEST_FIRST),
# a killed instance is replaced (lastTaskFailure, backoff), API kills with and
# without scale, bad requests rejected without effect, restart, versions,
# groups, queue, events, and removal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1
start_svc_agent a2
wait_agents 2
start_services
FRAMEWORK_ID=$(framework_id)
start_events

# ---- deploy ----
api POST /v2/apps '{"id": "/test/sleep", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16}' >/dev/null
[ "$(api_code)" = 201 ] || fail "POST /v2/apps: $(api_code) $(cat "$T/api.body")"
jq -e '.id == "/test/sleep" and .instances == 1 and (.deployments | length) == 1 and
       .backoffFactor == 1.15 and .upgradeStrategy.minimumHealthCapacity == 1' "$T/api.body" \
    >/dev/null || fail "POST reply: $(cat "$T/api.body")"
wait_app /test/sleep 1
app_json /test/sleep | jq -e '.tasks[0].id | startswith("test_sleep.")' >/dev/null ||
    fail "task id should be test_sleep.<uuid>"
first=$(app_task_ids /test/sleep)

# ---- scale 1 -> 10 -> 3 ----
api PUT /v2/apps/test/sleep '{"instances": 10}' >/dev/null
[ "$(api_code)" = 200 ] || fail "scale to 10: $(api_code) $(cat "$T/api.body")"
wait_app /test/sleep 10
[ "$(master_running_tasks | wc -l)" = 10 ] || fail "master should run 10 tasks"
[ "$(app_task_ids /test/sleep)" = "$(master_running_tasks)" ] || fail "task sets differ"
app_json /test/sleep >"$T/before-scale-down.json"
api PUT /v2/apps/test/sleep '{"instances": 3}' >/dev/null
wait_app /test/sleep 3
# YOUNGEST_FIRST: the first task stays, and no survivor is younger than a killed task.
app_task_ids /test/sleep | grep -qx "$first" || fail "YOUNGEST_FIRST killed the oldest task"
jq -e --argjson keep "$(app_json /test/sleep | jq '[.tasks[].id]')" \
    '([.tasks[] | select(.id as $i | $keep | index($i)) | .stagedAt] | max) <=
     ([.tasks[] | select(.id as $i | $keep | index($i) | not) | .stagedAt] | min)' \
    "$T/before-scale-down.json" >/dev/null || fail "YOUNGEST_FIRST kept a younger task"
wait_until 10 sh -c "[ \$(curl -sf http://127.0.0.1:$MASTER_PORT/state | jq --arg f $FRAMEWORK_ID '[.frameworks[] | select(.id == \$f) | .tasks[] | select(.state == \"TASK_RUNNING\")] | length') = 3 ]" ||
    fail "master should run 3 tasks"
# A scale is not a config change.
app_json /test/sleep | jq -e '.versionInfo.lastConfigChangeAt != .versionInfo.lastScalingAt' \
    >/dev/null || fail "scale changed lastConfigChangeAt"

# ---- an instance dies: replaced ----
victim=$(app_task_ids /test/sleep | head -1)
pidfile=$(grep -l "$victim" "$T"/agent-*/meta/containers/*/launch.json | head -1)
pidfile=$(dirname "$pidfile")/task.pid
[ -f "$pidfile" ] || fail "no task.pid for $victim"
kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || kill -KILL "$(cat "$pidfile")"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/test/sleep | jq -e --arg v $victim '.app.lastTaskFailure.taskId == \$v'" ||
    fail "lastTaskFailure should name $victim"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/test/sleep | jq -e --arg v $victim '.app.tasksRunning == 3 and ([.app.tasks[].id] | index(\$v) == null)'" ||
    fail "$victim not replaced"
[ "$(event_count status_update_event ".taskId == \"$victim\" and .taskStatus == \"TASK_FAILED\"")" -ge 1 ] ||
    fail "no TASK_FAILED event for $victim"

# ---- kills through the API ----
t1=$(app_task_ids /test/sleep | head -1)
api DELETE "/v2/apps/test/sleep/tasks/$t1" >/dev/null
[ "$(api_code)" = 200 ] || fail "kill task: $(api_code)"
jq -e --arg t "$t1" '.task.id == $t' "$T/api.body" >/dev/null || fail "kill reply: $(cat "$T/api.body")"
wait_until 20 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/test/sleep | jq -e --arg v $t1 '.app.tasksRunning == 3 and ([.app.tasks[].id] | index(\$v) == null)'" ||
    fail "$t1 not replaced"
t2=$(app_task_ids /test/sleep | head -1)
api POST '/v2/tasks/delete?scale=true' "{\"ids\": [\"$t2\"]}" >/dev/null
[ "$(api_code)" = 200 ] || fail "tasks/delete: $(api_code) $(cat "$T/api.body")"
jq -e '.deploymentId' "$T/api.body" >/dev/null || fail "scale kill should answer a deployment"
wait_app /test/sleep 2
[ "$(app_json /test/sleep | jq .instances)" = 2 ] || fail "instances should be 2 after scale=true"

# ---- bad requests change nothing ----
before=$(app_json /test/sleep | jq -c '{version, instances, cmd}')
napps=$(api GET /v2/apps | jq '.apps | length')
expect_code 400 POST /v2/apps '{"id": "/bad", "cmd": '
expect_code 400 POST /v2/apps '{"id": "/bad", "cmd": "x", "cpus": "lots"}'
jq -e '.message == "Invalid JSON" and .details[0].path == "/cpus"' "$T/api.body" >/dev/null ||
    fail "400 shape: $(cat "$T/api.body")"
expect_code 422 POST /v2/apps '{"id": "/bad", "cmd": "x", "cpus": -1, "mem": 0}'
jq -e '.message == "Object is not valid" and ([.details[].path] | index("/cpus") != null and index("/mem") != null)' \
    "$T/api.body" >/dev/null || fail "422 shape: $(cat "$T/api.body")"
expect_code 422 POST /v2/apps '{"id": "/Bad Id", "cmd": "x"}'
expect_code 422 POST /v2/apps '{"id": "/bad", "cmd": "x", "constraints": [["hostname", "NEAR"]]}'
expect_code 409 POST /v2/apps '{"id": "/test/sleep", "cmd": "x"}'
expect_code 422 POST /v2/apps '{"id": "/test/sleep/inner", "cmd": "x"}'
expect_code 422 PUT /v2/apps/test/sleep '{"instances": -3}'
expect_code 422 PUT /v2/apps/test/sleep '{"id": "/other", "instances": 3}'
expect_code 422 PATCH /v2/apps/test/sleep '{"healthChecks": [{"portIndex": 5}]}'
expect_code 404 GET /v2/apps/nope
expect_code 404 DELETE /v2/apps/nope
expect_code 404 PATCH /v2/apps/nope '{"instances": 1}'
expect_code 404 DELETE /v2/deployments/nope
expect_code 405 DELETE /v2/apps
[ "$(app_json /test/sleep | jq -c '{version, instances, cmd}')" = "$before" ] ||
    fail "a rejected request changed the app"
[ "$(api GET /v2/apps | jq '.apps | length')" = "$napps" ] || fail "a rejected request added an app"
[ "$(api GET /v2/deployments | jq length)" = 0 ] || fail "a rejected request started a deployment"

# ---- a deployment in progress locks the app (409 unless force) ----
api PUT /v2/apps/test/sleep '{"cpus": 100}' >/dev/null # cannot be placed: stays in progress
[ "$(api_code)" = 200 ] || fail "upgrade: $(api_code)"
dep=$(jq -r .deploymentId "$T/api.body")
expect_code 409 PUT /v2/apps/test/sleep '{"instances": 5}'
jq -e --arg d "$dep" '.deployments[0].id == $d' "$T/api.body" >/dev/null || fail "409 shape"
api GET /v2/queue | jq -e '.queue[0].count >= 1 and .queue[0].app.id == "/test/sleep"' >/dev/null ||
    fail "queue should show the waiting task: $(api GET /v2/queue)"
api GET /v2/deployments | jq -e --arg d "$dep" '.[0].id == $d and .[0].affectedApps == ["/test/sleep"]' \
    >/dev/null || fail "deployments: $(api GET /v2/deployments)"
# Cancelling rolls back to the previous definition.
api DELETE "/v2/deployments/$dep" >/dev/null
[ "$(api_code)" = 200 ] || fail "rollback: $(api_code) $(cat "$T/api.body")"
wait_app /test/sleep 2
[ "$(app_json /test/sleep | jq .cpus)" = 0.1 ] || fail "rollback should restore cpus 0.1"
[ "$(event_count deployment_failed ".id == \"$dep\"")" = 1 ] || fail "no deployment_failed for $dep"

# ---- restart replaces every task ----
ids_before=$(app_task_ids /test/sleep)
api POST /v2/apps/test/sleep/restart >/dev/null
[ "$(api_code)" = 200 ] || fail "restart: $(api_code)"
wait_app /test/sleep 2
[ -z "$(comm -12 <(echo "$ids_before") <(app_task_ids /test/sleep))" ] || fail "restart kept old tasks"

# ---- versions, groups, info ----
nv=$(api GET /v2/apps/test/sleep/versions | jq '.versions | length')
[ "$nv" -ge 6 ] || fail "expected >= 6 versions, have $nv"
v0=$(api GET /v2/apps/test/sleep/versions | jq -r '.versions[-1]')
api GET "/v2/apps/test/sleep/versions/$v0" | jq -e '.instances == 1' >/dev/null ||
    fail "first version should have 1 instance"
api GET /v2/groups | jq -e '.groups[0].id == "/test" and .groups[0].apps[0].id == "/test/sleep"' \
    >/dev/null || fail "groups: $(api GET /v2/groups)"
api GET /v2/groups/test | jq -e '.id == "/test"' >/dev/null || fail "group /test"
api GET /v2/info | jq -e --arg f "$FRAMEWORK_ID" '.frameworkId == $f and .name == "agora-services"' \
    >/dev/null || fail "info"
api GET /v2/leader | jq -e ".leader == \"127.0.0.1:$SVC_PORT\"" >/dev/null || fail "leader"
[ "$(api GET /ping)" = pong ] || fail "ping"
api GET /metrics | jq -e '."services/tasks_launched" >= 10' >/dev/null || fail "metrics"
api GET '/v2/tasks?status=running' | jq -e '.tasks | length == 2' >/dev/null || fail "/v2/tasks"

# ---- events ----
for ev in api_post_event deployment_info deployment_success deployment_failed status_update_event; do
    [ "$(event_count $ev)" -ge 1 ] || fail "no $ev event"
done

# ---- removal ----
api DELETE /v2/apps/test/sleep >/dev/null
[ "$(api_code)" = 200 ] || fail "delete: $(api_code)"
wait_until 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$SVC_PORT/v2/apps/test/sleep)\" = 404 ]" ||
    fail "app not removed"
wait_until 10 sh -c "[ -z \"\$(curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -r '.frameworks[].tasks[] | select(.state == \"TASK_RUNNING\") | .id')\" ]" ||
    fail "tasks still running after removal"
[ "$(event_count app_terminated_event '.appId == "/test/sleep"')" = 1 ] || fail "no app_terminated_event"
log "ok"
