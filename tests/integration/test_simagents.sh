#!/usr/bin/env bash
# The agent simulator against a real master and a real framework: 100
# simulated agents register; a few hundred tasks launched through them reach
# TASK_RUNNING, then TASK_FINISHED, every update acknowledged; then the master
# is killed (-9) and started again on the same work_dir: every agent
# re-registers with its running tasks and /state shows them.
. "$(dirname "$0")/lib.sh"

AGENTS=100
SHORT=150 # tasks that finish after 1 s
LONG=100  # tasks that run until killed

start_master
"$AGORA_BIN/agora-simagents" --master="127.0.0.1:$MASTER_PORT" --agents=$AGENTS \
    --stats_interval=500ms --status_update_retry_interval=1secs --registration_jitter=200ms \
    >>"$T/sim.log" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
wait_agents $AGENTS
[ "$(master_json /state | jq '[.slaves[].hostname] | unique | length')" = $AGENTS ] ||
    fail "the simulated agents do not have distinct hostnames"

start_scheduler fw1 --failover_timeout=600
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null

# launch_batch N PREFIX LABELS_JSON PER_OFFER: launches N tasks, PER_OFFER on
# each offer that comes, declining the rest.
launch_batch() {
    local n=$1 prefix=$2 labels=$3 per=$4 done=0 ev id k tasks
    while [ "$done" -lt "$n" ]; do
        ev=$(expect_event 20 '.event == "offers"' "offers for $prefix ($done/$n launched)")
        for id in $(echo "$ev" | jq -r '.offers[].id'); do
            if [ "$done" -ge "$n" ]; then
                send decline "$id" 60
                continue
            fi
            k=$((n - done < per ? n - done : per))
            tasks=$(jq -cn --arg p "$prefix" --argjson d "$done" --argjson k "$k" \
                --argjson l "$labels" \
                '[range($k) | {task_id: "\($p)-\($d + .)", resources: "cpus:1;mem:1024",
                  cmd: "sleep 1000", labels: $l}]')
            send launch_json "$id" "$tasks"
            done=$((done + k))
        done
    done
}

updates_of() { # STATE PREFIX: distinct tasks of PREFIX that reported STATE
    jq -r --arg s "$1" --arg p "$2-" \
        'select(.event == "update" and .state == $s and (.task_id | startswith($p))) | .task_id' \
        "$T/sched-fw1.events" | sort -u | wc -l
}

# Short tasks: RUNNING, then FINISHED after their label's run time.
launch_batch $SHORT short '{"sim_run_ms": "1000"}' 2
wait_until 30 sh -c "[ \$(jq -r 'select(.event == \"update\" and .state == \"TASK_RUNNING\" and
    (.task_id | startswith(\"short-\"))) | .task_id' '$T/sched-fw1.events' | sort -u | wc -l) = $SHORT ]" ||
    fail "$(updates_of TASK_RUNNING short) of $SHORT short tasks RUNNING"
wait_until 30 sh -c "[ \$(jq -r 'select(.event == \"update\" and .state == \"TASK_FINISHED\" and
    (.task_id | startswith(\"short-\"))) | .task_id' '$T/sched-fw1.events' | sort -u | wc -l) = $SHORT ]" ||
    fail "$(updates_of TASK_FINISHED short) of $SHORT short tasks FINISHED"
[ "$(jq -r 'select(.event == "update" and .state != "TASK_RUNNING" and .state != "TASK_FINISHED") |
    .state' "$T/sched-fw1.events" | wc -l)" = 0 ] || fail "unexpected task states"

# Long tasks, running until killed.
send revive
launch_batch $LONG long '{}' 1
wait_until 30 sh -c "[ \$(jq -r 'select(.event == \"update\" and .state == \"TASK_RUNNING\" and
    (.task_id | startswith(\"long-\"))) | .task_id' '$T/sched-fw1.events' | sort -u | wc -l) = $LONG ]" ||
    fail "$(updates_of TASK_RUNNING long) of $LONG long tasks RUNNING"

# Every update acknowledged: the simulator forgot the finished tasks and has
# nothing pending.
sim_settled() {
    tail -1 "$T/sim.log" | grep -q "registered=$AGENTS tasks=$LONG running=$LONG .*updates_pending=0 "
}
wait_until 20 sim_settled || fail "updates not all acknowledged: $(tail -1 "$T/sim.log")"
running_in_state() {
    master_json /state | jq '[.frameworks[].tasks[] | select(.state == "TASK_RUNNING")] | length'
}
[ "$(running_in_state)" = $LONG ] || fail "the master shows $(running_in_state) running tasks"

# Master restart on the same work_dir: every agent re-registers with its tasks.
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
t0=$(date +%s.%N)
start_master
tasks_back() {
    [ "$(active_agents)" = $AGENTS ] && [ "$(running_in_state)" = $LONG ]
}
wait_until 30 tasks_back ||
    fail "after the restart: $(active_agents) agents, $(running_in_state) running tasks"
log "all $AGENTS agents and $LONG tasks back $(echo "$(date +%s.%N) - $t0" | bc) s after the restart"
[ "$(master_json /state | jq '[.slaves[] | select(.active)] | map(.id) | unique | length')" = $AGENTS ] ||
    fail "agents re-registered under new ids"
wait_until 20 sim_settled || fail "the simulator did not settle: $(tail -1 "$T/sim.log")"
log "ok"
