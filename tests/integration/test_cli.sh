#!/usr/bin/env bash
# The agora CLI: listings (tables and --json), exit codes and usage errors,
# task logs (plain, --stderr, --follow), version, `agora app` against a real
# agora-services, and `agora cluster up/status/down` of the real daemons in a
# scratch directory on non-default ports. The cluster's cgroups (root only)
# are tested in test_cli_cgroups.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

. "$(dirname "$0")/cli_lib.sh"

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

# ---- agora app against the real agora-services on this cluster ----
start_services
FRAMEWORK_ID=$(framework_id)
export AGORA_SERVICES="127.0.0.1:$SVC_PORT"
# Healthy while the file "ok" exists in the sandbox (a COMMAND check, every second).
cat >"$T/web.json" <<'JSON'
{"id": "/web", "cmd": "touch ok; exec sleep 1000", "instances": 2, "cpus": 0.1, "mem": 16,
 "healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -e ok"}, "delaySeconds": 0,
                   "intervalSeconds": 1, "timeoutSeconds": 5, "gracePeriodSeconds": 30,
                   "maxConsecutiveFailures": 3}]}
JSON
expect_rc 0 "$AG" app deploy "$T/web.json"
grep -q "^/web: created, deployment " "$T/out" || fail "deploy: $(cat "$T/out")"
grep -qx "/web: 2 running, 2 healthy of 2 instances" "$T/out" || fail "deploy progress: $(cat "$T/out")"
grep -qx "/web: deployed, 2 instances running and healthy" "$T/out" || fail "deploy result: $(cat "$T/out")"
# The CLI's word is the daemon's state: 2 running and healthy, nothing deploying.
app_json /web | jq -e '.tasksRunning == 2 and .tasksHealthy == 2 and (.deployments | length) == 0' >/dev/null ||
    fail "agora-services does not agree: $(app_json /web | jq -c '{tasksRunning, tasksHealthy, deployments}')"
expect_rc 0 "$AG" app list
grep -q "^/web  *2  *2  *2 .*RUNNING" "$T/out" || fail "app list: $(cat "$T/out")"
expect_rc 0 "$AG" app list --json
[ "$(jq -r '.[0].id' "$T/out")" = /web ] || fail "app list --json: $(cat "$T/out")"
expect_rc 0 "$AG" app show web
grep -q "instances:   2 (running 2, healthy 2" "$T/out" || fail "app show: $(cat "$T/out")"
expect_rc 0 "$AG" app show /web --json
[ "$(jq -r '.instances' "$T/out")" = 2 ] || fail "app show --json"
# Deploying the same file again updates the app (PUT).
expect_rc 0 "$AG" app deploy "$T/web.json"
grep -q "^/web: updating" "$T/out" || fail "redeploy: $(cat "$T/out")"
expect_rc 0 "$AG" app scale web 3
grep -qx "web: deployed, 3 instances running and healthy" "$T/out" || fail "scale: $(cat "$T/out")"
[ "$(app_json /web | jq .tasksHealthy)" = 3 ] || fail "scale: agora-services has $(app_json /web | jq .tasksHealthy) healthy"
before=$(app_task_ids /web)
expect_rc 0 "$AG" app restart web
grep -qx "web: deployed, 3 instances running and healthy" "$T/out" || fail "restart: $(cat "$T/out")"
[ -z "$(comm -12 <(echo "$before") <(app_task_ids /web))" ] || fail "restart kept old tasks"
# A change while a deployment runs: 409 without --force. The deployment of
# /stuck cannot finish (no agent has 100 cpus), so it is still running when
# the second change comes.
echo '{"id": "stuck", "cmd": "sleep 1000", "cpus": 100, "mem": 16}' >"$T/stuck.json"
expect_rc 0 "$AG" app deploy "$T/stuck.json" --no-wait
grep -q "^stuck: created, deployment " "$T/out" || fail "deploy --no-wait: $(cat "$T/out")"
expect_rc 1 "$AG" app scale stuck 2
grep -q "scaling stuck: the app is locked by a deployment in progress: App is locked by one or more deployments" "$T/err" || fail "409 message: $(cat "$T/err")"
[ "$(app_json /stuck | jq .instances)" = 1 ] || fail "a refused scale changed the app"
# --timeout: a deployment that cannot finish is given up on, saying where it stands.
expect_rc 1 "$AG" app scale stuck 2 --force --timeout=2secs
grep -q "stuck: timed out after 2s: 0 running of 2 instances (deploying)" "$T/err" ||
    fail "timeout message: $(cat "$T/err")"
expect_rc 0 "$AG" app scale stuck 0 --force
grep -qx "stuck: deployed, 0 instances running" "$T/out" || fail "scale --force: $(cat "$T/out")"
expect_rc 0 "$AG" app rm stuck
# Validation errors and failing tasks are explained, exit 1.
echo '{"id": "nocmd"}' >"$T/nocmd.json"
expect_rc 1 "$AG" app deploy "$T/nocmd.json"
grep -q "create nocmd failed: 422 " "$T/err" || fail "422 message: $(cat "$T/err")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SVC_PORT/v2/apps/nocmd")
[ "$code" = 404 ] || fail "a refused app was created ($code)"
# The crashing apps have a health check that never passes: without one, a task
# seen running for a moment before it exits would count as ready and end the
# deployment (as in Marathon).
NEVER_HEALTHY='"healthChecks": [{"protocol": "COMMAND", "command": {"value": "false"}, "gracePeriodSeconds": 300, "intervalSeconds": 1}]'
echo '{"id": "crash", "cmd": "exit 1", "cpus": 0.1, "mem": 16, "backoffSeconds": 0.2, '"$NEVER_HEALTHY"'}' >"$T/crash.json"
expect_rc 1 "$AG" app deploy "$T/crash.json"
grep -q "crash: giving up, tasks keep failing (3 failures); last: task crash\..* TASK_FAILED on a[12]: Command exited with status 1" "$T/err" ||
    fail "failure message: $(cat "$T/err")"
grep -q "agora task logs crash\." "$T/err" || fail "no hint to the failed task's output: $(cat "$T/err")"
# With --max_failures=0 it waits until --timeout and names the last failure
# (failures come every 0.2 s and more, with backoff; the app never runs).
echo '{"id": "crash2", "cmd": "exit 1", "cpus": 0.1, "mem": 16, "backoffSeconds": 0.2, '"$NEVER_HEALTHY"'}' >"$T/crash2.json"
expect_rc 1 "$AG" app deploy "$T/crash2.json" --max_failures=0 --timeout=20secs
grep -q "crash2: timed out after 20s.*; last task failure: task crash2\..*Command exited with status 1" "$T/err" ||
    fail "timeout message: $(cat "$T/err")"
echo '{not json' >"$T/broken.json"
expect_rc 1 "$AG" app deploy "$T/broken.json"
expect_rc 1 "$AG" app deploy "$T/missing.json"
# Their deployments never finish: removing them needs --force.
expect_rc 1 "$AG" app rm crash
grep -q "locked by a deployment in progress" "$T/err" || fail "rm of a deploying app: $(cat "$T/err")"
for a in crash crash2; do expect_rc 0 "$AG" app rm "$a" --force; done
expect_rc 0 "$AG" app rm web
grep -qx "web: removed" "$T/out" || fail "rm: $(cat "$T/out")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SVC_PORT/v2/apps/web")
[ "$code" = 404 ] || fail "agora-services still has /web after rm ($code)"
wait_until 20 test -z "$(master_running_tasks)" || fail "tasks left after rm: $(master_running_tasks)"
expect_rc 1 "$AG" app show web
grep -q "no app web" "$T/err" || fail "show of a removed app: $(cat "$T/err")"
expect_rc 1 "$AG" app list --services="127.0.0.1:$nowhere"
kill9_services
unset AGORA_SERVICES

# ---- agora cluster in a scratch directory, on non-default ports ----
cluster_bin
cluster_ports
expect_rc 1 "$CL" cluster status --dir="$CL_DIR"
expect_rc 0 "$CL" cluster up --dir="$CL_DIR" --port="$CL_PORT" --services_port="$CL_SVC" --agents=2
grep -q "master    http://127.0.0.1:$CL_PORT" "$T/out" || fail "up addresses: $(cat "$T/out")"
grep -q "services  http://127.0.0.1:$CL_SVC" "$T/out" || fail "up services: $(cat "$T/out")"
[ "$(curl -sf "http://127.0.0.1:$CL_PORT/slaves" | jq '[.slaves[] | select(.active)] | length')" = 2 ] ||
    fail "cluster: 2 active agents expected"
curl -sf "http://127.0.0.1:$CL_PORT/slaves" | jq -e '[.slaves[].attributes.rack] | sort == ["r1","r2"]' >/dev/null ||
    fail "cluster: rack attributes"
agent_ids=$(curl -sf "http://127.0.0.1:$CL_PORT/slaves" | jq -c '[.slaves[].id] | sort')
# The real agora-services of the cluster subscribed to its master.
wait_until 20 sh -c "curl -sf http://127.0.0.1:$CL_SVC/v2/info | jq -e '.frameworkId != null'" ||
    fail "the cluster's agora-services did not subscribe"
cl_fw=$(curl -sf "http://127.0.0.1:$CL_SVC/v2/info" | jq -r .frameworkId)
curl -sf "http://127.0.0.1:$CL_PORT/state" | jq -e --arg f "$cl_fw" '[.frameworks[] | select(.id == $f and .active)] | length == 1' >/dev/null ||
    fail "the master does not list agora-services' framework $cl_fw as active"
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
wait_until 20 sh -c "curl -sf http://127.0.0.1:$CL_PORT/slaves | jq -e '[.slaves[] | select(.active)] | length == 2'" ||
    fail "the agents did not come back"
[ "$(curl -sf "http://127.0.0.1:$CL_PORT/slaves" | jq -c '[.slaves[].id] | sort')" = "$agent_ids" ] ||
    fail "the agents came back under other ids"
expect_rc 0 "$CL" cluster down --dir="$CL_DIR" --purge
[ ! -e "$CL_DIR" ] || fail "--purge left $CL_DIR"
expect_rc 0 "$CL" cluster down --dir="$CL_DIR"
log "ok"
