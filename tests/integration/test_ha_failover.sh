#!/usr/bin/env bash
# High availability: three masters elect a leader through a real ZooKeeper;
# an agent and a framework follow it (--master=zk://...). The leader is killed
# (-9) with a task running: a standby leads once the session times out, the
# agents (one following ZooKeeper, one a plain list of the masters' addresses)
# re-register, one with the same task (the same process), the framework
# re-subscribes with its id and launches again; the replicated registry knows
# both. Then SIGTERM on the new leader hands leadership over at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/ha.sh"

zk_start 1
ZK="zk://$ZK_HOSTS/agora"
for n in m1 m2 m3; do
    start_ha_master "$n" --zk_session_timeout=2secs
done
l1=$(wait_leader 20) || fail "no master was elected"
log "leader: $l1"
use_leader "$l1"
elected=$(for n in m1 m2 m3; do curl -sf "http://127.0.0.1:${MP[$n]}/state" | jq -r .elected; done | sort | tr '\n' ' ')
[ "$elected" = "false false true " ] || fail "expected one leader and two standbys, /state says: $elected"

# Standbys name the leader and redirect to it (Mesos's /master/redirect).
for n in m1 m2 m3; do
    [ "$n" = "$l1" ] && continue
    [ "$(curl -sf "http://127.0.0.1:${MP[$n]}/state" | jq -r .leader_info.address.port)" = "${MP[$l1]}" ] ||
        fail "standby $n does not name the leader"
    loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:${MP[$n]}/master/redirect")
    [ "$loc" = "307 http://127.0.0.1:${MP[$l1]}/" ] || fail "standby $n /master/redirect: $loc"
    loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:${MP[$n]}/tasks?limit=5")
    [ "$loc" = "307 http://127.0.0.1:${MP[$l1]}/tasks?limit=5" ] || fail "standby $n /tasks: $loc"
    # A client that follows redirects reaches the leader.
    curl -sfL "http://127.0.0.1:${MP[$n]}/state-summary" | jq -e '.slaves' >/dev/null ||
        fail "redirect from $n not followed to the leader"
done
epoch1=$(master_json /state | jq -r .leader_epoch)
[ "$epoch1" -ge 1 ] || fail "no leader epoch in /state"

AGENT_MASTER=$ZK start_agent a1
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
SCHED_MASTER=$ZK start_scheduler fw1 --failover_timeout=600
ev=$(expect_event 20 '.event == "subscribed"' "subscription")
fw_id=$(echo "$ev" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "first offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 RUNNING" >/dev/null
t1_pid=$(curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" | jq -r '.frameworks[].executors[].tasks[] | select(.id == "t1") | .pid')
[ -n "$t1_pid" ] && kill -0 "$t1_pid" || fail "no pid for t1"
LIST="127.0.0.1:${MP[m1]},127.0.0.1:${MP[m2]},127.0.0.1:${MP[m3]}"
AGENT_MASTER=$LIST start_agent_with a2 "cpus:1;mem:512;disk:1000;ports:[31100-31199]"
wait_agents 2
[ "$("$AGORA_BIN/agora" --master="$LIST" agents --json | jq length)" = 2 ] ||
    fail "the CLI does not find the leader through the list of masters"

# kill -9 the leader.
t0=$(now_ms)
kill -KILL "${MPID[$l1]}"
l2=$(wait_leader 15 "$l1") || fail "no new leader after kill -9"
t_elected=$(($(now_ms) - t0))
use_leader "$l2"
log "new leader $l2 after ${t_elected} ms"
epoch2=$(master_json /state | jq -r .leader_epoch)
[ "$epoch2" -gt "$epoch1" ] || fail "the new leader's epoch $epoch2 is not above $epoch1"
# It knows the agents and the framework from the replicated registry, before they are back.
wait_agents 2
[ "$(master_json /state | jq -r --arg id "$agent_id" '[.slaves[] | select(.id == $id)] | length')" = 1 ] ||
    fail "the agent came back with another id"
expect_event 20 '.event == "subscribed" and .framework_id == "'"$fw_id"'"' "re-subscription to $l2" >/dev/null
t_back=$(($(now_ms) - t0))
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/tasks | jq -e '[.tasks[] | select(.id == \"t1\" and .state == \"TASK_RUNNING\")] | length == 1'" ||
    fail "t1 is not RUNNING (once) on the new leader"
kill -0 "$t1_pid" || fail "t1's process died in the failover"
[ "$(curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" | jq -r '.frameworks[].executors[].tasks[] | select(.id == "t1") | .pid')" = "$t1_pid" ] ||
    fail "t1 runs as another process"
ev=$(expect_event 15 '.event == "offers"' "offer from $l2")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t2 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t2" and .state == "TASK_RUNNING"' "t2 RUNNING under $l2" >/dev/null
t_task=$(($(now_ms) - t0))
log "kill -9: elected ${t_elected} ms, framework back ${t_back} ms, new task RUNNING ${t_task} ms"
[ "$(master_json /frameworks | jq '.frameworks | length')" = 1 ] || fail "the framework is duplicated"

# SIGTERM on the leader: its znode goes at once, a standby leads within a second.
t0=$(now_ms)
kill -TERM "${MPID[$l2]}"
l3=$(wait_leader 5 "$l2") || fail "no new leader after SIGTERM"
t_handoff=$(($(now_ms) - t0))
use_leader "$l3"
log "SIGTERM handoff: $l3 leads after ${t_handoff} ms"
[ "$t_handoff" -lt 2000 ] || fail "handoff took ${t_handoff} ms (over 2 s)"
wait "${MPID[$l2]}" || fail "the old leader did not exit 0 on SIGTERM"
expect_event 20 '.event == "subscribed" and .framework_id == "'"$fw_id"'"' "re-subscription to $l3" >/dev/null
wait_agents 2
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/tasks | jq -e '[.tasks[] | select(.state == \"TASK_RUNNING\")] | length == 2'" ||
    fail "t1 and t2 are not both RUNNING on $l3"
kill -0 "$t1_pid" || fail "t1's process died in the handoff"
log "PASS"
