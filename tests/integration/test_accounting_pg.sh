#!/usr/bin/env bash
# Accounting across leaders on PostgreSQL (docs/accounting.md): two masters,
# one after the other as after a leader change (each with its own work_dir
# and master id), record into one PostgreSQL database that this test starts
# (pg.sh); one report over the whole window, from the database and from the
# second master, covers the tasks of both. A wrong password or an unreachable
# server stops the master at start with a message that names the database
# without the password, and the password shows nowhere: not in the master's
# output, /flags, /state, or its command line.
. "$(dirname "$0")/lib.sh"

AG="$AGORA_BIN/agora"
ISOLATION=()
[ "$(id -u)" -eq 0 ] || ISOLATION=(--isolation=posix)

rc=0
pg_start || rc=$?
[ "$rc" = 0 ] || exit "$rc"
trap 'rc=$?; pg_stop; (exit $rc); cleanup' EXIT
log "PostgreSQL at $PG_URI_NOPW"

now_ms() { date +%s%3N; }
check() {
    jq -e "$1" "$T/$2" >/dev/null || fail "$3: $(jq -c "${4:-.}" "$T/$2" 2>&1 | head -c 3000)"
}
# no_secret FILE WHAT: FILE does not hold the password.
no_secret() {
    if grep -qF "$PG_PASSWORD" "$1"; then
        fail "$2 shows the database password: $(grep -F "$PG_PASSWORD" "$1" | head -3)"
    fi
}

# 1. A master that cannot reach its accounting database does not start.
bad_start() {
    local name=$1 uri=$2 want=$3 rc=0
    timeout 60 "$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="$(free_port)" \
        --work_dir="$T/$name" --accounting_db="$uri" >"$T/$name.log" 2>&1 || rc=$?
    [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "$name: master exit status $rc: $(cat "$T/$name.log")"
    grep -qF "cannot connect to the accounting database $want" "$T/$name.log" ||
        fail "$name: no clear error: $(cat "$T/$name.log")"
    log "$name: $(grep -F "accounting database" "$T/$name.log" | head -1)"
}
bad_start wrong-password "postgresql://agora:Wrong-Secret-71@127.0.0.1:$PG_PORT/agora" \
    "postgresql://agora@127.0.0.1:$PG_PORT/agora: "
grep -q "password authentication failed" "$T/wrong-password.log" ||
    fail "wrong password: libpq's reason missing: $(cat "$T/wrong-password.log")"
! grep -q "Wrong-Secret-71" "$T/wrong-password.log" || fail "the wrong password is in the output"
down=$(free_port)
bad_start unreachable "postgresql://agora:$PG_PASSWORD@127.0.0.1:$down/agora" \
    "postgresql://agora@127.0.0.1:$down/agora: "
no_secret "$T/unreachable.log" "the master's output (unreachable server)"

# launch_busy NAME: launches a busy loop with cpus:1 from the current
# scheduler's next offer, waits until it ran a few usage samples, kills it.
launch_busy() {
    local name=$1 offer
    offer=$(expect_event 20 '.event == "offers"' "an offer" | jq -r '.offers[0].id')
    send launch_json "$offer" "[{\"task_id\": \"$name\", \"resources\": \"cpus:1;mem:64\", \"cmd\": \"while :; do :; done\"}]"
    wait_update "$name" TASK_RUNNING 20
    samples() {
        pg_psql "SELECT count(*) FROM usage JOIN tasks ON usage.task = tasks.id
                 WHERE tasks.task_id = '$name'"
    }
    enough() { [ "$(samples)" -ge 3 ]; }
    wait_until 30 enough || fail "$name: fewer than 3 usage samples in PostgreSQL: $(samples)"
    send kill "$name"
    wait_update "$name" TASK_KILLED 20
}

# 2. Master A leads: the password is in its --accounting_db URI.
t_begin=$(now_ms)
start_master --accounting_db="$PG_URI"
master_a=$MASTER_PID
master_json /flags >"$T/flags.json"
no_secret "$T/flags.json" "/flags"
master_json /state >"$T/state.json"
no_secret "$T/state.json" "/state"
check ".flags.accounting_db == \"$PG_URI_NOPW\"" state.json "/state's flags" .flags.accounting_db
check ".flags.accounting_db == \"$PG_URI_NOPW\"" flags.json "/flags shows the URI without its password" .flags.accounting_db
tr '\0' ' ' <"/proc/$master_a/cmdline" >"$T/cmdline.txt"
no_secret "$T/cmdline.txt" "the master's command line (ps)"
grep -qF "postgresql://agora:" "$T/cmdline.txt" || fail "command line: $(cat "$T/cmdline.txt")"
id_a=$(master_json /state | jq -r .id)
start_agent a1 --usage_report_interval=1secs --executor_shutdown_grace_period=1secs "${ISOLATION[@]}"
wait_agents 1
start_scheduler fwa --role=acct
fwa=$(expect_event 20 '.event == "subscribed"' "subscription to master A" | jq -r .framework_id)
launch_busy ta
# The leader goes away (its recorder commits what it has as it stops).
kill -TERM "$master_a"
rc=0
wait "$master_a" || rc=$?
[ "$rc" = 0 ] || fail "master A exited with status $rc on SIGTERM"
kill -TERM "${AGENT_PID[a1]}" "$SCHED_PID" 2>/dev/null || true
wait "${AGENT_PID[a1]}" "$SCHED_PID" 2>/dev/null || true
mv "$T/master" "$T/master-a"
ended_a() { [ "$(pg_psql "SELECT count(*) FROM tasks WHERE task_id = 'ta' AND end_ms IS NOT NULL")" = 1 ]; }
ended_a || fail "master A's task is not recorded as ended in PostgreSQL"

# 3. Master B takes over on the same database, another work_dir and id; its
# password comes from PGPASSWORD instead of the URI.
PGPASSWORD=$PG_PASSWORD start_master --accounting_db="$PG_URI_NOPW"
id_b=$(master_json /state | jq -r .id)
[ "$id_a" != "$id_b" ] || fail "both masters have id $id_a"
start_agent b1 --usage_report_interval=1secs --executor_shutdown_grace_period=1secs "${ISOLATION[@]}"
wait_agents 1
start_scheduler fwb --role=acct
fwb=$(expect_event 20 '.event == "subscribed"' "subscription to master B" | jq -r .framework_id)
launch_busy tb
ended_b() { [ "$(pg_psql "SELECT count(*) FROM tasks WHERE task_id = 'tb' AND end_ms IS NOT NULL")" = 1 ]; }
wait_until 20 ended_b || fail "master B's task is not recorded as ended in PostgreSQL"
t_end=$(($(now_ms) + 1000))
past_end() { [ "$(now_ms)" -gt "$t_end" ]; }
wait_until 5 past_end

# 4. One report over the whole window: both masters' tasks, from the
# database directly and from master B.
since="@$((t_begin / 1000 - 1))"
until="@$((t_end / 1000)).$(printf %03d $((t_end % 1000)))"
"$AG" report --db="$PG_URI" --since="$since" --until="$until" --by=task --format=json \
    >"$T/both.json" 2>"$T/both.err" || fail "agora report --db=postgresql://...: $(cat "$T/both.err")"
log "by task: $(jq -c '[.groups[] | {key, states, cpus_allocated, cpus_used}]' "$T/both.json")"
check "(.groups | length) == 2 and
       all(.groups[]; .states.TASK_KILLED == 1 and .cpus_allocated > 0 and .cpus_used > 0 and
                      .cpus_used <= .cpus_allocated * 1.0001) and
       ([.groups[].key] | sort) == ([\"$fwa/ta\", \"$fwb/tb\"] | sort) and
       .cluster.agents == 2 and .cluster.tasks == 2" both.json \
    "the report does not cover both masters' tasks" '{groups, cluster}'
"$AG" report --master="127.0.0.1:$MASTER_PORT" --since="$since" --until="$until" --by=task \
    --format=json >"$T/both-master.json" || fail "agora report from master B"
jq -S '.groups' "$T/both.json" >"$T/a.json"
jq -S '.groups' "$T/both-master.json" >"$T/b.json"
cmp -s "$T/a.json" "$T/b.json" ||
    fail "master B's report differs from the database's: $(diff "$T/a.json" "$T/b.json" | head -20)"
# The CLI also takes the password from PGPASSWORD, and never prints it.
rc=0
"$AG" report --db="postgresql://agora:Wrong-Secret-72@127.0.0.1:$PG_PORT/agora" >"$T/cli-bad.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qF "postgresql://agora@127.0.0.1:$PG_PORT/agora" "$T/cli-bad.txt" &&
    ! grep -q "Wrong-Secret-72" "$T/cli-bad.txt" || fail "agora report with a wrong password: status $rc: $(cat "$T/cli-bad.txt")"
PGPASSWORD=$PG_PASSWORD "$AG" report --db="$PG_URI_NOPW" --since="$since" --until="$until" \
    --by=role >"$T/role.txt" 2>&1 || fail "agora report with PGPASSWORD: $(cat "$T/role.txt")"
grep -q '^acct ' "$T/role.txt" || fail "by role: $(cat "$T/role.txt")"
master_json /flags >"$T/flags-b.json"
check ".flags.accounting_db == \"$PG_URI_NOPW\"" flags-b.json "/flags of master B" .flags.accounting_db
for f in "$T"/master.log "$T"/master-a/*.log "$T"/agent-*.log; do
    [ -f "$f" ] && no_secret "$f" "$f"
done
log "ok"
