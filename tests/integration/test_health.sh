#!/usr/bin/env bash
# Health checks run by the agent beside the task: COMMAND inside the
# container's namespaces (with the task's environment), HTTP and TCP (in the
# container's network, also a private one). Every change of verdict is a
# TASK_RUNNING update with `healthy` set.
. "$(dirname "$0")/lib.sh"
require_root
if [ ! -x /bin/busybox ]; then
    echo "SKIP: /bin/busybox is missing (its httpd serves the HTTP checks; tools/deps installs busybox-static)" >&2
    exit 77
fi

saw_event() {
    jq -e -s "any(.[]; $1)" "$T/sched-$SCHED_NAME.events" >/dev/null 2>&1
}
wait_event() {
    wait_until "$1" saw_event "$2" || fail "no event matching '$2' within $1 s ($3)"
}
health_is() { # TASK true|false
    echo ".event == \"update\" and .task_id == \"$1\" and .state == \"TASK_RUNNING\" and .healthy == $2"
}

start_master
start_agent a1
wait_agents 1
start_scheduler fw1
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
fast='delay_s: 0.2, interval_s: 0.3, timeout_s: 2, consecutive_failures: 2, grace_period_s: 0'
tasks=$(jq -c '[
  {task_id: "cmd", resources: "cpus:0.1;mem:32",
   cmd: "echo x > ok; while [ ! -e go ]; do sleep 0.1; done; rm ok; sleep 1000", env: {CHECK_FILE: "ok"},
   health_check: {type: "COMMAND", command: "test -f \"$CHECK_FILE\" && test $(hostname) = cmd", '"$fast"'}},
  {task_id: "http", resources: "cpus:0.1;mem:32;ports:[31010-31010]",
   cmd: "echo up > index.html; exec /bin/busybox httpd -f -p 127.0.0.1:$PORT0 -h .",
   health_check: {type: "HTTP", port_index: 0, path: "/index.html", '"$fast"'}},
  {task_id: "http404", resources: "cpus:0.1;mem:32;ports:[31011-31011]",
   cmd: "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT0 -h .",
   health_check: {type: "HTTP", port_index: 0, path: "/missing", '"$fast"'}},
  {task_id: "tcp", resources: "cpus:0.1;mem:32;ports:[31012-31012]", cmd: "sleep 1000",
   health_check: {type: "TCP", port_index: 0, '"$fast"'}},
  {task_id: "private", resources: "cpus:0.1;mem:32;ports:[31013-31013]", network: "none",
   cmd: "echo up > index.html; exec /bin/busybox httpd -f -p 127.0.0.1:$PORT0 -h .",
   health_check: {type: "HTTP", port_index: 0, path: "/index.html", '"$fast"'}}
]' <<<'null')
send launch_json "$offer" "$tasks"

wait_event 15 "$(health_is cmd true)" "COMMAND check healthy"
# Once healthy, the task removes its file (when told to).
touch "$(ls -d "$T"/agent-a1/sandboxes/*/cmd | head -1)/go" || fail "no sandbox for cmd"
wait_event 15 "$(health_is cmd false)" "COMMAND check unhealthy once the file is gone"
wait_event 15 "$(health_is http true)" "HTTP check healthy"
wait_event 15 "$(health_is http404 false)" "HTTP check of a 404 unhealthy"
wait_event 15 "$(health_is tcp false)" "TCP check of a closed port unhealthy"
wait_event 15 "$(health_is private true)" "HTTP check inside a private network healthy"
saw_event '.event == "update" and .task_id == "http" and .healthy == false' && fail "http was reported unhealthy"
# The port of the private network is not the host's.
! curl -sf "http://127.0.0.1:31013/index.html" >/dev/null || fail "the private task's port is reachable from the host"
# Verdicts are reported once per change, not at every check.
n=$(jq -s '[.[] | select(.event == "update" and .task_id == "http" and .healthy == true)] | length' "$T/sched-fw1.events")
[ "$n" = 1 ] || fail "http's healthy verdict was reported $n times"
log "ok"
