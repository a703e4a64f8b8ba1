#!/usr/bin/env bash
# The agent's failure handling: tasks survive `kill -9` of the agent, which
# re-registers with the same id, learns the outcome of tasks that ended while
# it was down and resends unacknowledged updates; kill with TASK_KILLING then
# TASK_KILLED; re-registration after a master restart; the /files endpoints
# stay inside the sandboxes.
. "$(dirname "$0")/lib.sh"

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}

# task_field TASK JQ: a field of a task in the agent's /state.
task_field() {
    agent_json /state | jq -r --arg t "$1" \
        "[.frameworks[].executors[], .frameworks[].completed_executors[]] | .[].tasks[], .[].completed_tasks[] | select(.id == \$t) | $2" |
        head -1
}

start_master
start_agent a1 --status_update_retry_interval=500ms
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
start_scheduler fw1

expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
send launch_json "$offer" '[{"task_id":"long","resources":"cpus:0.5;mem:32;ports:[31005-31006]","cmd":"echo port=$PORT0 ports=$PORTS task=$AGORA_TASK_ID; sleep 1000"},{"task_id":"short","resources":"cpus:0.5;mem:32","cmd":"while [ ! -e go ]; do sleep 0.1; done; exit 4"}]'
expect_event 10 '.event == "update" and .task_id == "long" and .state == "TASK_STARTING"' "long starting" >/dev/null
expect_event 10 '.event == "update" and .task_id == "long" and .state == "TASK_RUNNING"' "long running" >/dev/null
wait_until 10 sh -c "curl -sf http://127.0.0.1:${AGENT_PORT[a1]}/state | jq -e '[.frameworks[].executors[].tasks[] | select(.id == \"short\" and .state == \"TASK_RUNNING\")] | length == 1'" ||
    fail "short is not running"

# The sandbox and the task's environment.
dir=$(task_field long .directory)
wait_until 20 grep -q "port=31005 ports=31005,31006 task=long" "$dir/stdout" || fail "task environment: $(cat "$dir/stdout")"
agent_json "/files/browse?path=$dir" | jq -e '.[] | select(.path | endswith("/stdout")) | .size > 0' >/dev/null ||
    fail "/files/browse does not list stdout"
agent_json "/files/read?path=$dir/stdout&offset=0" | jq -e '.data | test("port=31005")' >/dev/null ||
    fail "/files/read"
[ "$(agent_json "/files/read?path=$dir/stdout&offset=-1" | jq .offset)" -gt 0 ] || fail "/files/read offset=-1"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${AGENT_PORT[a1]}/files/read?path=$dir/../../../meta/agent.db")
[ "$code" = 404 ] || fail "/files/read outside the sandboxes gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${AGENT_PORT[a1]}/files/read?path=/etc/passwd")
[ "$code" = 404 ] || fail "/files/read of /etc/passwd gave $code"
ln -s /etc "$dir/escape"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${AGENT_PORT[a1]}/files/browse?path=$dir/escape")
[ "$code" = 404 ] || fail "/files/browse through a symlink gave $code"
agent_json /monitor/statistics | jq -e '[.[] | select(.executor_id == "long" and .task_pid > 0)] | length == 1' >/dev/null ||
    fail "/monitor/statistics"

# kill -9 the agent: tasks keep running; "short" ends while the agent is down
# (told to by a file in its sandbox).
long_pid=$(task_field long .pid)
short_pid=$(task_field short .pid)
short_dir=$(task_field short .directory)
[ -d "$short_dir" ] || fail "no sandbox for short"
kill -KILL "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
log "agent killed; long task pid $long_pid"
touch "$short_dir/go"
wait_until 30 eval '! kill -0 "$short_pid" 2>/dev/null' || fail "short did not end while the agent was down"
kill -0 "$long_pid" || fail "the task died with the agent"
start_agent a1 --status_update_retry_interval=500ms
expect_event 15 '.event == "update" and .task_id == "short" and .state == "TASK_FAILED"' "short's end after recovery" |
    jq -e '.message | test("status 4")' >/dev/null || fail "short's message"
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].id')" = "$agent_id" ] || fail "the agent re-registered with another id"
grep -q "recovered agent_id=$agent_id" "$T/agent-a1.log" || fail "no recovery line in the agent log"
[ "$(task_field long .state)" = TASK_RUNNING ] || fail "long is not running after recovery"
[ "$(task_field long .pid)" = "$long_pid" ] || fail "long has another pid after recovery"

# Kill: TASK_KILLING, then TASK_KILLED.
send kill long "$agent_id"
expect_event 10 '.event == "update" and .task_id == "long" and .state == "TASK_KILLING"' "long killing" >/dev/null
expect_event 10 '.event == "update" and .task_id == "long" and .state == "TASK_KILLED"' "long killed" >/dev/null
wait_until 20 sh -c "! kill -0 $long_pid" || fail "the task survived its kill"
# Once acknowledged, terminal tasks are forgotten.
wait_until 10 sh -c "curl -sf http://127.0.0.1:${AGENT_PORT[a1]}/state | jq -e '.frameworks | length == 0'" ||
    fail "acknowledged terminal tasks are still on the agent"

# Master restart: the agent re-registers with the same id and keeps its task.
ev=$(expect_event 10 '.event == "offers"' "offer for t3")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" t3 "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "t3" and .state == "TASK_RUNNING"' "t3 running" >/dev/null
t3_pid=$(task_field t3 .pid)
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].id')" = "$agent_id" ] || fail "another id after the master restart"
kill -0 "$t3_pid" || fail "t3 died across the master restart"
# The scheduler reconnects on its own; the kill reaches the re-registered agent.
send kill t3 "$agent_id"
expect_event 20 '.event == "update" and .task_id == "t3" and .state == "TASK_KILLED"' "t3 killed" >/dev/null
log "ok"
