#!/usr/bin/env bash
# Resource accounting end to end (docs/accounting.md): the agent sends usage
# samples every --usage_report_interval, the master records them with the
# tasks' allocation intervals, and `agora report` (from the master and from the
# database file) shows allocated and used cpu and memory per task, framework
# and role. A busy loop with cpus:1 uses about what it was given, a sleeping
# task almost nothing; running tasks count up to now; groups sum to the
# cluster; csv and html come out of the same figures.
#
# The figures are checked against expectations the test computes itself:
# allocation from the resources it launched and the times it saw the tasks
# start and end, capacity from the agent's resources and the window, usage
# from the kernel's count of the busy loop's cpu time. The master's report
# and the one read from the database file (the same engine) must also agree.
# The test waits for a minimum number of usage samples in the database (read
# with sqlite3, not with the report engine) instead of sleeping.
#
# As root the agent runs its tasks in cgroups (usage from cpuacct and memory);
# otherwise with --isolation=posix (usage from /proc), and the test reports
# the cgroups part as skipped (77) once the rest has passed.
. "$(dirname "$0")/lib.sh"

AG="$AGORA_BIN/agora"
ROOT=0
[ "$(id -u)" -eq 0 ] && ROOT=1
HZ=$(getconf CLK_TCK)

now_ms() { date +%s%3N; }

# calc EXPR: prints the value of an awk expression; is EXPR: true when it holds.
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
is() { awk "BEGIN { exit !($*) }"; }

# kernel_cpu_s CONTAINER PID: cpu seconds the kernel counted for the task: its
# container's cpuacct (cgroup v1) or cpu.stat (v2) group, else /proc/PID/stat.
kernel_cpu_s() {
    local root dir
    if [ -s "$T/agent-a1/meta/cgroups" ]; then
        while read -r root; do
            dir="$root/$1"
            if [ -f "$dir/cpuacct.usage" ]; then
                calc "$(cat "$dir/cpuacct.usage") / 1e9"
                return
            elif [ -f "$dir/cpu.stat" ] && [ ! -f "$dir/cpu.cfs_quota_us" ]; then
                calc "$(awk '$1 == "usage_usec" { print $2 }' "$dir/cpu.stat") / 1e6"
                return
            fi
        done <"$T/agent-a1/meta/cgroups"
    fi
    calc "$(sed 's/.*) //' "/proc/$2/stat" | awk '{ print $12 + $13 }') / $HZ"
}

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}

# report OUT ARGS...: `agora report ARGS` into $T/OUT, failing the test on an error.
report() {
    local out=$1
    shift
    "$AG" report "$@" >"$T/$out" 2>"$T/$out.err" || fail "agora report $*: $(cat "$T/$out.err")"
}

# check JQ_FILTER FILE WHAT: fails unless the filter is true on FILE.
check() {
    jq -e "$1" "$T/$2" >/dev/null || fail "$3: $(jq -c "${4:-.}" "$T/$2" 2>&1 | head -c 3000)"
}

# The groups of a report add up to its total and to the cluster's figures.
SUMS='def near(a; b): ((a - b) | fabs) <= 1e-9 + 1e-6 * (b | fabs);
  . as $r | all(["cpus_allocated", "cpus.allocated"], ["cpus_used", "cpus.used"],
                ["mem_allocated", "mem.allocated"], ["mem_used", "mem.used"];
      .[0] as $g | (.[1] | split(".")) as $p |
      near([$r.groups[][$g]] | add; $r.cluster[$p[0]][$p[1]]) and
      near($r.total[$g]; $r.cluster[$p[0]][$p[1]])) and
  ([$r.groups[].tasks] | add) == $r.cluster.tasks'

start_master
if [ "$ROOT" = 1 ]; then
    start_agent a1 --usage_report_interval=1secs --executor_shutdown_grace_period=1secs
else
    start_agent a1 --usage_report_interval=1secs --executor_shutdown_grace_period=1secs \
        --isolation=posix
fi
wait_agents 1
# The agent's capacity interval started before this (the master counted it
# active), so a window starting here sees its whole capacity.
t_registered=$(now_ms)
db="$T/master/accounting.db"
isolation=$(agent_json /state | jq -r .isolation)
log "isolation: $isolation"
if [ "$ROOT" = 1 ]; then
    case "$isolation" in
    *cgroups/cpu*cgroups/mem* | *cgroups/mem*cgroups/cpu*) ;;
    *) fail "as root the agent should isolate with cgroups/cpu and cgroups/mem: $isolation" ;;
    esac
fi

start_scheduler fw1 --role=acct
fwid=$(expect_event 10 '.event == "subscribed"' "subscription" | jq -r .framework_id)
offer=$(expect_event 10 '.event == "offers"' "first offer" | jq -r '.offers[0].id')

t_launch=$(now_ms)
tasks=$(jq -c . <<'JSON'
[{"task_id": "busy", "resources": "cpus:1;mem:64", "cmd": "while :; do :; done"},
 {"task_id": "sleeper", "resources": "cpus:1;mem:64", "cmd": "sleep 600"}]
JSON
)
send launch_json "$offer" "$tasks"
wait_update busy TASK_RUNNING
wait_update sleeper TASK_RUNNING
read -r busy_ctr busy_pid < <(agent_json /monitor/statistics |
    jq -r '.[] | select(.executor_id == "busy") | "\(.container_id) \(.task_pid)"')
[ "${busy_pid:-0}" -gt 0 ] || fail "no container and pid for the busy task"
t_running=$(now_ms)

# sql QUERY: the database file read directly (the writer commits every second).
sql() { sqlite3 -readonly -cmd ".timeout 5000" "$db" "$1" 2>/dev/null; }
# samples TASK: usage samples recorded for TASK.
samples() {
    sql "SELECT count(*) FROM usage JOIN tasks ON usage.task = tasks.id
         WHERE tasks.task_id = '$1'"
}
have_samples() { [ "$(samples "$1")" -ge "$2" ] && [ "$(samples "$3")" -ge "$2" ]; }
# Usage arrives every --usage_report_interval (1 s); allow a loaded machine 10 times that.
wait_until 20 have_samples busy 2 sleeper ||
    fail "fewer than 2 usage samples per task recorded: busy $(samples busy), sleeper $(samples sleeper)"

# While the tasks run, their open intervals count up to now, with the usage
# sampled so far.
t_live=$(now_ms)
report live.json --master="127.0.0.1:$MASTER_PORT" --since=10mins --by=task --format=json
t_live_end=$(now_ms)
# Each task's allocation so far: at least from RUNNING to the request, at most
# from the launch to the answer.
live_min=$(calc "($t_live - $t_running) / 1000 - 0.05")
live_max=$(calc "($t_live_end - $t_launch) / 1000 + 0.05")
check '[.groups[] | select(.states.RUNNING == 1)] | length == 2' live.json "running tasks in the report"
check "[.groups[] | select(.key == \"$fwid/busy\" or .key == \"$fwid/sleeper\")] | length == 2 and
       all(.[]; .cpus_allocated * 3600 >= $live_min and .cpus_allocated * 3600 <= $live_max and
                .cpus_used <= .cpus_allocated and
                .mem_used > 0 and .mem_peak_bytes > 0) and
       (map(select(.key | endswith(\"/busy\")))[0].cpus_used > 0)" live.json \
    "running tasks: allocated and used so far" .groups
check "$SUMS" live.json "live groups do not sum to the cluster" '{cluster, total}'

# At least 6 samples of each task before the kill, so the used figures rest on
# more than one reading.
wait_until 30 have_samples busy 6 sleeper ||
    fail "fewer than 6 usage samples per task recorded: busy $(samples busy), sleeper $(samples sleeper)"
# The kernel's count of the busy loop's cpu time, just before the kill.
busy_cpu_s=$(kernel_cpu_s "$busy_ctr" "$busy_pid")
t_kill=$(now_ms)
send kill busy
send kill sleeper
wait_update busy TASK_KILLED
wait_update sleeper TASK_KILLED
t_killed=$(now_ms)
wall_s=$(calc "($t_killed - $t_launch) / 1000")

# A window from the agent's registration to after the run, closed in the past,
# so that the master and the database file give the same answer.
since_ms=$t_registered
until_ms=$((t_killed + 1500))
since="@$((since_ms / 1000)).$(printf %03d $((since_ms % 1000)))"
until="@$((until_ms / 1000)).$(printf %03d $((until_ms % 1000)))"
ended() { [ "$(sql "SELECT count(*) FROM tasks WHERE end_ms IS NOT NULL")" = 2 ]; }
wait_until 20 ended || fail "the database does not show both tasks ended"
past_until() { [ "$(now_ms)" -gt "$until_ms" ]; }
wait_until 5 past_until
report task.json --master="127.0.0.1:$MASTER_PORT" --since="$since" --until="$until" --by=task \
    --format=json
report task-db.json --db="$db" --since="$since" --until="$until" --by=task --format=json
jq -S . "$T/task.json" >"$T/a.json"
jq -S . "$T/task-db.json" >"$T/b.json"
cmp -s "$T/a.json" "$T/b.json" || fail "master and database reports differ: $(diff "$T/a.json" "$T/b.json" | head -20)"
log "samples: busy $(samples busy), sleeper $(samples sleeper)"
log "by task: $(jq -c '[.groups[] | {key, states, cpus_allocated, cpus_used, mem_allocated,
    mem_used, mem_peak_bytes}]' "$T/task.json")"
log "busy loop: kernel cpu ${busy_cpu_s} s before the kill; launch to killed ${wall_s} s"

busy="$fwid/busy"
sleeper="$fwid/sleeper"
g() { jq -r --arg k "$1" ".groups[] | select(.key == \$k) | .$2" "$T/task.json"; }
[ "$(jq '.groups | length' "$T/task.json")" = 2 ] || fail "two tasks expected: $(cat "$T/task.json")"
# Allocated: cpus:1 from the start to the end of each task. The master started
# it between the launch and the RUNNING update the test saw, and ended it
# between the kill the test sent and the KILLED update it saw (its clock is
# read once per loop turn: 0.05 s of slack).
alloc_min_s=$(calc "($t_kill - $t_running) / 1000 - 0.05")
alloc_max_s=$(calc "($t_killed - $t_launch) / 1000 + 0.05")
for k in "$busy" "$sleeper"; do
    [ "$(g "$k" 'states.TASK_KILLED')" = 1 ] || fail "$k: final state: $(g "$k" states)"
    alloc_s=$(calc "$(g "$k" cpus_allocated) * 3600")
    is "$alloc_s >= $alloc_min_s && $alloc_s <= $alloc_max_s" ||
        fail "$k: $alloc_s cpu-seconds allocated, expected $alloc_min_s to $alloc_max_s (cpus:1)"
    ratio=$(calc "$(g "$k" mem_allocated) * 1024 / 64 / $(g "$k" cpus_allocated)")
    is "$ratio > 0.999 && $ratio < 1.001" ||
        fail "$k: mem allocated is not 64 MiB over the same interval as cpus:1 ($ratio)"
    is "$(g "$k" mem_peak_bytes) > 0" || fail "$k: no peak memory"
    is "$(g "$k" mem_used) > 0" || fail "$k: no memory used"
    # Resident memory of a shell loop: far less than the 64 MiB given.
    is "$(g "$k" mem_used) < 0.5 * $(g "$k" mem_allocated)" ||
        fail "$k: memory used $(g "$k" mem_used) GiB-h of $(g "$k" mem_allocated)"
done
busy_used_s=$(calc "$(g "$busy" cpus_used) * 3600")
busy_alloc_s=$(calc "$(g "$busy" cpus_allocated) * 3600")
sleeper_used_s=$(calc "$(g "$sleeper" cpus_used) * 3600")
sleeper_alloc_s=$(calc "$(g "$sleeper" cpus_allocated) * 3600")
log "busy: used $busy_used_s of $busy_alloc_s cpu-s; sleeper: used $sleeper_used_s of $sleeper_alloc_s"
# What was recorded is what the kernel counted, less what the loop used
# after the agent's last reading (one interval, 1 s, at the loop's rate; twice
# that for an agent slowed down by a loaded machine), plus what it used
# between our reading and the kill.
share=$(calc "$busy_cpu_s / $wall_s")
is "$busy_used_s > $busy_cpu_s - 2 * $share - 0.1 && $busy_used_s < $busy_cpu_s + 0.5" ||
    fail "busy: $busy_used_s cpu-s recorded, the kernel counted $busy_cpu_s (share $share)"
# Used against allocated: the loop used the share of its core the kernel gave
# it (all of it on an idle machine, less on a loaded one), so its efficiency
# in the report is that share, less at most the last interval's usage.
eff=$(calc "$busy_used_s / $busy_alloc_s")
log "busy: efficiency $eff, kernel share $share"
is "$share > 0.05" || fail "busy: the kernel counted only $busy_cpu_s cpu-s for the loop"
is "$eff > $share * ($wall_s - 2) / $wall_s - 0.1 / $wall_s - 0.05 && $eff <= 1.0001" ||
    fail "busy: used $busy_used_s of $busy_alloc_s cpu-s allocated, the kernel's share $share"
is "$sleeper_used_s < 0.1 * $sleeper_alloc_s" ||
    fail "sleeper: used $sleeper_used_s of $sleeper_alloc_s cpu-s allocated (want < 10%)"
check "$SUMS" task.json "groups by task do not sum to the cluster" '{cluster, total}'
check '.cluster.agents == 1 and .cluster.states.TASK_KILLED == 2 and .warnings == [] and
       .cluster.cpus.allocated <= .cluster.cpus.capacity' task.json "cluster figures" .cluster
# Capacity: the agent's cpus:4;mem:4096;disk:10000 over the whole window;
# idle is capacity less what both tasks were allocated.
hours="(($until_ms - $since_ms) / 3600000)"
check "def near(a; b): ((a - b) | fabs) <= 1e-6 * (b | fabs) + 1e-9;
       near(.cluster.cpus.capacity; 4 * $hours) and near(.cluster.mem.capacity; 4 * $hours) and
       near(.cluster.disk.capacity; 10000 / 1024 * $hours) and
       near(.cluster.cpus.idle; .cluster.cpus.capacity - $(g "$busy" cpus_allocated) -
                                $(g "$sleeper" cpus_allocated))" task.json \
    "capacity: want 4 cpus, 4 GiB and 10000 MiB of disk over $hours hours" .cluster

# By framework and by role: one group each, the same figures as by task.
for by in framework role; do
    report "$by.json" --master="127.0.0.1:$MASTER_PORT" --since="$since" --until="$until" \
        --by="$by" --format=json
    check "$SUMS" "$by.json" "groups by $by do not sum to the cluster" '{cluster, total}'
    key=$([ "$by" = role ] && echo acct || echo "$fwid")
    check "(.groups | length == 1) and .groups[0].key == \"$key\" and .groups[0].tasks == 2" \
        "$by.json" "by $by: one group" .groups
    jq -S .cluster "$T/$by.json" >"$T/a.json"
    jq -S .cluster "$T/task.json" >"$T/b.json"
    cmp -s "$T/a.json" "$T/b.json" || fail "by $by: cluster figures differ from by task"
done

# CSV and HTML from the database file.
report task.csv --db="$db" --since="$since" --until="$until" --by=task --format=csv
head -1 "$T/task.csv" | grep -q '^by,key,tasks,.*cpu_hours_allocated,cpu_hours_used,' ||
    fail "csv header: $(head -1 "$T/task.csv")"
for k in "$busy" "$sleeper" "(total)"; do
    grep -qF "task,$k," "$T/task.csv" || fail "csv: no row for $k: $(cat "$T/task.csv")"
done
[ "$(wc -l <"$T/task.csv")" = 4 ] || fail "csv: header, two tasks and the total: $(cat "$T/task.csv")"
report role.csv --master="127.0.0.1:$MASTER_PORT" --since="$since" --until="$until" --by=role \
    --format=csv
grep -q '^role,acct,2,' "$T/role.csv" || fail "csv by role: $(cat "$T/role.csv")"
"$AG" report --db="$db" --since="$since" --until="$until" --by=task --format=html \
    --output="$T/report.html" || fail "html report"
grep -q '<svg' "$T/report.html" || fail "html report without <svg>"
grep -qF "$busy" "$T/report.html" || fail "html report without the busy task"
# The table shows the busy task's few thousandths of a cpu-hour, not 0.0.
report table.txt --db="$db" --since="$since" --until="$until" --by=task
log "$(cat "$T/table.txt")"
row=$(grep -F "$busy " "$T/table.txt") || fail "table: no row for the busy task"
is "$(echo "$row" | awk '{ print $4 }') > 0" || fail "table: the busy task used nothing: $row"

# Like every command, `agora report` asks the master at $AGORA_MASTER (or
# --master, else 127.0.0.1:5050) and reads a file only with --db: the
# README's `agora report --since=1h --by=app`.
AGORA_MASTER="127.0.0.1:$MASTER_PORT" "$AG" report --since=1h --by=role >"$T/env.txt" 2>&1 ||
    fail "agora report with \$AGORA_MASTER: $(cat "$T/env.txt")"
grep -q '^acct ' "$T/env.txt" || fail "agora report with \$AGORA_MASTER: no role acct: $(cat "$T/env.txt")"
AGORA_MASTER="127.0.0.1:$MASTER_PORT" "$AG" report --since=1h --json >"$T/env.json" ||
    fail "agora report --json"
check '.cluster.states.TASK_KILLED == 2' env.json "agora report --json"
rc=0
AGORA_MASTER="127.0.0.1:$(free_port)" "$AG" report --since=1h >"$T/down.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "cannot reach the master" "$T/down.txt" ||
    fail "agora report with no master: status $rc: $(cat "$T/down.txt")"
rc=0
"$AG" report --db="$T/nowhere.db" >"$T/nodb.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "nowhere.db" "$T/nodb.txt" ||
    fail "agora report --db on a missing file: status $rc: $(cat "$T/nodb.txt")"
rc=0
"$AG" report --by=user >"$T/usage.txt" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "agora report --by=user: status $rc, want 2: $(cat "$T/usage.txt")"

if [ "$ROOT" = 1 ]; then
    # A task that ends between two reports still has its usage counted: the
    # agent sends its container's last counters when the container ends (an
    # agent that reports hourly would otherwise record nothing for it).
    start_agent a2 --usage_report_interval=1hrs --executor_shutdown_grace_period=1secs
    wait_agents 2
    send revive
    offer2=$(expect_event 10 '.event == "offers" and any(.offers[]; .hostname == "a2")' \
        "an offer of a2" | jq -r '[.offers[] | select(.hostname == "a2")][0].id')
    t_short=$(now_ms)
    short='[{"task_id": "short", "resources": "cpus:1;mem:64", "cmd": "timeout 2 sh -c \"while :; do :; done\"; exit 0"}]'
    send launch_json "$offer2" "$short"
    wait_until 15 saw_update short TASK_FINISHED || fail "the short task did not finish"
    short_recorded() {
        [ "$(sql "SELECT count(*) FROM tasks WHERE task_id = 'short' AND end_ms IS NOT NULL")" = 1 ] &&
            [ "$(samples short)" -ge 1 ]
    }
    # The recorder's batch; if no sample ever comes, the check below says so.
    wait_until 10 short_recorded || true
    report short.json --db="$db" --since="@$((t_short / 1000 - 2))" --by=task --format=json
    short_used_s=$(calc "$(jq -r --arg k "$fwid/short" '.groups[] | select(.key == $k) | .cpus_used' \
        "$T/short.json") * 3600")
    # Its last sample is the one taken as its container ended: dated at the
    # task's end (within the second the terminal update took), and it carries
    # the loop's cpu time (whatever share of a core a loaded machine gave it,
    # at most 2 s of one core).
    n_short=$(samples short)
    gap_ms=$(sql "SELECT tasks.end_ms - max(usage.end_ms) FROM usage JOIN tasks ON usage.task = tasks.id
                  WHERE tasks.task_id = 'short'")
    log "short task: $n_short sample(s), the last ${gap_ms} ms before its end; used $short_used_s cpu-s in about 2 s, with no periodic report"
    [ "${n_short:-0}" -ge 1 ] || fail "short task: no usage sample"
    is "${gap_ms:-99999} >= 0 && ${gap_ms:-99999} < 1000" ||
        fail "short task: its sample is ${gap_ms} ms before its end (not the container's last counters?)"
    is "$short_used_s > 0.01 && $short_used_s < 2.5" ||
        fail "short task: $short_used_s cpu-s recorded (its container's last counters not reported?)"
fi

if [ "$ROOT" = 0 ]; then
    # Clean up as after a pass (lib.sh keeps the scratch directory on any other status).
    disown -a
    true
    (cleanup)
    trap - EXIT
    echo "SKIP: usage from cgroups needs root; the rest passed with --isolation=posix" >&2
    exit 77
fi
log "ok"
