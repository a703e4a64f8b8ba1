#!/usr/bin/env bash
# Time from a task's terminal status update to the offer of the resources it
# freed, measured inside the master (metric allocator/reoffer_latency), on an
# idle master with one agent. Runs N (default 200) one-shot tasks in a row.
#
#   tools/bench/reoffer.sh [N]     (needs a build in build/)
#
# The last line of the output is one JSON object: {"bench": "reoffer",
# "tasks", "reoffer_p50_ms", "reoffer_p90_ms", "reoffer_p99_ms",
# "reoffer_max_ms", "allocation_runs", "last_allocation_run_ms"}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGORA_BIN=${AGORA_BIN:-$here/../../build/bin}
n=${1:-200}
. "$here/../../tests/integration/lib.sh"

start_master
start_agent a1
wait_agents 1
start_scheduler bench
expect_event 10 '.event == "subscribed"' "subscribed" >/dev/null
for i in $(seq 1 "$n"); do
    ev=$(expect_event 10 '.event == "offers"' "offer $i")
    send launch "$(echo "$ev" | jq -r '.offers[0].id')" "t$i" "cpus:0.1;mem:16" 'true'
    expect_event 10 ".event == \"update\" and .task_id == \"t$i\" and .state == \"TASK_FINISHED\"" "t$i" >/dev/null
done
snap=$(master_json /metrics/snapshot)
jq -r --arg n "$n" '
  "tasks: \($n)",
  "reoffer latency (terminal update -> offer), ms: p50 \(."allocator/reoffer_latency_ms/p50") p90 \(."allocator/reoffer_latency_ms/p90") p99 \(."allocator/reoffer_latency_ms/p99") max \(."allocator/reoffer_latency_ms/max")",
  "allocation runs: \(."allocator/allocation_runs"), last run \(."allocator/allocation_run_ms/last") ms"' <<<"$snap"
jq -c --argjson n "$n" '{bench: "reoffer", tasks: $n,
  reoffer_p50_ms: ."allocator/reoffer_latency_ms/p50",
  reoffer_p90_ms: ."allocator/reoffer_latency_ms/p90",
  reoffer_p99_ms: ."allocator/reoffer_latency_ms/p99",
  reoffer_max_ms: ."allocator/reoffer_latency_ms/max",
  allocation_runs: ."allocator/allocation_runs",
  last_allocation_run_ms: ."allocator/allocation_run_ms/last"}' <<<"$snap"
