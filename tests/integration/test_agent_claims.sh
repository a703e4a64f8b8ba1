#!/usr/bin/env bash
# What docs/agent.md promises of the agent's endpoints: /files/read honours
# offset and length, reads the rest of the file when length is left out and
# never returns more than 1 MiB per call; /metrics/snapshot counts registration
# and running and finished tasks.
. "$(dirname "$0")/lib.sh"

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}
metric() {
    agent_json /metrics/snapshot | jq -r --arg k "$1" '.[$k]'
}
metric_is() { # NAME VALUE
    [ "$(metric "$1")" = "$2" ]
}

start_master
start_agent a1 --isolation=posix
wait_agents 1
wait_until 10 metric_is slave/registered 1 || fail "slave/registered is $(metric slave/registered)"
metric_is slave/tasks_running 0 || fail "slave/tasks_running before any task: $(metric slave/tasks_running)"
finished0=$(metric slave/tasks_finished)

start_scheduler fw
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null

# A file of 1 MiB + 1000 bytes: 1048576 'x' then 1000 'y'; and one of 10 digits.
ev=$(expect_event 15 '.event == "offers"' "offer for files")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" files "cpus:0.1;mem:32" \
    "head -c 1048576 /dev/zero | tr '\000' x > big; head -c 1000 /dev/zero | tr '\000' y >> big; printf 0123456789 > small; touch ready; sleep 1000"
expect_event 15 '.event == "update" and .task_id == "files" and .state == "TASK_RUNNING"' "files running" >/dev/null
dir=$(agent_json /state | jq -r '[.frameworks[].executors[] | select(.id == "files") | .directory][0]')
[ -n "$dir" ] && [ "$dir" != null ] || fail "no sandbox for the task in /state"
wait_until 15 agent_json "/files/read?path=$dir/ready&offset=-1" || fail "the task did not write its files"
[ "$(agent_json "/files/read?path=$dir/big&offset=-1" | jq .offset)" = 1049576 ] ||
    fail "big has the wrong size: $(agent_json "/files/read?path=$dir/big&offset=-1")"

# length
[ "$(agent_json "/files/read?path=$dir/small&offset=2&length=3" | jq -c .)" = '{"data":"234","offset":2}' ] ||
    fail "offset=2&length=3: $(agent_json "/files/read?path=$dir/small&offset=2&length=3")"
[ "$(agent_json "/files/read?path=$dir/small&offset=0&length=0" | jq -r .data)" = "" ] || fail "length=0 returned data"
# length left out: the rest of the file
[ "$(agent_json "/files/read?path=$dir/small&offset=4" | jq -r .data)" = 456789 ] ||
    fail "no length: $(agent_json "/files/read?path=$dir/small&offset=4")"
# at most 1 MiB per call, with or without a larger length
for q in "offset=0" "offset=0&length=5000000"; do
    agent_json "/files/read?path=$dir/big&$q" >"$T/read.json"
    n=$(jq -r '.data | length' "$T/read.json")
    [ "$n" = 1048576 ] || fail "/files/read $q returned $n bytes, expected the 1 MiB cap"
    jq -e '.data | test("^x+$")' "$T/read.json" >/dev/null || fail "/files/read $q: not the first MiB"
done
# the rest comes from the next offset
agent_json "/files/read?path=$dir/big&offset=1048576" >"$T/read.json"
jq -e '.offset == 1048576 and (.data | length) == 1000 and (.data | test("^y+$"))' "$T/read.json" >/dev/null ||
    fail "the tail after the cap: $(jq -c '{offset, n: (.data | length)}' "$T/read.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${AGENT_PORT[a1]}/files/read?path=$dir/small&length=-2")
[ "$code" = 400 ] || fail "length=-2 answered $code"

# /metrics/snapshot: one task running, then one more finished.
wait_until 10 metric_is slave/tasks_running 1 || fail "slave/tasks_running is $(metric slave/tasks_running) with one task"
ev=$(expect_event 15 '.event == "offers"' "offer for done")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" done "cpus:0.1;mem:32" 'true'
expect_event 15 '.event == "update" and .task_id == "done" and .state == "TASK_FINISHED"' "done finished" >/dev/null
wait_until 10 metric_is slave/tasks_finished "$((finished0 + 1))" ||
    fail "slave/tasks_finished is $(metric slave/tasks_finished), expected $((finished0 + 1))"
metric_is slave/tasks_running 1 || fail "slave/tasks_running is $(metric slave/tasks_running) after 'done' ended"
log "ok"
