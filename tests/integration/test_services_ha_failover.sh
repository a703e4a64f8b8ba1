#!/usr/bin/env bash
# agora-services in high availability: the leading instance is killed (-9) in
# the middle of a deployment (a scale-up whose new tasks run but are not yet
# healthy). The other instance takes over within a few seconds (session
# timeout 2 s) from the state in ZooKeeper: the same framework, the same tasks
# (none lost, none duplicated), every app version, and the deployment
# completes under it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/services_lib.sh"
. "$(dirname "$0")/services_ha.sh"

svc_ha_cluster
l1=$LEADER
o1=$OTHER
svc_use "$l1"
FRAMEWORK_ID=$(framework_id)

# Each instance becomes healthy (its COMMAND check passes) $READY_S seconds
# after it starts, so a scale-up lasts at least that long after its last task
# runs (as in test_services_failover).
READY_S=4
FO_CMD="sleep $READY_S; touch ready; exec sleep 1000"
FO_CHECK='[{"protocol": "COMMAND", "command": {"value": "test -e ready"}, "delaySeconds": 0,
    "intervalSeconds": 1, "timeoutSeconds": 5, "gracePeriodSeconds": 60, "maxConsecutiveFailures": 3}]'
api POST /v2/apps "{\"id\": \"/fo\", \"cmd\": \"$FO_CMD\", \"cpus\": 0.05, \"mem\": 8, \"instances\": 2,
    \"healthChecks\": $FO_CHECK}" >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
wait_app /fo 2 40
# A second version (labels only), so there is a history to keep.
api PUT /v2/apps/fo '{"labels": {"v": "2"}}' >/dev/null
[ "$(api_code)" = 200 ] || fail "relabel: $(api_code)"
wait_app /fo 2 40
versions=$(api GET /v2/apps/fo/versions | jq -c '.versions | sort')
[ "$(echo "$versions" | jq length)" -ge 2 ] || fail "expected two versions: $versions"

# Scale up; kill -9 the leader once the master runs every new task, none healthy yet.
api PUT /v2/apps/fo '{"instances": 6}' >/dev/null
[ "$(api_code)" = 200 ] || fail "scale to 6: $(api_code)"
dep=$(jq -r .deploymentId "$T/api.body")
master_count_is() { [ "$(master_running_tasks | wc -l)" -eq "$1" ]; }
wait_until 30 master_count_is 6 || fail "the new tasks do not run"
before=$(master_running_tasks)
api GET /v2/deployments | jq -e --arg d "$dep" 'any(.[]; .id == $d)' >/dev/null ||
    fail "deployment $dep is not in progress before the kill"
versions=$(api GET /v2/apps/fo/versions | jq -c '.versions | sort')
t0=$(date +%s%N)
kill9_svc "$l1"
! grep -q "deployment finished id=$dep" "$T/svc-$l1.log" ||
    fail "deployment $dep had finished before the leader was killed"
log "killed the leader $l1 in the middle of deployment $dep (6 tasks running, not all healthy)"

l2=$(wait_svc_leader 20 "$l1") || fail "no new leader after kill -9: $o1 says '$(svc_leader_of "$o1")'"
took=$((($(date +%s%N) - t0) / 1000000))
log "$l2 leads ${took} ms after the kill"
[ "$took" -lt 10000 ] || fail "the takeover took ${took} ms"
svc_use "$l2"
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "the new leader runs another framework"
wait_app /fo 6 40
wait_until 20 grep -q "deployment finished id=$dep" "$T/svc-$l2.log" ||
    fail "the interrupted deployment $dep was not finished by $l2"
[ "$(app_task_ids /fo)" = "$before" ] || fail "the tasks changed: before $(echo $before), after $(echo $(app_task_ids /fo))"
[ "$(master_running_tasks)" = "$before" ] || fail "the master runs other tasks: $(echo $(master_running_tasks))"
[ "$(api GET /v2/apps/fo/versions | jq -c '.versions | sort')" = "$versions" ] ||
    fail "versions differ: before $versions, after $(api GET /v2/apps/fo/versions | jq -c '.versions | sort')"
[ "$(app_json /fo | jq .tasksHealthy)" = 6 ] || fail "not all healthy: $(app_json /fo | jq -c '{tasksHealthy, tasksRunning}')"
api GET /v2/deployments | jq -e 'length == 0' >/dev/null || fail "deployments left: $(api GET /v2/deployments)"
log "PASS"
