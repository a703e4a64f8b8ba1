#!/usr/bin/env bash
# Accounting across a failover: two masters elected through ZooKeeper record
# into one PostgreSQL database (docs/accounting.md). A busy task runs under
# the first leader, which is killed (-9); the task runs on under the second,
# which records its usage on into the same task record; the report over the
# whole window covers the task's usage before and after the failover, and a
# task launched under the second leader.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/ha.sh"

AG="$AGORA_BIN/agora"
ISOLATION=()
[ "$(id -u)" -eq 0 ] || ISOLATION=(--isolation=posix)
rc=0
pg_start || rc=$?
[ "$rc" = 0 ] || exit "$rc"
trap 'rc=$?; set +e; pg_stop; (exit $rc); cleanup' EXIT
zk_start 1
ZK="zk://$ZK_HOSTS/agora"

t_begin=$(now_ms)
start_ha_master m1 --zk_session_timeout=2secs --accounting_db="$PG_URI"
wait_leader 20 >/dev/null || fail "m1 was not elected"
start_ha_master m2 --zk_session_timeout=2secs --accounting_db="$PG_URI"
l1=$(leader)
use_leader "$l1"
AGENT_MASTER=$ZK start_agent a1 --usage_report_interval=1secs --executor_shutdown_grace_period=1secs "${ISOLATION[@]}"
wait_agents 1
SCHED_MASTER=$ZK start_scheduler fw --role=acct --failover_timeout=600
fw=$(expect_event 20 '.event == "subscribed"' "subscription" | jq -r .framework_id)
offer=$(expect_event 20 '.event == "offers"' "an offer" | jq -r '.offers[0].id')
send launch_json "$offer" '[{"task_id": "ta", "resources": "cpus:1;mem:64", "cmd": "while :; do :; done"}]'
wait_update ta TASK_RUNNING 20
samples() { # SQL condition on usage.end_ms
    pg_psql "SELECT count(*) FROM usage JOIN tasks ON usage.task = tasks.id
             WHERE tasks.task_id = 'ta' AND $1"
}
enough_before() { [ "$(samples "true")" -ge 3 ]; }
wait_until 30 enough_before || fail "fewer than 3 usage samples of ta under $l1"

t_kill=$(now_ms)
kill -KILL "${MPID[$l1]}"
l2=$(wait_leader 15 "$l1") || fail "no new leader"
use_leader "$l2"
expect_event 20 '.event == "subscribed" and .framework_id == "'"$fw"'"' "re-subscription" >/dev/null
enough_after() { [ "$(samples "usage.end_ms > $t_kill")" -ge 3 ]; }
wait_until 30 enough_after || fail "fewer than 3 usage samples of ta recorded under $l2"
before=$(samples "usage.end_ms < $t_kill")
[ "$before" -ge 2 ] || fail "the samples recorded before the kill are gone ($before)"
[ "$(pg_psql "SELECT count(*) FROM tasks WHERE task_id = 'ta'")" = 1 ] ||
    fail "ta has several task records"
send kill ta
wait_update ta TASK_KILLED 20
offer=$(expect_event 20 '.event == "offers"' "an offer from $l2" | jq -r '.offers[0].id')
send launch_json "$offer" '[{"task_id": "tb", "resources": "cpus:1;mem:64", "cmd": "while :; do :; done"}]'
wait_update tb TASK_RUNNING 20
enough_b() { [ "$(pg_psql "SELECT count(*) FROM usage JOIN tasks ON usage.task = tasks.id WHERE tasks.task_id = 'tb'")" -ge 2 ]; }
wait_until 30 enough_b || fail "no usage samples of tb"
send kill tb
wait_update tb TASK_KILLED 20
ended() { [ "$(pg_psql "SELECT count(*) FROM tasks WHERE task_id IN ('ta', 'tb') AND end_ms IS NOT NULL")" = 2 ]; }
wait_until 20 ended || fail "ta and tb are not both recorded as ended"
t_end=$(($(now_ms) + 1000))
sleep 1.2

since="@$((t_begin / 1000 - 1))"
until="@$((t_end / 1000)).$(printf %03d $((t_end % 1000)))"
"$AG" report --master="127.0.0.1:$MASTER_PORT" --since="$since" --until="$until" --by=task \
    --format=json >"$T/report.json" || fail "agora report from $l2"
log "by task: $(jq -c '[.groups[] | {key, states, cpus_allocated, cpus_used}]' "$T/report.json")"
jq -e "(.groups | length) == 2 and
       ([.groups[].key] | sort) == ([\"$fw/ta\", \"$fw/tb\"] | sort) and
       all(.groups[]; .states.TASK_KILLED == 1 and .cpus_used > 0)" "$T/report.json" >/dev/null ||
    fail "the report does not cover the failover: $(jq -c '{groups, cluster}' "$T/report.json")"
# ta's usage spans both leaders: more CPU than what was recorded before the kill.
ta_used=$(jq -r ".groups[] | select(.key == \"$fw/ta\") | .cpus_used" "$T/report.json")
log "ta: $before samples before the kill, $(samples "usage.end_ms > $t_kill") after; cpus_used $ta_used"
log "PASS"
