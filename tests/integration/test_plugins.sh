#!/usr/bin/env bash
# The plugin host agora-scheduler and the example plugins on a real local
# cluster (a master, agents a1 with rack:r1 and a2 with rack:r2):
#   - install with `cmake --install`, then build plugins out of tree with
#     `pkg-config --cflags --libs agora-scheduler` (hello.c from the docs, batch.c
#     and spread.c copied with their example_util.h, and the test plugins of
#     tests/integration/plugins/);
#   - a plugin with a foreign ABI version, a .so without the descriptor, a file
#     that is no shared object and a bad config are refused with exit status 2;
#   - hello (built in tree, and out of tree under the installed host) runs its tasks;
#   - batch retries a failing-then-succeeding job and exits 0, honours a
#     constraint, exits 1 for a job that keeps failing, and resumes after kill -9
#     of the host without launching again;
#   - a buggy plugin that asks for more than offered gets TASK_ERROR, its open
#     transaction is rolled back, and the master stays healthy;
#   - spread keeps one copy per rack, replaces a killed copy on the same rack,
#     and after kill -9 of the host a new host resumes the same framework with
#     the same tasks running, reconciled.
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$AGORA_BIN/.." && pwd)
HOST="$AGORA_BIN/agora-scheduler"
[ -x "$HOST" ] || fail "no $HOST: build the agora-scheduler-host target"

# run_host NAME [HOST_FLAGS...]: runs a plugin host in the foreground against the
# cluster, with --work_dir=$T/wd-NAME; log in $T/host-NAME.log; exit status in RC.
run_host() {
    local name=$1
    shift
    set +e
    timeout 120 "${HOST_BIN:-$HOST}" --master="127.0.0.1:$MASTER_PORT" --work_dir="$T/wd-$name" \
        "$@" >>"$T/host-$name.log" 2>&1
    RC=$?
    set -e
}

# start_host NAME [HOST_FLAGS...]: as run_host, in the background (HOST_PID).
start_host() {
    local name=$1
    shift
    "$HOST" --master="127.0.0.1:$MASTER_PORT" --work_dir="$T/wd-$name" "$@" \
        >>"$T/host-$name.log" 2>&1 &
    HOST_PID=$!
    PIDS+=("$HOST_PID")
}

# in_log NAME TEXT: the host log NAME contains TEXT.
in_log() {
    grep -qF -- "$2" "$T/host-$1.log"
}

expect_log() {
    wait_until "$3" in_log "$1" "$2" || fail "host $1: no \"$2\" in its log within $3 s"
}

# spread_tasks: "TASK_ID@RACK ..." of the spread framework's running tasks, sorted by rack.
spread_tasks() {
    master_json /state | jq -r '. as $s | [.frameworks[] | select(.name == "spread") | .tasks[]
        | select(.state == "TASK_RUNNING") | .slave_id as $a
        | "\(.id)@\($s.slaves[] | select(.id == $a) | .attributes.rack)"]
        | sort_by(split("@")[1]) | join(" ")'
}

racks_are() {
    [ "$(spread_tasks | tr ' ' '\n' | sed 's/.*@//' | paste -sd, -)" = "$1" ]
}

# --- the line-by-line walk through hello in the docs quotes hello.c verbatim
python3 - "$SRC" <<'PY' || fail "docs/writing-a-scheduler.md no longer quotes framework/plugins/hello.c"
import re, sys
doc = open(sys.argv[1] + "/docs/writing-a-scheduler.md").read()
src = open(sys.argv[1] + "/framework/plugins/hello.c").read()
sec = doc[doc.index("## hello, line by line"):doc.index("## Building a plugin out of tree")]
blocks = re.findall(r"```c\n(.*?)```", sec, re.S)
bad = [b for b in blocks if b not in src]
for b in bad:
    print("not in hello.c:\n" + b, file=sys.stderr)
sys.exit(1 if bad or len(blocks) < 10 else 0)
PY

start_master
start_agent a1 --attributes=rack:r1
start_agent a2 --attributes=rack:r2
wait_agents 2

# --- install, and build plugins out of tree against the installed library
log "installing into $T/prefix"
cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 || fail "cmake --install failed"
pc=$(find "$T/prefix" -name agora-scheduler.pc | head -1)
[ -n "$pc" ] || fail "agora-scheduler.pc not installed"
[ -f "$T/prefix/include/agora/plugin.h" ] || fail "agora/plugin.h not installed"
[ -f "$T/prefix/include/agora/error.h" ] || fail "agora/error.h not installed"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
oot() { # oot OUT.so SRC.c [PKG...]: builds a plugin the way docs/writing-a-scheduler.md says
    cc -shared -fPIC -Wall -Wextra -Wno-unused-parameter -Werror -o "$1" "$2" \
        $(pkg-config --cflags --libs agora-scheduler "${@:3}") 2>>"$T/oot.log" ||
        fail "building $2 out of tree failed: $(cat "$T/oot.log")"
}
oot "$T/hello_oot.so" "$SRC/framework/plugins/hello.c"
# batch and spread need only example_util.h beside them (and jansson).
mkdir -p "$T/oot-src"
cp "$SRC/framework/plugins/"{batch.c,spread.c,example_util.h} "$T/oot-src/"
for p in batch spread; do
    oot "$T/${p}_oot.so" "$T/oot-src/$p.c" jansson
done
for p in bad_abi no_symbol greedy; do
    oot "$T/$p.so" "$SRC/tests/integration/plugins/$p.c"
done

# --- refusals: exit status 2 and a message saying what was expected
run_host bad_abi --plugin="$T/bad_abi.so"
[ "$RC" = 2 ] || fail "bad ABI plugin: exit status $RC, expected 2"
in_log bad_abi "ABI version 99, this host supports 1; rebuild the plugin against agora-scheduler" ||
    fail "bad ABI plugin: no clear message: $(cat "$T/host-bad_abi.log")"
run_host no_symbol --plugin="$T/no_symbol.so"
[ "$RC" = 2 ] || fail "plugin without descriptor: exit status $RC, expected 2"
in_log no_symbol "no symbol 'agora_plugin'" ||
    fail "plugin without descriptor: no clear message: $(cat "$T/host-no_symbol.log")"
echo "not a shared object" >"$T/junk.so"
run_host junk --plugin="$T/junk.so"
[ "$RC" = 2 ] && in_log junk "cannot load" || fail "junk plugin: status $RC, $(cat "$T/host-junk.log")"
run_host missing --plugin=no-such-plugin
[ "$RC" = 2 ] && in_log missing "not found" || fail "missing plugin: status $RC"
echo '{"instances": "three"}' >"$T/hello-bad.json"
run_host badconf --plugin=hello --config="$T/hello-bad.json"
[ "$RC" = 2 ] && in_log badconf '"instances" must be a whole number' ||
    fail "bad config: status $RC, $(cat "$T/host-badconf.log")"
# Nothing of these reached the master.
[ "$(master_json /state | jq '.frameworks | length')" = 0 ] || fail "a refused plugin registered"

# --- hello, in tree (found by name) and out of tree under the installed host
run_host hello --plugin=hello --config=<(echo '{"instances": 3}')
[ "$RC" = 0 ] || fail "hello exited $RC"
in_log hello "all 3 tasks ended, 0 failed" || fail "hello did not report its tasks"
[ "$(master_json /state | jq '[.frameworks[] | select(.name == "hello")] | length')" = 0 ] ||
    fail "hello's framework was not torn down"
[ "$(sqlite3 "$T/wd-hello/plugin.db" 'SELECT count(*) FROM host')" = 0 ] ||
    fail "hello's state was not cleared at the end of its run"
HOST_BIN="$T/prefix/bin/agora-scheduler" run_host hello_oot --plugin="$T/hello_oot.so" \
    --name=hello-oot
[ "$RC" = 0 ] && in_log hello_oot "all 3 tasks ended, 0 failed" ||
    fail "out-of-tree hello under the installed host: status $RC"

# --- batch: retry with backoff, a constraint, exit 0
cat >"$T/batch-ok.json" <<'EOF'
{"jobs": [
  {"name": "flaky", "command": "echo attempt $BATCH_ATTEMPT; test $BATCH_ATTEMPT -ge 2",
   "retries": 2, "backoff_s": 0.5},
  {"name": "onr2", "command": "true", "instances": 3, "resources": "cpus:0.2;mem:16",
   "constraint": "rack:r2"}
], "progress_interval_s": 1}
EOF
run_host batch --plugin=batch --config="$T/batch-ok.json"
[ "$RC" = 0 ] || fail "batch exited $RC"
in_log batch "flaky.0.1 ended TASK_FAILED" || fail "batch: the first attempt did not fail"
in_log batch "retrying flaky/0 in 0.5 s" || fail "batch: no backoff"
in_log batch "flaky.0.2 finished" || fail "batch: the retry did not succeed"
in_log batch "all jobs succeeded" || fail "batch: no final report"
if grep -E "launched onr2\.[0-9]+\.[0-9]+ on a1" "$T/host-batch.log"; then
    fail "batch: the constraint rack:r2 was not honoured"
fi

# --- batch: a job that keeps failing ends the run with status 1
echo '{"jobs": [{"name": "doomed", "command": "exit 3", "retries": 1, "backoff_s": 0.2}]}' \
    >"$T/batch-fail.json"
run_host batch_fail --plugin=batch --config="$T/batch-fail.json"
[ "$RC" = 1 ] || fail "failing batch exited $RC, expected 1"
in_log batch_fail "job doomed instance 0 failed for good after 2 attempts" ||
    fail "failing batch: no clear report"

# --- batch: kill -9 of the host while tasks run; the restarted host resumes them
echo '{"jobs": [{"name": "long", "command": "sleep 4", "instances": 2}]}' >"$T/batch-long.json"
start_host batch_long --plugin=batch --config="$T/batch-long.json"
expect_log batch_long "launched long.1.1" 20
fid=$(sed -n 's/.*subscribed framework_id=\([^ ]*\).*/\1/p' "$T/host-batch_long.log" | head -1)
kill -KILL "$HOST_PID"
wait "$HOST_PID" 2>/dev/null || true
log "batch host killed; restarting"
: >"$T/host-batch_long.log"
run_host batch_long --plugin=batch --config="$T/batch-long.json"
[ "$RC" = 0 ] || fail "resumed batch exited $RC"
in_log batch_long "subscribed framework_id=$fid (resumed)" || fail "batch did not resume $fid"
in_log batch_long "reconciling 2 launched tasks" || fail "batch did not reconcile"
if in_log batch_long "launched long."; then
    fail "resumed batch launched its tasks again"
fi

# --- a buggy plugin: more than offered -> TASK_ERROR, the master stays healthy
run_host greedy --plugin="$T/greedy.so"
[ "$RC" = 0 ] || fail "greedy exited $RC"
in_log greedy "too-big TASK_ERROR" || fail "greedy: no TASK_ERROR: $(cat "$T/host-greedy.log")"
in_log greedy "a key-value transaction was left open by offers; rolled back" ||
    fail "greedy: the open transaction was not reported"
in_log greedy "the open transaction was rolled back" || fail "greedy: the transaction survived"
curl -sf "http://127.0.0.1:$MASTER_PORT/health" >/dev/null || fail "master unhealthy"
kill -0 "$MASTER_PID" || fail "master died"
agents_are 2 || fail "agents lost after the buggy plugin"

# --- spread: one copy per rack, a killed copy replaced on its rack
cat >"$T/spread.json" <<'EOF'
{"name": "web", "command": "sleep 600", "resources": "cpus:0.1;mem:16", "count": 2,
 "attribute": "rack"}
EOF
start_host spread --plugin=spread --config="$T/spread.json"
wait_until 30 racks_are r1,r2 || fail "spread: copies not on r1 and r2: $(spread_tasks)"
before=$(spread_tasks)
log "spread copies: $before"
# One host per work_dir, and a work_dir belongs to one plugin.
run_host spread --plugin=spread --config="$T/spread.json"
[ "$RC" = 2 ] && in_log spread "another agora-scheduler (pid $HOST_PID) is running" ||
    fail "a second host on the same work_dir was not refused (status $RC)"
sfid=$(sed -n 's/.*subscribed framework_id=\([^ ]*\).*/\1/p' "$T/host-spread.log" | head -1)
[ "$(sqlite3 "$T/wd-spread/plugin.db" "SELECT value FROM host WHERE key = 'framework_id'")" = "$sfid" ] ||
    fail "spread's framework id is not kept in its work_dir"
pid=$(curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" |
    jq -r '.frameworks[].executors[].tasks[] | select(.state == "TASK_RUNNING") | .pid' | head -1)
[ -n "$pid" ] && [ "$pid" != null ] || fail "no running task on a1"
r1_task=$(tr ' ' '\n' <<<"$before" | grep '@r1$')
kill -KILL "$pid"
expect_log spread "replacing" 20
new_r1() { racks_are r1,r2 && ! spread_tasks | grep -qF "$r1_task"; }
wait_until 30 new_r1 || fail "spread: killed copy not replaced on r1: $(spread_tasks)"
before=$(spread_tasks)
log "after replacement: $before"

# --- spread: kill -9 of the host, a new host resumes the framework and its tasks
kill -KILL "$HOST_PID"
wait "$HOST_PID" 2>/dev/null || true
sleep 1
[ "$(spread_tasks)" = "$before" ] || fail "tasks changed while the host was down: $(spread_tasks)"
: >"$T/host-spread.log"
start_host spread --plugin=spread --config="$T/spread.json"
expect_log spread "subscribed framework_id=$sfid (resumed)" 20
expect_log spread "every copy reconciled" 20
expect_log spread "2/2 copies running" 10
sleep 1
[ "$(spread_tasks)" = "$before" ] || fail "resumed spread changed its tasks: $(spread_tasks) vs $before"
if in_log spread "launched "; then
    fail "resumed spread launched new copies"
fi
[ "$(master_json /state | jq --arg f "$sfid" '[.frameworks[] | select(.id == $f)] | length')" = 1 ] ||
    fail "spread's framework is not the one resumed"

# SIGTERM: the host stops, the framework and its tasks stay for the failover timeout.
kill -TERM "$HOST_PID"
wait "$HOST_PID" || fail "spread host exited with an error on SIGTERM"
[ "$(spread_tasks)" = "$before" ] || fail "tasks changed after SIGTERM of the host"

run_host spread --plugin=hello
[ "$RC" = 2 ] && in_log spread "holds the state of plugin 'spread', not 'hello'" ||
    fail "a work_dir of another plugin was not refused (status $RC)"

# The cluster is fine after all this.
curl -sf "http://127.0.0.1:$MASTER_PORT/health" >/dev/null || fail "master unhealthy at the end"
log "ok"
