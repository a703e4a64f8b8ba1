#!/usr/bin/env bash
# The agora CLI: listings (tables and --json), exit codes and usage errors,
# task logs (plain, --stderr, --follow), version, `agora app` against a fake
# Marathon API (tests/integration/fake_services.py), and `agora cluster
# up/status/down` in a scratch directory on non-default ports.
. "$(dirname "$0")/lib.sh"

AG="$AGORA_BIN/agora"
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$AG" ] || fail "no $AG"

CL_DIR="$T/cluster"
CL_BIN="$T/bin"
cluster_cleanup() {
    if [ -x "$CL_BIN/agora" ] && [ -f "$CL_DIR/cluster.json" ]; then
        "$CL_BIN/agora" cluster down --dir="$CL_DIR" --grace=2secs >/dev/null 2>&1 || true
    fi
    for f in "$CL_DIR"/*.pid; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
}
trap 'rc=$?; set +e; cluster_cleanup; (exit $rc); cleanup' EXIT

# expect_rc RC CMD...: runs CMD, output in $T/out and $T/err, fails unless it exits RC.
expect_rc() {
    local want=$1 got=0
    shift
    "$@" >"$T/out" 2>"$T/err" || got=$?
    if [ "$got" != "$want" ]; then
        log "stdout: $(cat "$T/out")"
        log "stderr: $(cat "$T/err")"
        fail "'$*' exited $got, expected $want"
    fi
}

# ---- usage errors and help (no server needed) ----
expect_rc 2 "$AG"
expect_rc 2 "$AG" bogus
grep -q 'unknown command "bogus"' "$T/err" || fail "unknown command message"
expect_rc 2 "$AG" agents --bogus
expect_rc 2 "$AG" agents extra
expect_rc 2 "$AG" task logs
expect_rc 2 "$AG" task frobnicate x
expect_rc 2 "$AG" app scale myapp many
expect_rc 2 "$AG" cluster
expect_rc 2 "$AG" cluster sideways
expect_rc 0 "$AG" help
grep -q "cluster" "$T/out" || fail "help lists no commands"
for cmd in cluster agents frameworks tasks task app version; do
    expect_rc 0 "$AG" help "$cmd"
    grep -q "^Usage:" "$T/out" || fail "agora help $cmd: no usage"
    expect_rc 0 "$AG" "$cmd" --help
    grep -q -- "--help" "$T/out" || fail "agora $cmd --help: no flags"
done
expect_rc 0 "$AG" report --help
expect_rc 2 "$AG" help bogus

# A master that is not there: exit 1 and a message naming the address.
nowhere=$(free_port)
expect_rc 1 "$AG" agents --master="127.0.0.1:$nowhere"
grep -q "cannot reach the master at http://127.0.0.1:$nowhere" "$T/err" || fail "unreachable message: $(cat "$T/err")"
expect_rc 0 "$AG" version --master="127.0.0.1:$nowhere"
grep -q "master unreachable" "$T/out" || fail "version without master"

# ---- listings against a real cluster ----
start_master
start_agent a1 --attributes="rack:r1"
start_agent a2 --attributes="rack:r2"
wait_agents 2
export AGORA_MASTER="127.0.0.1:$MASTER_PORT"

expect_rc 0 "$AG" agents
grep -q "^ID  *HOSTNAME" "$T/out" || fail "agents header: $(cat "$T/out")"
grep -q "a1 .*ACTIVE *0/4 *0M/4G .*rack:r1" "$T/out" || fail "agents row a1: $(cat "$T/out")"
expect_rc 0 "$AG" agents --json
[ "$(jq 'length' "$T/out")" = 2 ] || fail "agents --json: $(cat "$T/out")"
[ "$(jq -r '[.[].hostname] | sort | join(",")' "$T/out")" = "a1,a2" ] || fail "agents --json hostnames"
# The flag beats the environment; flags may come before the command.
expect_rc 1 env AGORA_MASTER="127.0.0.1:$nowhere" "$AG" agents
expect_rc 0 env AGORA_MASTER="127.0.0.1:$nowhere" "$AG" --master="127.0.0.1:$MASTER_PORT" agents --json

expect_rc 0 "$AG" version
grep -q "master [0-9]" "$T/out" || fail "version: $(cat "$T/out")"
expect_rc 0 "$AG" version --json
jq -e '.master.version' "$T/out" >/dev/null || fail "version --json"

start_scheduler fw1
fwid=$(expect_event 10 '.event == "subscribed"' "subscription" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
send launch "$offer" logger "cpus:0.5;mem:64" 'for i in 1 2 3 4 5 6; do echo "out $i"; echo "err $i" >&2; sleep 0.3; done'
expect_event 10 '.event == "update" and .task_id == "logger" and .state == "TASK_RUNNING"' "logger running"

expect_rc 0 "$AG" frameworks
grep -q "$fwid  *fw1 .*ACTIVE *1" "$T/out" || fail "frameworks row: $(cat "$T/out")"
expect_rc 0 "$AG" frameworks --json
jq -e --arg f "$fwid" '.[] | select(.id == $f and .name == "fw1")' "$T/out" >/dev/null || fail "frameworks --json"
expect_rc 0 "$AG" tasks --state=running
grep -q "^logger .*TASK_RUNNING *0.5 *64M" "$T/out" || fail "tasks running: $(cat "$T/out")"
expect_rc 0 "$AG" tasks --framework="$fwid" --state=TASK_RUNNING --json
[ "$(jq -r '.[0].id' "$T/out")" = logger ] || fail "tasks --json filter: $(cat "$T/out")"
expect_rc 0 "$AG" tasks --state=finished --json
[ "$(jq 'length' "$T/out")" = 0 ] || fail "no task should be finished yet"
expect_rc 0 "$AG" tasks --framework=nosuchframework --json
[ "$(jq 'length' "$T/out")" = 0 ] || fail "--framework filter"

# --follow prints everything and returns once the task has finished.
expect_rc 0 timeout 30 "$AG" task logs logger --follow
for i in 1 2 3 4 5 6; do
    grep -qx "out $i" "$T/out" || fail "follow: missing 'out $i': $(cat "$T/out")"
done
grep -q "err" "$T/out" && fail "stdout shows stderr"
expect_event 10 '.event == "update" and .task_id == "logger" and .state == "TASK_FINISHED"' "logger finished"
expect_rc 0 "$AG" task logs logger --stderr
[ "$(cat "$T/out")" = "$(printf 'err %s\n' 1 2 3 4 5 6)" ] || fail "stderr: $(cat "$T/out")"
expect_rc 0 "$AG" task logs logger --framework="$fwid"
[ "$(wc -l <"$T/out")" = 6 ] || fail "stdout of a finished task: $(cat "$T/out")"
expect_rc 1 "$AG" task logs nosuchtask
grep -q "no task nosuchtask" "$T/err" || fail "unknown task message"
expect_rc 0 "$AG" tasks --state=TASK_FINISHED
grep -q "^logger .*TASK_FINISHED" "$T/out" || fail "finished task listed: $(cat "$T/out")"
send quit

# ---- agora app against a fake Marathon API ----
# The interpreter itself, not a wrapper (pyenv shims) whose pid would not be python's.
PY=$(python3 -c 'import sys; print(sys.executable)')
SVC_PORT=$(free_port)
"$PY" "$HERE/fake_services.py" --http_port="$SVC_PORT" 2>>"$T/fake-services.log" &
PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$SVC_PORT/ping" || fail "fake services did not start"
export AGORA_SERVICES="127.0.0.1:$SVC_PORT"
cat >"$T/web.json" <<'EOF'
{"id": "/web", "cmd": "python3 -m http.server $PORT0", "instances": 2, "cpus": 0.1, "mem": 32,
 "healthChecks": [{"protocol": "HTTP", "path": "/"}]}
EOF
expect_rc 0 "$AG" app deploy "$T/web.json"
grep -q "/web: created" "$T/out" || fail "deploy: $(cat "$T/out")"
grep -q "2 running, 2 healthy of 2 instances" "$T/out" || fail "deploy progress: $(cat "$T/out")"
grep -q "deployed, 2 instances running and healthy" "$T/out" || fail "deploy result"
expect_rc 0 "$AG" app list
grep -q "^/web  *2  *2  *2 .*RUNNING" "$T/out" || fail "app list: $(cat "$T/out")"
expect_rc 0 "$AG" app list --json
[ "$(jq -r '.[0].id' "$T/out")" = /web ] || fail "app list --json"
expect_rc 0 "$AG" app show web
grep -q "instances:   2 (running 2, healthy 2" "$T/out" || fail "app show: $(cat "$T/out")"
expect_rc 0 "$AG" app show /web --json
[ "$(jq -r '.instances' "$T/out")" = 2 ] || fail "app show --json"
# Deploying the same file again updates the app (PUT).
expect_rc 0 "$AG" app deploy "$T/web.json"
grep -q "/web: updating" "$T/out" || fail "redeploy: $(cat "$T/out")"
expect_rc 0 "$AG" app scale web 3
grep -q "deployed, 3 instances" "$T/out" || fail "scale: $(cat "$T/out")"
expect_rc 0 "$AG" app restart web
# A change while a deployment runs: 409 without --force.
expect_rc 0 "$AG" app scale web 1 --no-wait
expect_rc 1 "$AG" app scale web 2
grep -q "locked by a deployment" "$T/err" || fail "409 message: $(cat "$T/err")"
expect_rc 0 "$AG" app scale web 2 --force
# Validation errors and failing tasks are explained, exit 1.
echo '{"id": "nocmd"}' >"$T/nocmd.json"
expect_rc 1 "$AG" app deploy "$T/nocmd.json"
grep -q "422 .*/cmd: cmd or container must be given" "$T/err" || fail "422 message: $(cat "$T/err")"
echo '{"id": "crash", "cmd": "fail now"}' >"$T/crash.json"
expect_rc 1 "$AG" app deploy "$T/crash.json" --timeout=20secs
grep -q "tasks keep failing .*Command exited with status 1" "$T/err" || fail "failure message: $(cat "$T/err")"
echo '{"id": "crash2", "cmd": "fail again"}' >"$T/crash2.json"
expect_rc 1 "$AG" app deploy "$T/crash2.json" --max_failures=0 --timeout=2secs
grep -q "timed out after 2s.*last task failure: task crash2" "$T/err" || fail "timeout message: $(cat "$T/err")"
echo '{not json' >"$T/broken.json"
expect_rc 1 "$AG" app deploy "$T/broken.json"
expect_rc 1 "$AG" app deploy "$T/missing.json"
expect_rc 0 "$AG" app rm web
grep -q "web: removed" "$T/out" || fail "rm: $(cat "$T/out")"
expect_rc 1 "$AG" app show web
expect_rc 1 "$AG" app list --services="127.0.0.1:$nowhere"

# ---- agora cluster in a scratch directory, on non-default ports ----
# The daemons are found beside the agora binary: a bin directory with the real
# ones linked in and the fake agora-services.
mkdir -p "$CL_BIN"
cp "$AG" "$CL_BIN/agora"
for b in agora-master agora-agent agora-executor; do
    ln -s "$AGORA_BIN/$b" "$CL_BIN/$b"
done
{
    printf '#!%s\n' "$PY"
    tail -n +2 "$HERE/fake_services.py"
} >"$CL_BIN/agora-services"
chmod +x "$CL_BIN/agora-services"
ports_free() {
    local p
    for p in "$@"; do
        if (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            return 1
        fi
    done
}
while :; do
    CL_PORT=$(free_port)
    CL_SVC=$(free_port)
    ports_free "$CL_PORT" $((CL_PORT + 1)) $((CL_PORT + 2)) "$CL_SVC" &&
        [ "$CL_SVC" -gt $((CL_PORT + 2)) -o "$CL_SVC" -lt "$CL_PORT" ] && break
done
CL="$CL_BIN/agora"
expect_rc 1 "$CL" cluster status --dir="$CL_DIR"
expect_rc 0 "$CL" cluster up --dir="$CL_DIR" --port="$CL_PORT" --services_port="$CL_SVC" --agents=2
grep -q "master    http://127.0.0.1:$CL_PORT" "$T/out" || fail "up addresses: $(cat "$T/out")"
grep -q "services  http://127.0.0.1:$CL_SVC" "$T/out" || fail "up services: $(cat "$T/out")"
[ "$(curl -sf "http://127.0.0.1:$CL_PORT/slaves" | jq '[.slaves[] | select(.active)] | length')" = 2 ] ||
    fail "cluster: 2 active agents expected"
curl -sf "http://127.0.0.1:$CL_PORT/slaves" | jq -e '[.slaves[].attributes.rack] | sort == ["r1","r2"]' >/dev/null ||
    fail "cluster: rack attributes"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR"
[ "$(grep -c " running  *healthy " "$T/out")" = 4 ] || fail "status: $(cat "$T/out")"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR" --json
pids_before=$(jq -c 'map(.pid)' "$T/out")
# up again: everything healthy is left alone.
expect_rc 0 "$CL" cluster up --dir="$CL_DIR"
grep -q "agent1    running (pid" "$T/out" || fail "second up: $(cat "$T/out")"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR" --json
[ "$(jq -c 'map(.pid)' "$T/out")" = "$pids_before" ] || fail "second up restarted something"
# A changed layout while running is refused.
expect_rc 1 "$CL" cluster up --dir="$CL_DIR" --agents=3
# A dead agent shows in status (exit 1) and the next up restarts only it.
kill -KILL "$(cat "$CL_DIR/agent1.pid")"
expect_rc 1 "$CL" cluster status --dir="$CL_DIR"
grep -q "^agent1  *-  *stopped" "$T/out" || fail "status after kill: $(cat "$T/out")"
expect_rc 0 "$CL" cluster up --dir="$CL_DIR"
grep -q "agent1    started" "$T/out" || fail "up after kill: $(cat "$T/out")"
grep -q "agent2    running" "$T/out" || fail "up after kill left agent2: $(cat "$T/out")"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR"
# The CLI can use it.
expect_rc 0 "$CL" agents --master="127.0.0.1:$CL_PORT" --json
[ "$(jq 'length' "$T/out")" = 2 ] || fail "agents of the local cluster"
cl_pids=$(jq -r '.[].pid' <("$CL" cluster status --dir="$CL_DIR" --json))
expect_rc 0 "$CL" cluster down --dir="$CL_DIR"
for p in $cl_pids; do
    if kill -0 "$p" 2>/dev/null && ! grep -q Z "/proc/$p/stat" 2>/dev/null; then
        fail "pid $p still running after down"
    fi
done
[ -f "$CL_DIR/master/registry.db" ] || fail "down removed state"
expect_rc 1 "$CL" cluster status --dir="$CL_DIR"
grep -q "^master  *-  *stopped" "$T/out" || fail "status after down: $(cat "$T/out")"
# Restart on the kept state: the agents come back under their ids.
expect_rc 0 "$CL" cluster up --dir="$CL_DIR"
# down stops the tasks while their agents run, so that the agents remove the
# containers' cgroups; --purge removes the agents' cgroup roots with the state.
saved_port=$MASTER_PORT
MASTER_PORT=$CL_PORT
start_scheduler down
MASTER_PORT=$saved_port
offer=$(expect_event 10 '.event == "offers"' "an offer of the local cluster" | jq -r '.offers[0].id')
send launch "$offer" t1 "cpus:0.1;mem:16" sleep 600
expect_event 10 '.event == "update" and .task_id == "t1" and .state == "TASK_RUNNING"' "t1 running" >/dev/null
roots=$(cat "$CL_DIR"/agent*/meta/cgroups 2>/dev/null || true)
if [ -n "$roots" ]; then
    [ "$(for r in $roots; do ls -d "$r"/*/ 2>/dev/null; done | wc -l)" -gt 0 ] ||
        fail "no container cgroups under the agents roots while the app runs: $roots; $(cat "$T/out")"
fi
expect_rc 0 "$CL" cluster down --dir="$CL_DIR" --purge
[ ! -e "$CL_DIR" ] || fail "--purge left $CL_DIR"
for r in $roots; do
    [ ! -e "$r" ] || fail "cluster down --purge left the cgroup $r ($(ls "$r" | head -20 | tr '\n' ' '))"
done
expect_rc 0 "$CL" cluster down --dir="$CL_DIR"
log "ok"
