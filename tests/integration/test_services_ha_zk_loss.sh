#!/usr/bin/env bash
# agora-services in high availability when ZooKeeper goes away: the leader
# stops at once (its framework disconnects from the master; the tasks keep
# running there), no instance serves the API as leader (503), and once ZooKeeper is back one leads again with the same
# framework, tasks and app.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/services_lib.sh"
. "$(dirname "$0")/services_ha.sh"

svc_ha_cluster
svc_use "$LEADER"
FRAMEWORK_ID=$(framework_id)
api POST /v2/apps '{"id": "/web", "cmd": "exec sleep 1000", "cpus": 0.05, "mem": 8, "instances": 2}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
wait_app /web 2 30
ids=$(app_task_ids /web)

fw_active() {
    master_json /frameworks | jq -e --arg f "$FRAMEWORK_ID" 'any(.frameworks[]; .id == $f and .active)' >/dev/null
}
t0=$(date +%s%N)
zk_kill 1
wait_until 10 grep -q "lost leadership: the connection to ZooKeeper was lost" "$T/svc-$LEADER.log" ||
    fail "the leader did not stop when ZooKeeper went away"
wait_until 10 eval '! fw_active' || fail "the framework is still connected to the master"
log "the leader stopped $((($(date +%s%N) - t0) / 1000000)) ms after ZooKeeper went away"
[ "$(master_running_tasks)" = "$ids" ] || fail "the tasks should keep running at the master"
for n in s1 s2; do
    wait_until 10 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${SP[$n]}/v2/apps)\" = 503 ]" ||
        fail "$n should answer 503 without a leader"
done
# The old leader, started over, knows none; the other may still name the last
# one it heard of (it cannot tell), and proxying to it gets the 503 above.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${SP[$LEADER]}/v2/leader")" = 404 ] ||
    fail "$LEADER should know no leader"
log "without ZooKeeper: no leader, the API answers 503, the tasks run on"

zk_restart 1
l2=$(wait_svc_leader 40) || fail "no leader once ZooKeeper is back: s1 '$(svc_leader_of s1)', s2 '$(svc_leader_of s2)'"
log "ZooKeeper back: $l2 leads"
svc_use "$l2"
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "another framework after ZooKeeper came back"
wait_until 20 fw_active || fail "the framework did not come back"
wait_app /web 2 30
[ "$(app_task_ids /web)" = "$ids" ] || fail "the tasks changed"
[ "$(master_running_tasks)" = "$ids" ] || fail "the master runs other tasks"
log "PASS"
