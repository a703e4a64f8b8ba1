#!/usr/bin/env bash
# Fencing: the leading master is cut from ZooKeeper (an nftables rule drops
# its ZooKeeper traffic) but not from the agent and the frameworks. It stops
# leading before a standby can be elected (it gives up on the lost connection,
# within the session timeout; the ensemble expires its session only after
# it), never launches again, and the agent and framework follow the new
# leader with the task still running. A framework that still points at the
# old master's address (not through ZooKeeper) cannot launch through it.
. "$(dirname "$0")/lib.sh"
require_root
command -v nft >/dev/null || { echo "SKIP: nft is not installed" >&2; exit 77; }
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/ha.sh"

ZK_LISTEN=0.0.0.0 zk_start 1
zkport=${ZK_PORT[1]}
TABLE="agora_fence_$$"
fence_cleanup() {
    local rc=$?
    set +e
    nft delete table inet "$TABLE" 2>/dev/null
    (exit $rc)
    cleanup
}
trap fence_cleanup EXIT

# m1 reaches ZooKeeper at 127.0.0.1, everyone else at 127.0.0.2: the cut
# below drops only m1's ZooKeeper traffic.
ZK="zk://127.0.0.1:$zkport/agora"
start_ha_master m1 --zk_session_timeout=2secs
l=$(wait_leader 20) || fail "m1 was not elected"
[ "$l" = m1 ] || fail "expected m1 to lead, $l does"
ZK="zk://127.0.0.2:$zkport/agora"
start_ha_master m2 --zk_session_timeout=2secs
use_leader m1
epoch1=$(master_json /state | jq -r .leader_epoch)

AGENT_MASTER=$ZK start_agent a1
wait_agents 1
SCHED_MASTER=$ZK start_scheduler fw1 --failover_timeout=600
fw_id=$(expect_event 20 '.event == "subscribed"' "fw1 subscription" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "fw1 offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t1 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 RUNNING" >/dev/null
t1_pid=$(curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" | jq -r '.frameworks[].executors[].tasks[] | select(.id == "t1") | .pid')
# fw2 talks to m1's address directly and keeps an offer from it.
SCHED_MASTER="127.0.0.1:${MP[m1]}" start_scheduler fw2
expect_event 20 '.event == "subscribed"' "fw2 subscription" >/dev/null
send revive
ev=$(expect_event 15 '.event == "offers"' "fw2 offer")
old_offer=$(echo "$ev" | jq -r '.offers[0].id')

# The cut.
nft -f - <<NFT
table inet $TABLE {
    chain out {
        type filter hook output priority 0;
        ip daddr 127.0.0.1 tcp dport $zkport drop
        ip saddr 127.0.0.1 tcp sport $zkport drop
    }
}
NFT
log "m1 cut from ZooKeeper"
wait_until 15 grep -q "lost leadership" "$T/m1.log" || fail "m1 did not give up leadership"
wait_until 15 grep -q "elected leading master" "$T/m2.log" || fail "m2 was not elected"
ms() { date -d "$(echo "$1" | cut -d' ' -f1)" +%s%3N; }
lost=$(ms "$(grep -m1 "lost leadership" "$T/m1.log")")
elected=$(ms "$(grep -m1 "elected leading master" "$T/m2.log")")
log "m1 stopped leading at $lost, m2 elected at $elected ($((elected - lost)) ms later)"
[ "$lost" -lt "$elected" ] || fail "m2 was elected before m1 stopped leading"
use_leader m2
[ "$(master_json /state | jq -r .leader_epoch)" -gt "$epoch1" ] || fail "no higher epoch"

# The old leader's offer is dead: launching on it reaches no agent.
use_scheduler fw2
send launch "$old_offer" t_old "cpus:0.5;mem:32" 'sleep 1000'
use_scheduler fw1
expect_event 20 '.event == "subscribed" and .framework_id == "'"$fw_id"'"' "fw1 follows m2" >/dev/null
wait_until 15 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/tasks | jq -e '[.tasks[] | select(.id == \"t1\" and .state == \"TASK_RUNNING\")] | length == 1'" ||
    fail "t1 is not RUNNING on m2"
kill -0 "$t1_pid" || fail "t1's process died"
sleep 2
curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" | jq -e '[.frameworks[].executors[].tasks[] | select(.id == "t_old")] | length == 0' >/dev/null ||
    fail "the deposed leader launched t_old"
# m1 runs on, as a standby that cannot reach ZooKeeper: never elected.
curl -sf "http://127.0.0.1:${MP[m1]}/state" | jq -e '.elected == false' >/dev/null || fail "m1 still claims to lead"
# Healed, m1 rejoins as a standby behind m2.
nft delete table inet "$TABLE"
wait_until 20 sh -c "curl -sf http://127.0.0.1:${MP[m1]}/state | jq -e '.leader_info.address.port == ${MP[m2]}'" ||
    fail "m1 does not see m2 as leader after the cut healed"
[ "$(leader)" = m2 ] || fail "leadership moved again after the cut healed"
log "PASS"
