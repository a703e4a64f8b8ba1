#!/usr/bin/env bash
# An operator tears down agora-services' framework (POST /teardown): the
# master tells it at once (fatal "Framework removed"); agora-services logs it
# at error level and deliberately registers as a new framework, whose app
# runs its instances again. Not discovered 75 s later by a heartbeat timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1
wait_agents 1
start_services
FRAMEWORK_ID=$(framework_id)

api POST /v2/apps '{"id": "/td", "cmd": "sleep 1000", "cpus": 0.05, "mem": 8, "instances": 2}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code)"
wait_app /td 2
old_ids=$(app_task_ids /td)

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "frameworkId=$FRAMEWORK_ID" "http://127.0.0.1:$MASTER_PORT/teardown")
[ "$code" = 200 ] || fail "teardown: HTTP $code"
wait_until 10 grep -q "ERROR services: FRAMEWORK REMOVED" "$T/services.log" ||
    fail "agora-services did not log the removal at error level within 10 s"
# A new id, not the old one, nor none (between the removal and the new
# subscription /v2/info has no framework id).
new_framework() {
    local id
    id=$(framework_id)
    [ -n "$id" ] && [ "$id" != null ] && [ "$id" != "$FRAMEWORK_ID" ]
}
wait_until 10 new_framework || fail "agora-services did not register a new framework"
FRAMEWORK_ID=$(framework_id)
# The new framework's instances replace the killed ones (wait for that event:
# right after the re-registration the app may still list the old tasks).
new_tasks() { app_is /td 2 && [ "$(app_task_ids /td)" != "$old_ids" ]; }
wait_until 30 new_tasks || fail "the app still lists the killed tasks: $(app_task_ids /td | tr '\n' ' ')"
wait_until 10 sh -c "[ \"\$(curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -r --arg f '$FRAMEWORK_ID' '[.frameworks[] | select(.id == \$f) | .tasks[] | select(.state == \"TASK_RUNNING\")] | length')\" = 2 ]" ||
    fail "the master does not run the app's 2 tasks under the new framework"
kill -0 "$SVC_PID" || fail "agora-services exited"
log "ok"
