#!/usr/bin/env bash
# An agent that stops answering pings becomes unreachable: its offers are
# rescinded and its tasks reported TASK_UNREACHABLE to a partition-aware
# framework and TASK_LOST to another; when it comes back in time it re-registers
# with the same id and the partition-aware framework's task is RUNNING again
# (the other one, already reported LOST, is killed). Resources are never
# offered twice: while a framework holds the agent's only offer, another gets none.
. "$(dirname "$0")/lib.sh"
STOPPABLE=(setsid) # daemons are stopped with SIGSTOP below

# Pings every second, 3 missed make the agent unreachable: a frozen agent is
# noticed after about 3-4 s ($DETECT allows for a busy machine), a slow one is not.
PING_S=1
MAX_PINGS=3
DETECT=$((PING_S * (MAX_PINGS + 1) + 15))
start_master --agent_ping_timeout=${PING_S}secs --max_agent_ping_timeouts=$MAX_PINGS --agent_reregister_timeout=60secs
start_agent a1
wait_agents 1

start_scheduler pa --partition_aware
expect_event 10 '.event == "subscribed"' "pa subscribed" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "pa offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
agent_id=$(echo "$ev" | jq -r '.offers[0].agent_id')
send launch "$offer" pa1 "cpus:1;mem:64" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "pa1" and .state == "TASK_RUNNING"' "pa1 running" >/dev/null

start_scheduler np
expect_event 10 '.event == "subscribed"' "np subscribed" >/dev/null
# pa was offered the rest (5 s filter after its accept): np gets it once that passes.
ev=$(expect_event 15 '.event == "offers"' "np offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" np1 "cpus:1;mem:64" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "np1" and .state == "TASK_RUNNING"' "np1 running" >/dev/null

# pa holds an offer now (or gets one): make sure one is outstanding to see the rescind.
use_scheduler pa
send revive
ev=$(expect_event 10 '.event == "offers"' "pa holds an offer")
held=$(echo "$ev" | jq -r '.offers[0].id')
offered=$(master_json /state | jq '[.frameworks[].offers[]] | length')
[ "$offered" = 1 ] || fail "expected exactly one outstanding offer, have $offered"

# Freeze the agent: no pongs.
kill -STOP "${AGENT_PID[a1]}"
ev=$(expect_event $DETECT ".event == \"rescind\" and .offer_id == \"$held\"" "offer rescinded")
expect_event 10 '.event == "update" and .task_id == "pa1" and .state == "TASK_UNREACHABLE"' "pa1 unreachable" >/dev/null
use_scheduler np
expect_event 10 '.event == "update" and .task_id == "np1" and .state == "TASK_LOST"' "np1 lost" >/dev/null
master_json /state | jq -e '.slaves[0].state == "UNREACHABLE"' >/dev/null || fail "agent not UNREACHABLE in /state"

# It comes back: same id, pa1 running again, np1 killed.
kill -CONT "${AGENT_PID[a1]}"
use_scheduler pa
expect_event 20 '.event == "update" and .task_id == "pa1" and .state == "TASK_RUNNING"' "pa1 back" >/dev/null
wait_agents 1
[ "$(master_json /state | jq -r '.slaves[0].id')" = "$agent_id" ] || fail "agent id changed"
wait_until 20 grep -Eq 'TASK_KILLED .*task_id=np1 ' "$T/agent-a1.log" ||
    fail "np1 was not killed after the agent came back"
# np1's framework heard TASK_LOST once and nothing after it.
use_scheduler np
if next_event 2 '.event == "update" and .task_id == "np1"' >/dev/null; then
    fail "np1's framework got an update after TASK_LOST"
fi
# Its resources are free again: nothing is allocated beyond pa1.
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.slaves[0].used_resources.cpus == 1'" ||
    fail "used resources should be pa1's only: $(master_json /state | jq -c .slaves[0].used_resources)"
log "ok"
