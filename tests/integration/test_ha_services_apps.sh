#!/usr/bin/env bash
# The leading master killed (-9) under agora-services running an app: the
# tasks keep running as the same processes, agora-services follows the new
# leader with its framework id, nothing is lost or duplicated, and the app
# still scales afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/ha.sh"

zk_start 1
ZK="zk://$ZK_HOSTS/agora"
for n in m1 m2 m3; do
    start_ha_master "$n" --zk_session_timeout=2secs
done
l1=$(wait_leader 20) || fail "no master was elected"
use_leader "$l1"
AGENT_MASTER=$ZK start_svc_agent a1
AGENT_MASTER=$ZK start_svc_agent a2
wait_agents 2
SVC_MASTER=$ZK start_services
FRAMEWORK_ID=$(framework_id)
expect_code 201 POST /v2/apps '{"id": "/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 3}'
wait_app /web 3
before=$(app_task_ids /web)
pids_before=$(for a in a1 a2; do curl -sf "http://127.0.0.1:${AGENT_PORT[$a]}/state" |
    jq -r '.frameworks[].executors[].tasks[] | select(.state == "TASK_RUNNING") | .pid'; done | sort)
[ "$(master_running_tasks)" = "$before" ] || fail "the master's tasks differ from the app's"

kill -KILL "${MPID[$l1]}"
l2=$(wait_leader 15 "$l1") || fail "no new leader after kill -9"
use_leader "$l2"
log "new leader: $l2"
wait_agents 2
fw_active() { master_json /frameworks | jq -e --arg f "$FRAMEWORK_ID" '.frameworks[] | select(.id == $f) | .active' >/dev/null; }
wait_until 20 fw_active ||
    fail "agora-services did not re-subscribe to $l2"
same_tasks() { [ "$(master_running_tasks)" = "$before" ]; }
wait_until 15 same_tasks ||
    fail "the new leader does not have the app's 3 tasks: $(master_running_tasks | tr '\n' ' ')"
[ "$(app_task_ids /web)" = "$before" ] || fail "the app's tasks changed in the failover"
pids_after=$(for a in a1 a2; do curl -sf "http://127.0.0.1:${AGENT_PORT[$a]}/state" |
    jq -r '.frameworks[].executors[].tasks[] | select(.state == "TASK_RUNNING") | .pid'; done | sort)
[ "$pids_after" = "$pids_before" ] || fail "the tasks run as other processes after the failover"
[ "$(master_json /frameworks | jq '[.frameworks[] | select(.name == "agora-services")] | length')" = 1 ] ||
    fail "agora-services is registered twice"

# It still scales, under the new leader.
expect_code 200 PUT /v2/apps/web '{"instances": 5}'
wait_app /web 5
[ "$(master_running_tasks | wc -l)" = 5 ] || fail "the master does not run 5 tasks of the app"
[ "$(app_task_ids /web | sort -u | wc -l)" = 5 ] || fail "duplicate task ids"
comm -23 <(echo "$before") <(app_task_ids /web) | grep -q . && fail "a task of before the failover is gone"
log "PASS"
