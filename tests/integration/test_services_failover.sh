#!/usr/bin/env bash
# agora-services killed with SIGKILL at awkward moments and restarted: it
# resumes its framework, reconciles, and neither loses nor duplicates
# instances; scale-ups killed at two stages of their deployment (verified in
# progress at the kill) complete after the restart; a deployment waiting for
# resources survives the restart and completes; a task that died while
# agora-services was down is replaced afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1
wait_agents 1
start_services
FRAMEWORK_ID=$(framework_id)

# The app's tasks and the master's running tasks of the framework are the same set.
same_tasks() {
    [ "$(app_task_ids "$1")" = "$(master_running_tasks)" ]
}

check_exact() {
    local id=$1 n=$2
    wait_app "$id" "$n" 30
    wait_until 10 same_tasks "$id" ||
        fail "services and master disagree: $(app_task_ids "$id" | wc -l) vs $(master_running_tasks | wc -l)"
    [ "$(master_running_tasks | wc -l)" = "$n" ] || fail "master runs $(master_running_tasks | wc -l), want $n"
}

# Each instance becomes healthy (its COMMAND check passes) $READY_S seconds after
# it starts, so a scale-up is a deployment that lasts at least that long after
# its last task runs: long enough to kill agora-services in the middle of it.
READY_S=3
FO_CMD="sleep $READY_S; touch ready; exec sleep 1000"
FO_CHECK='[{"protocol": "COMMAND", "command": {"value": "test -e ready"}, "delaySeconds": 0,
    "intervalSeconds": 1, "timeoutSeconds": 5, "gracePeriodSeconds": 60, "maxConsecutiveFailures": 3}]'
api POST /v2/apps "{\"id\": \"/fo\", \"cmd\": \"$FO_CMD\", \"cpus\": 0.05, \"mem\": 8, \"instances\": 5,
    \"healthChecks\": $FO_CHECK,
    \"upgradeStrategy\": {\"minimumHealthCapacity\": 1, \"maximumOverCapacity\": 0.25}}" >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
check_exact /fo 5
ids=$(app_task_ids /fo)

# ---- plain restart: same tasks, same framework ----
restart_services
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "framework id changed"
check_exact /fo 5
[ "$(app_task_ids /fo)" = "$ids" ] || fail "tasks changed across a restart"

# ---- SIGKILL in the middle of a scale-up, at two stages ----
# started: right after the PUT answered (the log says how many of the new
#   tasks the master ran by then); running: once the master runs all of them,
#   none healthy yet.
# Each time the deployment must still be in progress when agora-services dies:
# listed by /v2/deployments before the kill and not logged as finished by the
# killed process.
master_count() {
    master_running_tasks | wc -l
}
master_count_is() { [ "$(master_count)" -eq "$1" ]; }
for stage in started running; do
    old=$(app_json /fo | jq .instances)
    n=$((old + 7))
    api PUT /v2/apps/fo "{\"instances\": $n}" >/dev/null
    [ "$(api_code)" = 200 ] || fail "scale to $n: $(api_code)"
    dep=$(jq -r .deploymentId "$T/api.body")
    case $stage in
    running) wait_until 30 master_count_is "$n" || fail "the new tasks do not run" ;;
    esac
    running_then=$(master_count)
    api GET /v2/deployments | jq -e --arg d "$dep" 'any(.[]; .id == $d)' >/dev/null ||
        fail "$stage: deployment $dep is not in progress before the kill"
    kill9_services
    ! grep -q "deployment finished id=$dep" "$T/services.log" ||
        fail "$stage: deployment $dep had finished before agora-services was killed"
    log "killed during the scale-up from $old to $n ($stage: the master ran $running_then tasks)"
    start_services "${SVC_FLAGS[@]}"
    check_exact /fo "$n"
    grep -q "deployment finished id=$dep" "$T/services.log" ||
        fail "$stage: the interrupted deployment $dep was not finished after the restart"
done
log "scale-ups interrupted when started and with all new tasks running (not healthy) converged"

# ---- SIGKILL right after a scale-down was accepted ----
api PUT /v2/apps/fo '{"instances": 4}' >/dev/null
[ "$(api_code)" = 200 ] || fail "scale down: $(api_code)"
restart_services
check_exact /fo 4

# ---- a deployment in flight survives ----
# The new version needs an agent called b*: none exists yet, so the deployment waits.
api PUT /v2/apps/fo '{"cmd": "sleep 1; touch ready; exec sleep 1001", "constraints": [["hostname", "LIKE", "b[0-9]"]]}' >/dev/null
[ "$(api_code)" = 200 ] || fail "upgrade: $(api_code)"
dep=$(jq -r .deploymentId "$T/api.body")
# It waits for an offer of a b* agent: in the queue, with nothing launched.
wait_until 30 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/queue | jq -e '.queue[0].app.id == \"/fo\"'" ||
    fail "the upgrade is not waiting in the queue: $(api GET /v2/queue)"
restart_services
api GET /v2/deployments | jq -e --arg d "$dep" '.[0].id == $d' >/dev/null ||
    fail "deployment lost in the restart: $(api GET /v2/deployments)"
[ "$(app_json /fo | jq .tasksRunning)" = 4 ] || fail "old tasks should keep running"
start_svc_agent b1
wait_agents 2
check_exact /fo 4
app_json /fo | jq -e '[.tasks[] | select(.host == "b1")] | length == 4' >/dev/null ||
    fail "new tasks should run on b1"
[ -z "$(comm -12 <(echo "$ids") <(app_task_ids /fo))" ] || fail "old tasks survived the upgrade"

# ---- a task dies while agora-services is down ----
kill9_services
victim=$(master_running_tasks | head -1)
launch=$(grep -l "$victim" "$T"/agent-*/meta/containers/*/launch.json | head -1)
pid=$(cat "$(dirname "$launch")/task.pid")
kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
# The master learns of its end (from the agent) while agora-services is down.
master_runs() { master_running_tasks | grep -qx "$1"; }
wait_until 30 eval '! master_runs "$victim"' || fail "the master still runs $victim"
start_services
wait_until 30 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/fo | jq -e --arg v $victim '[.app.tasks[].id] | index(\$v) == null'" ||
    fail "$victim still listed"
check_exact /fo 4
app_json /fo | jq -e --arg v "$victim" '.lastTaskFailure.taskId == $v' >/dev/null ||
    fail "lastTaskFailure should name $victim"
log "ok"
