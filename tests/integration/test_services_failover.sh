#!/usr/bin/env bash
# agora-services killed with SIGKILL at awkward moments and restarted: it
# resumes its framework, reconciles, and neither loses nor duplicates
# instances; a deployment in flight survives the restart and completes; a task
# that died while agora-services was down is replaced afterwards.
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

api POST /v2/apps '{"id": "/fo", "cmd": "sleep 1000", "cpus": 0.05, "mem": 8, "instances": 5,
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.25}}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code)"
check_exact /fo 5
ids=$(app_task_ids /fo)

# ---- plain restart: same tasks, same framework ----
restart_services
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "framework id changed"
check_exact /fo 5
[ "$(app_task_ids /fo)" = "$ids" ] || fail "tasks changed across a restart"

# ---- SIGKILL in the middle of launching ----
for delay in 0 0.05 0.2; do
    n=$(( $(app_json /fo | jq .instances) + 7 ))
    api PUT /v2/apps/fo "{\"instances\": $n}" >/dev/null
    sleep "$delay"
    restart_services
    check_exact /fo "$n"
done
log "scale-ups interrupted at 0, 50 and 200 ms converged"

# ---- SIGKILL in the middle of killing ----
api PUT /v2/apps/fo '{"instances": 4}' >/dev/null
restart_services
check_exact /fo 4

# ---- a deployment in flight survives ----
# The new version needs an agent called b*: none exists yet, so the deployment waits.
api PUT /v2/apps/fo '{"cmd": "sleep 1001", "constraints": [["hostname", "LIKE", "b[0-9]"]]}' >/dev/null
[ "$(api_code)" = 200 ] || fail "upgrade: $(api_code)"
dep=$(jq -r .deploymentId "$T/api.body")
sleep 1
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
sleep 1
start_services
wait_until 30 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/fo | jq -e --arg v $victim '[.app.tasks[].id] | index(\$v) == null'" ||
    fail "$victim still listed"
check_exact /fo 4
app_json /fo | jq -e --arg v "$victim" '.lastTaskFailure.taskId == $v' >/dev/null ||
    fail "lastTaskFailure should name $victim"
log "ok"
