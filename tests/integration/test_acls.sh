#!/usr/bin/env bash
# Authorization (--acls, Mesos's ACL JSON) on a master with --credentials and
# HTTP authentication, each rule both ways: the allowed request works, the
# denied one gets 403 (HTTP) or ERROR "not permitted" / TASK_ERROR (message
# stream) and changes nothing. Principals: agent1 (the agent), alice and bob
# (frameworks) on the stream; ops and ci on HTTP.
. "$(dirname "$0")/lib.sh"

cat >"$T/credentials.json" <<'JSON'
{"credentials": [{"principal": "agent1", "secret": "agent1-secret-xyz"},
                 {"principal": "alice", "secret": "alice-secret-xyz"},
                 {"principal": "bob", "secret": "bob-secret-xyz"}]}
JSON
echo '{"principal": "agent1", "secret": "agent1-secret-xyz"}' >"$T/agent1.cred"
echo '{"principal": "bob", "secret": "bob-secret-xyz"}' >"$T/bob.cred"
echo "alice-secret-xyz" >"$T/alice.secret"
echo "bob-secret-xyz" >"$T/bob.secret"
OPS=ops-$RANDOM$RANDOM
CI=ci-$RANDOM$RANDOM
cat >"$T/http_credentials.json" <<EOF
{"credentials": [{"principal": "ops", "secret": "$OPS"}, {"principal": "ci", "secret": "$CI"}]}
EOF
chmod 600 "$T"/*.cred "$T"/*.secret "$T"/*.json

ANY='{"type": "ANY"}'
NONE='{"type": "NONE"}'
ops_only() { # RULE_KEY: ops may, nobody else
    echo "[{\"principals\": {\"values\": [\"ops\"]}, \"$1\": $ANY}, {\"principals\": $ANY, \"$1\": $NONE}]"
}
cat >"$T/acls.json" <<EOF
{"permissive": true,
 "register_agents": [{"principals": {"values": ["agent1"]}, "agents": $ANY},
                     {"principals": $ANY, "agents": $NONE}],
 "register_frameworks": [{"principals": {"values": ["alice"]}, "roles": {"values": ["r1"]}},
                         {"principals": $NONE, "roles": {"values": ["r1"]}}],
 "run_tasks": [{"principals": {"values": ["alice"]}, "users": {"values": ["root"]}}],
 "teardown_frameworks": $(ops_only framework_principals),
 "reserve_resources": $(ops_only roles),
 "unreserve_resources": $(ops_only reserver_principals),
 "update_quotas": $(ops_only roles),
 "update_weights": $(ops_only roles),
 "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/flags", "/metrics/snapshot", "/books", "/accounting/report"]}},
                   {"principals": $NONE, "paths": {"values": ["/flags", "/metrics/snapshot", "/books", "/accounting/report"]}}],
 "drain_agents": $(ops_only agents),
 "reactivate_agents": $(ops_only agents),
 "view_roles": [{"principals": {"values": ["ci"]}, "roles": $NONE}],
 "view_frameworks": [{"principals": {"values": ["ci"]}, "users": $NONE}],
 "view_tasks": [{"principals": {"values": ["ci"]}, "users": $NONE}]}
EOF

# The agent's own --acls: ops reads every sandbox and /flags; ci only the
# sandboxes of tasks that run as "someone-else" (so not alice's), and no /flags.
cat >"$T/agent-acls.json" <<EOF
{"access_sandboxes": [{"principals": {"values": ["ops"]}, "users": $ANY},
                      {"principals": {"values": ["ci"]}, "users": {"values": ["someone-else"]}},
                      {"principals": $ANY, "users": $NONE}],
 "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": $ANY},
                   {"principals": $ANY, "paths": $NONE}]}
EOF

# A malformed file stops the master, with the reason.
echo '{"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]}' >"$T/bad-acls.json"
if timeout 10 "$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="$(free_port)" --work_dir="$T/bad" \
    --acls="$T/bad-acls.json" >"$T/bad-master.log" 2>&1; then
    fail "a master with a malformed --acls started"
fi
grep -q 'run_tasks\[0\]: "principals".type must be "ANY" or "NONE"' "$T/bad-master.log" ||
    fail "no clear reason for the malformed --acls: $(cat "$T/bad-master.log")"

start_master --credentials="$T/credentials.json" --http_credentials="$T/http_credentials.json" \
    --authenticate_http_readwrite --acls="$T/acls.json"
M="http://127.0.0.1:$MASTER_PORT"

# req WHO METHOD PATH [BODY]: the status code (the body in $T/req.body).
req() {
    local who=$1 method=$2 path=$3 body=${4:-}
    local args=(-q -s -o "$T/req.body" -w '%{http_code}' -X "$method")
    case $who in
    ops) args+=(-u "ops:$OPS") ;;
    ci) args+=(-u "ci:$CI") ;;
    esac
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "$M$path" || echo 000
}
expect() { # WANT WHO METHOD PATH [BODY]
    local want=$1 got
    shift
    got=$(req "$@")
    [ "$got" = "$want" ] || fail "$1 $2 $3 answered $got, expected $want: $(cat "$T/req.body")"
    if [ "$want" = 403 ]; then
        grep -q "not permitted" "$T/req.body" || fail "$2 $3: 403 without the reason: $(cat "$T/req.body")"
    fi
}

# register_agents: agent1 may, bob may not (and changes nothing).
start_agent a1 --credential="$T/agent1.cred" --http_credentials="$T/http_credentials.json" \
    --authenticate_http_readwrite --acls="$T/agent-acls.json"
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
start_agent_with evil "cpus:64;mem:100000" --credential="$T/bob.cred"
wait_until 20 grep -q "not permitted: principal 'bob' may not register agents" "$T/agent-evil.log" ||
    fail "bob's agent was not refused"
kill -KILL "${AGENT_PID[evil]}"
[ "$(master_json /state | jq '.slaves | length')" = 1 ] || fail "bob's agent was admitted"
log "register_agents: agent1 admitted, bob refused"

# Operator endpoints, before any framework holds offers (reservations need
# unallocated resources): ci is refused and nothing changes; ops may.
reserved() { master_json /state | jq -c '.slaves[0].reserved_resources'; }
expect 403 ci POST /reserve "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):1\"}"
[ "$(reserved | jq '.cpus')" = 0 ] || fail "ci's refused reservation changed the agent: $(reserved)"
expect 202 ops POST /reserve "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):1\"}"
[ "$(reserved | jq '.cpus')" = 1 ] || fail "ops's reservation did not apply: $(reserved)"
expect 403 ci POST /unreserve "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):1\"}"
[ "$(reserved | jq '.cpus')" = 1 ] || fail "ci's refused unreservation changed the agent"
expect 202 ops POST /unreserve "{\"agent_id\": \"$agent_id\", \"resources\": \"cpus(web):1\"}"
[ "$(reserved | jq '.cpus')" = 0 ] || fail "ops's unreservation did not apply: $(reserved)"

expect 403 ci POST /quota '{"role": "web", "guarantee": "cpus:1"}'
[ "$(master_json /quota | jq '.infos | length')" = 0 ] || fail "ci's refused quota was set"
expect 200 ops POST /quota '{"role": "web", "guarantee": "cpus:1"}'
[ "$(master_json /quota | jq '.infos | length')" = 1 ] || fail "ops's quota was not set"
expect 403 ci DELETE "/quota?role=web"
[ "$(master_json /quota | jq '.infos | length')" = 1 ] || fail "ci's refused DELETE removed the quota"
expect 200 ops DELETE "/quota?role=web"

expect 403 ci PUT /weights '[{"role": "web", "weight": 3}]'
master_json /weights | jq -e 'map(select(.role == "web" and .weight == 3)) | length == 0' >/dev/null ||
    fail "ci's refused weight was set"
expect 200 ops PUT /weights '[{"role": "web", "weight": 3}]'
master_json /weights | jq -e 'map(select(.role == "web" and .weight == 3)) | length == 1' >/dev/null ||
    fail "ops's weight was not set"

expect 403 ci GET /flags
expect 403 anon GET /flags
expect 200 ops GET /flags
expect 403 ci GET /metrics/snapshot
expect 200 ops GET /metrics/snapshot
expect 403 ci GET /books
expect 200 ops GET /books
expect 403 ci GET "/accounting/report?since=1h"
[ "$(req ops GET "/accounting/report?since=1h")" != 403 ] || fail "ops refused /accounting/report"
log "reserve, unreserve, quota, weights, get_endpoints: ops allowed, ci refused"

# drain_agents / reactivate_agents: ci refused and the agent unchanged; ops may.
draining() { master_json /state | jq -r '.slaves[0].draining'; }
expect 403 ci POST /drain "{\"agent_id\": \"$agent_id\"}"
[ "$(draining)" = false ] || fail "ci's refused drain drained the agent"
expect 200 ops POST /drain "{\"agent_id\": \"$agent_id\"}"
[ "$(draining)" = true ] || fail "ops's drain did not apply"
expect 403 ci POST /undrain "{\"agent_id\": \"$agent_id\"}"
[ "$(draining)" = true ] || fail "ci's refused undrain reactivated the agent"
expect 200 ops POST /undrain "{\"agent_id\": \"$agent_id\"}"
[ "$(draining)" = false ] || fail "ops's undrain did not apply"
log "drain_agents, reactivate_agents: ops allowed, ci refused"

# view_roles: ci sees no role in /roles; ops (no rule: permissive) sees web.
[ "$(req ci GET /roles)" = 200 ] && [ "$(jq '.roles | length' "$T/req.body")" = 0 ] ||
    fail "ci sees roles: $(cat "$T/req.body")"
[ "$(req ops GET /roles)" = 200 ] &&
    jq -e '[.roles[] | select(.name == "web")] | length == 1' "$T/req.body" >/dev/null ||
    fail "ops does not see role web: $(cat "$T/req.body")"
log "view_roles: ci sees none, ops sees them"

# register_frameworks and run_tasks: bob may not register in r1; in r2 he
# may, but not run a task as root (no rule allows it, permissive or not).
start_scheduler bob1 --principal=bob --secret_file="$T/bob.secret" --role=r1
ev=$(expect_event 15 '.event == "error" or .event == "subscribed"' "an answer to bob in r1")
echo "$ev" | jq -e '.event == "error" and (.message | test("not permitted"))' >/dev/null ||
    fail "bob's SUBSCRIBE in r1: $ev"
kill -KILL "$SCHED_PID"
[ "$(master_json /frameworks | jq '.frameworks | length')" = 0 ] || fail "bob's framework in r1 was admitted"

start_scheduler bob --principal=bob --secret_file="$T/bob.secret" --role=r2
expect_event 15 '.event == "subscribed"' "bob subscribed in r2" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "bob's offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')
send launch_json "$offer" "$(jq -c . <<'JSON'
[{"task_id": "as-root", "resources": "cpus:0.5;mem:32", "cmd": "sleep 1000", "user": "root"},
 {"task_id": "as-default", "resources": "cpus:0.5;mem:32", "cmd": "sleep 1000"}]
JSON
)"
ev=$(expect_event 10 '.event == "update" and .task_id == "as-root"' "bob's root task refused")
echo "$ev" | jq -e '.state == "TASK_ERROR" and (.message | test("not permitted.*root"))' >/dev/null ||
    fail "bob's task as root: $ev"
master_json /tasks | jq -e '[.tasks[] | select(.id == "as-root" and .state != "TASK_ERROR")] | length == 0' \
    >/dev/null || fail "bob's root task was launched"
log "register_frameworks: bob refused in r1; run_tasks: bob's root task refused"

# A task naming no user runs as the agent's --default_task_user (nobody), which
# the agent told the master: allowed (permissive), not counted as root.
if [ "$(id -u)" = 0 ]; then
    master_json /agents | jq -e '.agents[0].task_user == "nobody" and (.agents[0].task_user_only | not)' \
        >/dev/null || fail "the master does not know the agent's task user: $(master_json /agents)"
    expect_event 15 '.event == "update" and .task_id == "as-default" and .state == "TASK_RUNNING"' \
        "bob's task naming no user running (as nobody)" >/dev/null
    send kill as-default
    expect_event 15 '.event == "update" and .task_id == "as-default" and .state == "TASK_KILLED"' \
        "bob's task killed" >/dev/null
    # Leave the agent to alice: no more offers to bob, the one he gets back declined.
    send suppress
    ev=$(expect_event 10 '.event == "offers"' "bob's offer back")
    send decline "$(echo "$ev" | jq -r '[.offers[].id] | join(",")')" 1000
    log "run_tasks: a task naming no user counts as the agent's task user (nobody)"
fi

# alice may register in r1 and run a task as root (an explicit rule).
start_scheduler alice --principal=alice --secret_file="$T/alice.secret" --role=r1
fw=$(expect_event 15 '.event == "subscribed"' "alice subscribed" | jq -r .framework_id)
ev=$(expect_event 15 '.event == "offers"' "alice's offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" victim "cpus:0.5;mem:32" 'sleep 1000'
expect_event 15 '.event == "update" and .task_id == "victim" and .state == "TASK_RUNNING"' \
    "alice's task running" >/dev/null
log "register_frameworks and run_tasks: alice allowed"

# view_frameworks / view_tasks: ci sees neither; ops (no rule: permissive) sees both.
[ "$(req ci GET /frameworks)" = 200 ] && [ "$(jq '.frameworks | length' "$T/req.body")" = 0 ] ||
    fail "ci sees frameworks: $(cat "$T/req.body")"
[ "$(req ci GET /tasks)" = 200 ] && [ "$(jq '.tasks | length' "$T/req.body")" = 0 ] ||
    fail "ci sees tasks: $(cat "$T/req.body")"
[ "$(req ci GET /state)" = 200 ] && [ "$(jq '.frameworks | length' "$T/req.body")" = 0 ] ||
    fail "ci sees frameworks in /state"
[ "$(req ops GET /frameworks)" = 200 ] && [ "$(jq '.frameworks | length' "$T/req.body")" = 2 ] ||
    fail "ops does not see both frameworks: $(cat "$T/req.body")"
[ "$(req ops GET /tasks)" = 200 ] &&
    jq -e '[.tasks[] | select(.id == "victim")] | length == 1' "$T/req.body" >/dev/null ||
    fail "ops does not see alice's task"
log "view_frameworks, view_tasks: ci sees nothing, ops everything"

# The agent: access_sandboxes on /files/*, get_endpoints on /flags and /metrics.
A="http://127.0.0.1:${AGENT_PORT[a1]}"
areq() { # WHO PATH: the status code (the body in $T/req.body)
    local args=(-q -s -o "$T/req.body" -w '%{http_code}')
    case $1 in
    ops) args+=(-u "ops:$OPS") ;;
    ci) args+=(-u "ci:$CI") ;;
    esac
    curl "${args[@]}" "$A$2" || echo 000
}
aexpect() { # WANT WHO PATH
    local got
    got=$(areq "$2" "$3")
    [ "$got" = "$1" ] || fail "agent: $2 $3 answered $got, expected $1: $(cat "$T/req.body")"
    if [ "$1" = 403 ]; then
        grep -q "not permitted" "$T/req.body" || fail "agent: $2 $3: 403 without the reason"
    fi
}
sandbox=$(curl -s -u "ops:$OPS" "$A/state" |
    jq -r '[.frameworks[].executors[] | select(.id == "victim") | .directory][0]')
[ -n "$sandbox" ] && [ "$sandbox" != null ] || fail "no sandbox for alice's task in the agent's /state"
enc() { jq -rn --arg p "$1" '$p | @uri'; }
aexpect 200 ops "/files/browse?path=$(enc "$sandbox")"
aexpect 200 ops "/files/read?path=$(enc "$sandbox/stdout")&offset=-1"
aexpect 403 ci "/files/browse?path=$(enc "$sandbox")"
aexpect 403 ci "/files/read?path=$(enc "$sandbox/stdout")&offset=0"
aexpect 403 anon "/files/read?path=$(enc "$sandbox/stdout")&offset=0"
# The sandboxes' root holds every task's: only ANY rules match it.
aexpect 403 ci "/files/browse?path=$(enc "$(dirname "$(dirname "$sandbox")")")"
# A missing path is 404 whoever asks (nothing is told about other paths).
aexpect 404 ci "/files/read?path=$(enc "$sandbox/no-such-file")&offset=0"
aexpect 200 ops /flags
aexpect 403 ci /flags
aexpect 403 anon /flags
aexpect 403 ci /metrics/snapshot
aexpect 200 ops /metrics/snapshot
aexpect 200 ci /state
grep -q "not permitted by --acls: access_sandboxes of '.*' by principal 'ci'" "$T/agent-a1.log" ||
    fail "the agent did not log the refused sandbox read"
log "agent: access_sandboxes and get_endpoints, ops allowed, ci refused"

# teardown_frameworks: ci may not tear down alice's framework; ops may.
expect 403 ci POST /teardown "{\"framework_id\": \"$fw\"}"
master_json /frameworks | jq -e --arg id "$fw" \
    '[.frameworks[] | select(.id == $id and .active and .connected)] | length == 1' >/dev/null ||
    fail "ci's refused teardown changed alice's framework"
use_scheduler alice
send reconcile
expect_event 10 '.event == "update" and .task_id == "victim" and .state == "TASK_RUNNING"' \
    "victim still running" >/dev/null
expect 200 ops POST /teardown "{\"framework_id\": \"$fw\"}"
wait_until 10 sh -c "curl -sf $M/frameworks | jq -e --arg id $fw '[.frameworks[] | select(.id == \$id)] | length == 0'" ||
    fail "ops's teardown did not remove alice's framework"
grep -q "not permitted by --acls: teardown_frameworks of 'alice' by principal 'ci'" "$T/master.log" ||
    fail "the master did not log the refused teardown"
log "teardown_frameworks: ci refused, ops allowed"

# An agent with --no-switch_user runs every task as itself (root here): a task
# naming "nobody" there runs as root, and is refused as root.
if [ "$(id -u)" = 0 ]; then
    start_agent nosw --credential="$T/agent1.cred" --no-switch_user
    wait_agents 2
    nosw=$(master_json /agents | jq -r '.agents[] | select(.hostname == "nosw") | .id')
    master_json /agents | jq -e --arg id "$nosw" \
        '.agents[] | select(.id == $id) | .task_user == "root" and .task_user_only' >/dev/null ||
        fail "the master does not know that agent nosw runs every task as root: $(master_json /agents)"
    use_scheduler bob
    send revive
    ev=$(expect_event 20 "(.event == \"offers\") and ([.offers[] | select(.agent_id == \"$nosw\")] | length > 0)" \
        "bob's offer from agent nosw")
    offer=$(echo "$ev" | jq -r --arg id "$nosw" '[.offers[] | select(.agent_id == $id)][0].id')
    send launch_json "$offer" '{"task_id": "nobody-nosw", "resources": "cpus:0.5;mem:32", "cmd": "sleep 1000", "user": "nobody"}'
    ev=$(expect_event 10 '.event == "update" and .task_id == "nobody-nosw"' "bob's task on nosw refused")
    echo "$ev" | jq -e '.state == "TASK_ERROR" and (.message | test("not permitted.*user .root."))' >/dev/null ||
        fail "bob's task naming nobody on an agent that runs it as root: $ev"
    log "run_tasks: a task on a --no-switch_user agent counts as the agent's user (root)"
fi
log "PASS"
