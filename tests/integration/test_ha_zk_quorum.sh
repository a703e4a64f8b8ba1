#!/usr/bin/env bash
# High availability over a three-server ZooKeeper ensemble: losing one server
# changes nothing that matters (a leader leads, tasks run, a framework
# launches); losing the quorum stops every master from leading while the
# tasks keep running; when the quorum is back, a leader is elected, the agent
# and the framework come back to it with the same task and it launches again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/ha.sh"

zk_start 3
ZK="zk://$ZK_HOSTS/agora"
start_ha_master m1 --zk_session_timeout=2secs
start_ha_master m2 --zk_session_timeout=2secs
l=$(wait_leader 20) || fail "no master was elected"
use_leader "$l"
AGENT_MASTER=$ZK start_agent a1
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
SCHED_MASTER=$ZK start_scheduler fw1 --failover_timeout=600
fw_id=$(expect_event 20 '.event == "subscribed"' "subscription" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "first offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 RUNNING" >/dev/null
t1_pid=$(curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" | jq -r '.frameworks[].executors[].tasks[] | select(.id == "t1") | .pid')

# One server down: still a leader, and a launch goes through it.
zk_kill 3
log "ZooKeeper server 3 killed"
sleep 3
l=$(wait_leader 15) || fail "no leader with two of three ZooKeeper servers"
use_leader "$l"
wait_agents 1
send revive
ev=$(expect_event 20 '.event == "offers"' "offer with one ZooKeeper server down")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t2 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 15 '.event == "update" and .task_id == "t2" and .state == "TASK_RUNNING"' "t2 RUNNING" >/dev/null

# The quorum lost: no master leads; the tasks run on.
zk_kill 2
log "ZooKeeper server 2 killed: no quorum"
wait_until 15 sh -c "! { curl -sf -m 1 http://127.0.0.1:${MP[m1]}/state | jq -e .elected; } && ! { curl -sf -m 1 http://127.0.0.1:${MP[m2]}/state | jq -e .elected; }" ||
    fail "a master still leads without a ZooKeeper quorum"
sleep 3
leader >/dev/null && fail "a master leads without a ZooKeeper quorum"
kill -0 "$t1_pid" || fail "t1 died with the quorum"

# The quorum back: a leader, the agent and the framework with it, t1 the same process.
zk_restart 2
zk_restart 3
log "ZooKeeper servers 2 and 3 restarted"
l=$(wait_leader 60) || fail "no leader once the quorum was back"
use_leader "$l"
log "leader after the quorum came back: $l"
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].id')" = "$agent_id" ] || fail "the agent came back with another id"
expect_event 30 '.event == "subscribed" and .framework_id == "'"$fw_id"'"' "re-subscription" >/dev/null
wait_until 15 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/tasks | jq -e '[.tasks[] | select(.state == \"TASK_RUNNING\")] | length == 2'" ||
    fail "t1 and t2 are not RUNNING on the new leader"
kill -0 "$t1_pid" || fail "t1 died"
ev=$(expect_event 20 '.event == "offers"' "offer after the quorum came back")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t3 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 15 '.event == "update" and .task_id == "t3" and .state == "TASK_RUNNING"' "t3 RUNNING" >/dev/null
log "PASS"
