#!/usr/bin/env bash
# What docs/master.md promises operators, each checked by its effect:
# --max_completed_tasks bounds the completed tasks of /tasks and /state;
# POST /teardown takes a JSON body; DELETE /quota lifts a quota (the rest of
# the agent is offered); POST /unreserve gives reserved resources back (another
# role is offered them); after a master restart a framework gets
# --agent_reregister_timeout, not only its failover_timeout, to come back;
# --offer_timeout rescinds an offer nobody answers.
. "$(dirname "$0")/lib.sh"

MASTER_FLAGS=(--max_completed_tasks=2 --agent_reregister_timeout=120secs)
start_master "${MASTER_FLAGS[@]}"
start_agent a1
wait_agents 1
agent_id=$(master_json /slaves | jq -r '.slaves[0].id')

# offer_cpus EVENT: the unreserved cpus of an offers event.
offer_cpus() {
    echo "$1" | jq '[.offers[].resources | capture("(^|;)cpus:(?<c>[0-9.]+)").c | tonumber] | add // 0'
}

# framework_gone ID: the master no longer lists framework ID.
framework_gone() {
    master_json /state | jq -e --arg f "$1" '[.frameworks[] | select(.id == $f)] | length == 0'
}

# --- --max_completed_tasks=2: of three finished tasks the last two are kept.
start_scheduler done
fw_done=$(expect_event 10 '.event == "subscribed"' "done subscribed" | jq -r .framework_id)
for t in c1 c2 c3; do
    ev=$(expect_event 15 '.event == "offers"' "offer for $t")
    send launch "$(echo "$ev" | jq -r '.offers[0].id')" "$t" "cpus:0.1;mem:16" 'true'
    expect_event 15 ".event == \"update\" and .task_id == \"$t\" and .state == \"TASK_FINISHED\"" "$t finished" >/dev/null
done
finished_ids() {
    master_json "/tasks?framework_id=$fw_done&state=TASK_FINISHED" | jq -c '[.tasks[].id] | sort'
}
# Acknowledged terminal tasks move to the completed list; wait until all three did.
wait_until 15 sh -c "[ \"\$(curl -sf 'http://127.0.0.1:$MASTER_PORT/state' |
    jq '[.frameworks[] | select(.id == \"$fw_done\") | .tasks[]] | length')\" = 0 ]" ||
    fail "finished tasks still live: $(master_json /state | jq -c '.frameworks[].tasks')"
[ "$(finished_ids)" = '["c2","c3"]' ] || fail "/tasks keeps $(finished_ids), expected the last 2 of 3"
master_json /state | jq -e --arg f "$fw_done" \
    '.frameworks[] | select(.id == $f) | [.completed_tasks[].id] | sort == ["c2","c3"]' >/dev/null ||
    fail "/state completed_tasks: $(master_json /state | jq -c '[.frameworks[].completed_tasks[].id]')"
log "--max_completed_tasks=2 kept $(finished_ids)"

# --- POST /teardown with a JSON body kills the framework's tasks and removes it.
ev=$(expect_event 15 '.event == "offers"' "offer for c4")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" c4 "cpus:0.1;mem:16" 'sleep 1000'
expect_event 15 '.event == "update" and .task_id == "c4" and .state == "TASK_RUNNING"' "c4 running" >/dev/null
code=$(curl -s -o "$T/td.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d '{"framework": "misspelt"}' "http://127.0.0.1:$MASTER_PORT/teardown")
[ "$code" = 400 ] || fail "teardown without framework_id: $code $(cat "$T/td.body")"
code=$(curl -s -o "$T/td.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -d "{\"framework_id\": \"$fw_done\"}" "http://127.0.0.1:$MASTER_PORT/teardown")
[ "$code" = 200 ] || fail "JSON teardown: $code $(cat "$T/td.body")"
wait_until 15 framework_gone "$fw_done" || fail "framework still listed after the JSON teardown"
wait_until 15 grep -Eq "TASK_KILLED .*task_id=c4 " "$T/agent-a1.log" || fail "c4 not killed by the JSON teardown"
kill -KILL "$SCHED_PID"

# --- DELETE /quota: a limit of 1 cpu, then lifted: the other 3 are offered.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"role": "eng", "limit": "cpus:1"}' \
    "http://127.0.0.1:$MASTER_PORT/quota")
[ "$code" = 200 ] || fail "POST /quota: $code"
start_scheduler engfw --role=eng
fw_eng=$(expect_event 10 '.event == "subscribed"' "eng subscribed" | jq -r .framework_id)
ev=$(expect_event 15 '.event == "offers"' "eng offer")
[ "$(offer_cpus "$ev")" = 1 ] || fail "quota limit of 1 cpu: offered $(offer_cpus "$ev"): $ev"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$MASTER_PORT/quota")
[ "$code" = 400 ] || fail "DELETE /quota without ?role= answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$MASTER_PORT/quota?role=eng")
[ "$code" = 200 ] || fail "DELETE /quota?role=eng: $code"
master_json /quota | jq -e '[.infos[]? | select(.role == "eng")] | length == 0' >/dev/null ||
    fail "quota still listed: $(master_json /quota)"
# The first offer is still held; what the limit held back comes now.
ev=$(expect_event 15 '.event == "offers"' "the rest of the agent once the quota is gone")
[ "$(offer_cpus "$ev")" = 3 ] || fail "after DELETE /quota offered $(offer_cpus "$ev") cpus, expected 3: $ev"
send teardown
wait_until 15 framework_gone "$fw_eng" || fail "eng framework not removed"

# --- POST /unreserve over HTTP gives a reservation back to every role.
res='cpus(web):1;mem(web):64'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\", \"resources\": \"$res\"}" \
    "http://127.0.0.1:$MASTER_PORT/reserve")
[ "$code" = 202 ] || fail "POST /reserve: $code"
master_json /slaves | jq -e '.slaves[0].reserved_resources.cpus == 1' >/dev/null || fail "reservation not shown"
code=$(curl -s -o "$T/un.body" -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\", \"resources\": \"$res\"}" \
    "http://127.0.0.1:$MASTER_PORT/unreserve")
[ "$code" = 202 ] || fail "POST /unreserve: $code $(cat "$T/un.body")"
master_json /slaves | jq -e '(.slaves[0].reserved_resources.cpus // 0) == 0 and .slaves[0].unreserved_resources.cpus == 4' >/dev/null ||
    fail "after /unreserve: $(master_json /slaves | jq -c '.slaves[0] | {reserved_resources, unreserved_resources}')"
code=$(curl -s -o "$T/un.body" -w '%{http_code}' -X POST -d "{\"agent_id\": \"$agent_id\", \"resources\": \"$res\"}" \
    "http://127.0.0.1:$MASTER_PORT/unreserve")
[ "$code" = 409 ] || fail "unreserving what is not reserved: $code $(cat "$T/un.body")"
start_scheduler other --role=other
fw_other=$(expect_event 10 '.event == "subscribed"' "other subscribed" | jq -r .framework_id)
ev=$(expect_event 15 '.event == "offers"' "other offer")
[ "$(offer_cpus "$ev")" = 4 ] || fail "another role offered $(offer_cpus "$ev") cpus after /unreserve, expected 4: $ev"
send teardown
wait_until 15 framework_gone "$fw_other" || fail "other framework not removed"

# --- Framework grace after a master restart. g (failover_timeout 1 s) runs a
# task; the master and g go away together.
start_scheduler g --failover_timeout=1 --checkpoint
fw_g=$(expect_event 10 '.event == "subscribed"' "g subscribed" | jq -r .framework_id)
ev=$(expect_event 15 '.event == "offers"' "g offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" gt "cpus:0.5;mem:32" 'sleep 1000'
expect_event 15 '.event == "update" and .task_id == "gt" and .state == "TASK_RUNNING"' "gt running" >/dev/null
g_pid=$SCHED_PID
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
kill -KILL "$g_pid"
wait "$g_pid" 2>/dev/null || true
start_master "${MASTER_FLAGS[@]}"
wait_agents 1
wait_until 20 sh -c "curl -sf 'http://127.0.0.1:$MASTER_PORT/tasks?state=TASK_RUNNING' | jq -e '[.tasks[] | select(.id == \"gt\")] | length == 1'" ||
    fail "gt not known again after the master restart"
# Control: h, with the same 1 s failover_timeout, disconnects after the
# restart, so later than g; its removal shows the master's sweep ran past g's
# own deadline.
start_scheduler h --failover_timeout=1
fw_h=$(expect_event 10 '.event == "subscribed"' "h subscribed" | jq -r .framework_id)
kill -KILL "$SCHED_PID"
wait "$SCHED_PID" 2>/dev/null || true
wait_until 30 framework_gone "$fw_h" || fail "h (failover_timeout 1 s) not removed"
master_json /state | jq -e --arg f "$fw_g" '[.frameworks[] | select(.id == $f and .connected == false)] | length == 1' >/dev/null ||
    fail "g was removed before --agent_reregister_timeout: $(master_json /state | jq -c '[.frameworks[] | {id, connected}]')"
grep -Eq "TASK_KILLED .*task_id=gt " "$T/agent-a1.log" && fail "gt was killed"
start_scheduler g2 --failover_timeout=1 --checkpoint --framework_id="$fw_g"
sub=$(expect_event 15 '.event == "subscribed"' "g back")
[ "$(echo "$sub" | jq -r .framework_id)" = "$fw_g" ] || fail "g came back as another framework: $sub"
send reconcile
expect_event 15 '.event == "update" and .task_id == "gt" and .state == "TASK_RUNNING"' "gt still running" >/dev/null
log "g (failover_timeout 1 s) resumed after h was removed"
send teardown
wait_until 15 framework_gone "$fw_g" || fail "g not removed"

# --- --offer_timeout: an offer nobody answers is rescinded, then made again.
kill -KILL "$MASTER_PID"
wait "$MASTER_PID" 2>/dev/null || true
start_master "${MASTER_FLAGS[@]}" --offer_timeout=2secs
wait_agents 1
start_scheduler o
expect_event 15 '.event == "subscribed"' "o subscribed" >/dev/null
ev=$(expect_event 15 '.event == "offers"' "o offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
expect_event 20 ".event == \"rescind\" and .offer_id == \"$offer\"" "rescind of $offer under --offer_timeout=2secs" >/dev/null
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '[.frameworks[].offers[] | select(.id == \"$offer\")] | length == 0'" ||
    fail "rescinded offer $offer still in /state"
expect_event 20 ".event == \"offers\" and ([.offers[].id] | index(\"$offer\") | not)" "a new offer after the rescind" >/dev/null
log "ok"
