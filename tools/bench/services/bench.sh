#!/usr/bin/env bash
# bench services: agora-services scaling and API latency on local agents.
#
#   tools/bench/services/bench.sh [--agents=N] [--sizes=100,1000] [--api_tasks=10000]
#
# Uses the binaries in $AGORA_BIN (default build/bin; build without
# AGORA_SANITIZE for meaningful numbers). Starts agora-master, N local agents
# (default 4, each cpus:100;mem:100000) and agora-services in a scratch
# directory, then:
#
#   1. scaling: one app of a trivial task (sleep, cpus 0.01, mem 1, no ports)
#      scaled 0 -> S for each S in --sizes: seconds from the PUT to all S tasks
#      RUNNING (polled every 20 ms from /v2/apps), then back to 0 (seconds until
#      every task is gone), with /v2/apps and /v2/tasks latency (median of 20)
#      while S tasks run;
#   2. API latency with --api_tasks tasks known: agora-services is restarted on
#      a store seeded with that many RUNNING task records and no reachable
#      master (so reconciliation never prunes them; the API does the same work
#      whether the tasks run or not), and GET /v2/apps, /v2/apps/bench (which
#      embeds the tasks) and /v2/tasks are timed (p50 and p99 of 50).
#
# Goals: 0 -> 1,000 in <= 10 s; /v2/apps with 10,000 tasks <= 50 ms.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGORA_BIN=${AGORA_BIN:-$here/../../../build/bin}
agents=4
sizes=100,1000
api_tasks=10000
for a in "$@"; do
    case $a in
    --agents=*) agents=${a#*=} ;;
    --sizes=*) sizes=${a#*=} ;;
    --api_tasks=*) api_tasks=${a#*=} ;;
    *) echo "usage: $0 [--agents=N] [--sizes=100,1000] [--api_tasks=10000]" >&2; exit 2 ;;
    esac
done
. "$here/../../../tests/integration/lib.sh"
. "$here/../../../tests/integration/services_lib.sh"

now() { date +%s.%N; }

# latency METHOD PATH COUNT: prints "p50 p99 max bytes" in ms.
latency() {
    local path=$1 count=$2 i
    for i in $(seq 1 "$count"); do
        curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$SVC_PORT$path"
    done | sort -n | awk '{ t[NR] = $1 * 1000; b = $2 } END {
        p50 = t[int((NR + 1) / 2)]; p99 = t[int(NR * 0.99 + 0.999)];
        printf "p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d bytes)", p50, p99, t[NR], b }'
}

running() {
    curl -sf "http://127.0.0.1:$SVC_PORT/v2/apps/bench?embed=none" | jq .app.tasksRunning
}

ntasks() {
    curl -sf "http://127.0.0.1:$SVC_PORT/v2/apps" | jq '.apps[0] | .tasksRunning + .tasksStaged'
}

start_master
for i in $(seq 1 "$agents"); do
    AGENT_PORT[b$i]=$(free_port)
    "$AGORA_BIN/agora-agent" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 \
        --port="${AGENT_PORT[b$i]}" --hostname="b$i" --work_dir="$T/agent-b$i" \
        --resources="cpus:100;mem:100000;disk:100000;ports:[31000-32999]" >>"$T/agent-b$i.log" 2>&1 &
    PIDS+=($!)
done
wait_agents "$agents"
start_services --logging_level=WARNING
api POST /v2/apps '{"id": "/bench", "cmd": "sleep 3600", "cpus": 0.01, "mem": 1, "ports": [],
    "instances": 0}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(cat "$T/api.body")"

echo "agora-services benchmark: $agents local agents, $(nproc) cores"
IFS=, read -ra S <<<"$sizes"
for n in "${S[@]}"; do
    t0=$(now)
    api PUT /v2/apps/bench "{\"instances\": $n}" >/dev/null
    until [ "$(running)" = "$n" ]; do
        sleep 0.02
        if [ "$(echo "$(now) - $t0 > 300" | bc)" = 1 ]; then fail "0 -> $n did not finish in 300 s"; fi
    done
    t1=$(now)
    printf '0 -> %d: all RUNNING after %.2f s (%.0f tasks/s)\n' "$n" "$(echo "$t1 - $t0" | bc)" \
        "$(echo "$n / ($t1 - $t0)" | bc -l)"
    echo "   GET /v2/apps  with $n tasks: $(latency /v2/apps 20)"
    echo "   GET /v2/tasks with $n tasks: $(latency /v2/tasks 20)"
    t0=$(now)
    api PUT /v2/apps/bench '{"instances": 0}' >/dev/null
    until [ "$(ntasks)" = 0 ]; do sleep 0.05; done
    printf '%d -> 0: all gone after %.2f s\n' "$n" "$(echo "$(now) - $t0" | bc)"
done

# ---- API latency with many tasks known ----
kill9_services
sqlite3 "$T/services/services.db" <<SQL
UPDATE apps SET json = json_set(json, '\$.instances', $api_tasks) WHERE id = '/bench';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $api_tasks)
INSERT INTO tasks SELECT printf('bench.%08d-0000-4000-8000-000000000000', i), '/bench',
    'agent-' || (i % 100), 'host' || (i % 100), '', '31000',
    (SELECT json_extract(json, '\$.version') FROM apps WHERE id = '/bench'),
    (SELECT json_extract(json, '\$.versionInfo.lastConfigChangeAt') FROM apps WHERE id = '/bench'),
    2, -1, 0, 0, 1700000000.0 + i, 1700000001.0 + i, 0, i FROM n;
SQL
"$AGORA_BIN/agora-services" --master=127.0.0.1:1 --ip=127.0.0.1 --http_port="$SVC_PORT" \
    --hostname=127.0.0.1 --work_dir="$T/services" --logging_level=ERROR >>"$T/services.log" 2>&1 &
PIDS+=($!)
wait_until 30 curl -sf "http://127.0.0.1:$SVC_PORT/ping" || fail "services did not restart"
[ "$(running)" = "$api_tasks" ] || fail "expected $api_tasks tasks known, have $(running)"
echo "with $api_tasks tasks known (seeded store, no master):"
echo "   GET /v2/apps            $(latency /v2/apps 50)"
echo "   GET /v2/apps/bench      $(latency /v2/apps/bench 20)"
echo "   GET /v2/tasks           $(latency /v2/tasks 20)"
echo "   GET /v2/queue           $(latency /v2/queue 20)"
