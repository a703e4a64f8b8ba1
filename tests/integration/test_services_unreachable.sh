#!/usr/bin/env bash
# An agent cut off (SIGSTOP): its tasks become UNREACHABLE, are replaced
# elsewhere after unreachableStrategy.inactiveAfterSeconds, and when the agent
# comes back (SIGCONT) the old tasks are killed so the count converges.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"
STOPPABLE=(setsid) # daemons are stopped with SIGSTOP below

# A frozen agent is unreachable after 3 missed pings, 1 s apart.
start_master --agent_ping_timeout=1secs --max_agent_ping_timeouts=3
start_svc_agent a1
wait_agents 1
start_services
FRAMEWORK_ID=$(framework_id)

api POST /v2/apps '{"id": "/u", "cmd": "sleep 1000", "cpus": 0.1, "mem": 8, "instances": 2,
    "unreachableStrategy": {"inactiveAfterSeconds": 2, "expungeAfterSeconds": 600}}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(api_code) $(cat "$T/api.body")"
wait_app /u 2
old=$(app_task_ids /u)
start_svc_agent a2
wait_agents 2

kill -STOP "${AGENT_PID[a1]}"
wait_until 30 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/u | jq -e '[.app.tasks[] | select(.state == \"TASK_UNREACHABLE\")] | length == 2'" ||
    { kill -CONT "${AGENT_PID[a1]}"; fail "tasks did not become unreachable: $(app_json /u | jq -c '[.tasks[].state]')"; }
log "a1's tasks are unreachable"
# Replaced on a2 after inactiveAfterSeconds.
wait_until 30 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/u | jq -e '[.app.tasks[] | select(.host == \"a2\" and .state == \"TASK_RUNNING\")] | length == 2'" ||
    { kill -CONT "${AGENT_PID[a1]}"; fail "not replaced on a2: $(app_json /u | jq -c '[.tasks[] | {host, state}]')"; }
log "replaced on a2"

kill -CONT "${AGENT_PID[a1]}"
# a1 comes back: its tasks are RUNNING again, then killed; 2 tasks remain, on a2.
wait_until 60 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/u | jq -e '(.app.tasks | length) == 2 and ([.app.tasks[] | select(.host == \"a2\")] | length) == 2'" ||
    fail "did not converge: $(app_json /u | jq -c '[.tasks[] | {host, state, killing}]')"
wait_app /u 2
[ -z "$(comm -12 <(echo "$old") <(app_task_ids /u))" ] || fail "an old task survived"
for t in $old; do
    grep -q "came back after being replaced task=$t" "$T/services.log" ||
        fail "$t was not seen coming back"
    grep -q "killing task=$t" "$T/services.log" || fail "$t was not killed"
done
wait_until 20 sh -c "[ \$(curl -sf http://127.0.0.1:$MASTER_PORT/state | jq --arg f $FRAMEWORK_ID '[.frameworks[] | select(.id == \$f) | .tasks[] | select(.state == \"TASK_RUNNING\")] | length') = 2 ]" ||
    fail "master should run exactly 2 tasks"
log "ok"
