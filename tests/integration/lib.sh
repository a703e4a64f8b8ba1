# Helpers for integration tests: real agora-master, agora-agent and
# agora-test-scheduler processes on loopback, in a scratch directory that is
# removed at exit (kept, with the logs printed, when a test fails).
#
# Environment (set by ctest): AGORA_BIN, the build's bin directory.

set -euo pipefail

AGORA_BIN=${AGORA_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build/bin" && pwd)}
T=$(mktemp -d /tmp/agora-it.XXXXXX)
# Agents' --runtime_dir, when a test gives one: $RT_PREFIX-NAME, on a tmpfs.
RT_PREFIX=/dev/shm/$(basename "$T")
PIDS=()
SCHED_PID=""
FAILED=0

log() { printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }

fail() {
    FAILED=1
    log "FAIL: $*"
    exit 1
}

cleanup() {
    local rc=$?
    # Only the test's own shell cleans up: a forked child that has not exec'd
    # its command yet still has this trap, and a signal there (a kill of a
    # background job) must not take the test's daemons and directory with it.
    if [ "$BASHPID" != "$$" ]; then
        exit "$rc"
    fi
    for p in "${PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    # Tasks (each in its own process group) and executors started by this test's agents.
    for f in "$T"/agent-*/meta/containers/*/task.pid "$RT_PREFIX"-*/containers/*/task.pid; do
        [ -f "$f" ] || continue
        kill -KILL -- "-$(cat "$f")" 2>/dev/null || true
    done
    pkill -KILL -f "agora-executor --meta=$T" 2>/dev/null || true
    pkill -KILL -f "agora-executor --meta=$RT_PREFIX" 2>/dev/null || true
    # Containers' cgroups left by this test's agents (meta/cgroups lists their roots).
    for f in "$T"/agent-*/meta/cgroups; do
        [ -f "$f" ] || continue
        while read -r root; do
            for g in "$root"/*/; do
                [ -d "$g" ] || continue
                for p in $(cat "$g/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
            done
        done <"$f"
        sleep 0.2
        while read -r root; do
            for g in "$root"/*/; do rmdir "$g" 2>/dev/null || true; done
            rmdir "$root" 2>/dev/null || true
        done <"$f"
    done
    if { [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; } || [ "$FAILED" -ne 0 ]; then
        for f in "$T"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $f (last 60 lines)" >&2
            tail -60 "$f" >&2
        done
        echo "scratch directory kept: $T" >&2
        ls -d "$RT_PREFIX"-* >/dev/null 2>&1 && echo "runtime directories kept: $RT_PREFIX-*" >&2
    else
        rm -rf "$T" "$RT_PREFIX"-*
    fi
    exit "$rc"
}
trap cleanup EXIT

# free_port (and PostgreSQL for the tests that want one: pg_start, pg_stop).
source "$(dirname "${BASH_SOURCE[0]}")/pg.sh"

# agent_procs AGENT_ID PATTERN: the pids matching PATTERN (pgrep -f) that tasks
# of agent AGENT_ID started (their environment names it), so processes of
# other tests running on this machine at the same time do not count.
agent_procs() {
    local p
    for p in $(pgrep -f "$2" || true); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "MESOS_AGENT_ID=$1" && echo "$p" || true
    done
}

# wait_until SECONDS CMD...: retries CMD every 0.1 s until it succeeds.
wait_until() {
    local secs=$1
    shift
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then
            return 1
        fi
        sleep 0.1
    done
}

MASTER_PORT=""
MASTER_PID=""

# A test that stops daemons with SIGSTOP sets STOPPABLE=(setsid): its masters
# and agents then run in a session of their own (same pid), since a stopped
# process in the test's process group gets SIGHUP from the kernel if that
# group becomes orphaned meanwhile (when whatever started the test exits).
STOPPABLE=()

# start_master [FLAGS...]: starts a master on a free port (or $MASTER_PORT if set).
start_master() {
    MASTER_PORT=${MASTER_PORT:-$(free_port)}
    "${STOPPABLE[@]}" "$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="$MASTER_PORT" --work_dir="$T/master" \
        "$@" >>"$T/master.log" 2>&1 &
    MASTER_PID=$!
    PIDS+=("$MASTER_PID")
    wait_until 10 curl -sf "http://127.0.0.1:$MASTER_PORT/health" ||
        fail "master did not start"
}

# start_agent NAME [FLAGS...]: starts an agent with its own work_dir and port.
declare -A AGENT_PID AGENT_PORT
start_agent() {
    local name=$1
    shift
    start_agent_with "$name" "cpus:4;mem:4096;disk:10000;ports:[31000-31099]" "$@"
}

# start_agent_with NAME RESOURCES [FLAGS...]: start_agent with other --resources
# (--master: $AGENT_MASTER when set, e.g. zk://...; start_scheduler's: $SCHED_MASTER).
start_agent_with() {
    local name=$1 res=$2
    shift 2
    local port=${AGENT_PORT[$name]:-$(free_port)}
    AGENT_PORT[$name]=$port
    "${STOPPABLE[@]}" "$AGORA_BIN/agora-agent" --master="${AGENT_MASTER:-127.0.0.1:$MASTER_PORT}" --ip=127.0.0.1 --port="$port" \
        --hostname="$name" --work_dir="$T/agent-$name" --resources="$res" \
        "$@" >>"$T/agent-$name.log" 2>&1 &
    AGENT_PID[$name]=$!
    PIDS+=("${AGENT_PID[$name]}")
}

# master_json PATH: the master's JSON at PATH.
master_json() {
    curl -sf "http://127.0.0.1:$MASTER_PORT$1"
}

# active_agents: number of active agents.
active_agents() {
    master_json /state | jq '[.slaves[] | select(.active)] | length'
}

agents_are() {
    [ "$(active_agents)" = "$1" ]
}

wait_agents() {
    local n=$1
    wait_until 20 agents_are "$n" || fail "expected $n active agents, have $(active_agents)"
}

# Scheduler coprocess: commands on its stdin, JSON events on its stdout.
start_scheduler() {
    local name=$1
    shift
    mkfifo "$T/sched-$name.in"
    "$AGORA_BIN/agora-test-scheduler" --master="${SCHED_MASTER:-127.0.0.1:$MASTER_PORT}" --name="$name" "$@" \
        <"$T/sched-$name.in" >"$T/sched-$name.events" 2>>"$T/sched-$name.log" &
    PIDS+=($!)
    SCHED_PID=$!
    exec {SCHED_FD}>"$T/sched-$name.in"
    printf -v "SCHED_FD_$name" '%s' "$SCHED_FD"
    SCHED_NAME=$name
    echo 0 >"$T/sched-$name.seen"
}

# use_scheduler NAME: makes NAME the current scheduler for send/next_event.
use_scheduler() {
    SCHED_NAME=$1
    local v="SCHED_FD_$1"
    SCHED_FD=${!v}
}

# send CMD: sends one command line to the current scheduler.
send() {
    echo "$*" >&"$SCHED_FD"
}

# next_event SECONDS JQ_FILTER: waits for the next event (after those already
# consumed) matching the jq boolean filter; prints it. Events before it that do
# not match are consumed too. The position is kept in a file, so this works
# inside $(...).
next_event() {
    local secs=$1 filter=$2
    local end=$((SECONDS + secs)) line n seen
    local file="$T/sched-$SCHED_NAME.events" pos="$T/sched-$SCHED_NAME.seen"
    while :; do
        n=$(wc -l <"$file")
        seen=$(cat "$pos")
        while [ "$seen" -lt "$n" ]; do
            seen=$((seen + 1))
            echo "$seen" >"$pos"
            line=$(sed -n "${seen}p" "$file")
            if [ -n "$line" ] && echo "$line" | jq -e "$filter" >/dev/null 2>&1; then
                echo "$line"
                return 0
            fi
        done
        if [ $SECONDS -ge $end ]; then
            return 1
        fi
        sleep 0.05
    done
}

# expect_event SECONDS JQ_FILTER WHAT: as next_event, failing the test if none comes.
expect_event() {
    next_event "$1" "$2" || fail "no event matching '$2' within $1 s ($3)"
}

# saw_update TASK STATE: the current scheduler got that status update (events
# in any order). wait_update TASK STATE [SECONDS]: waits for it (10 s).
saw_update() {
    jq -e -s --arg t "$1" --arg s "$2" \
        'any(.[]; .event == "update" and .task_id == $t and .state == $s)' \
        "$T/sched-$SCHED_NAME.events" >/dev/null 2>&1
}
wait_update() {
    wait_until "${3:-10}" saw_update "$1" "$2" || fail "no $2 update for $1 within ${3:-10} s"
}

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: this test needs root (cgroups, namespaces)" >&2
        exit 77
    fi
}
