#!/usr/bin/env bash
# Placement constraints on a real cluster of three agents (a1, a2 in rack r1,
# b3 in rack r2): UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER and IS;
# what cannot be placed waits in /v2/queue with the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1 --attributes="rack:r1;level:1"
start_svc_agent a2 --attributes="rack:r1;level:2"
start_svc_agent b3 --attributes="rack:r2;level:2"
wait_agents 3
start_services
FRAMEWORK_ID=$(framework_id)

deploy() { # ID INSTANCES CONSTRAINTS
    api POST /v2/apps "{\"id\": \"$1\", \"cmd\": \"sleep 1000\", \"cpus\": 0.01, \"mem\": 4,
        \"ports\": [], \"instances\": $2, \"constraints\": $3}" >/dev/null
    [ "$(api_code)" = 201 ] || fail "create $1: $(api_code) $(cat "$T/api.body")"
}

# hosts ID: the sorted list of hosts of the app's tasks (one line per task).
hosts() {
    app_json "$1" | jq -r '.tasks[].host' | sort
}

running_is() {
    [ "$(app_json "$1" | jq .tasksRunning)" = "$2" ]
}

wait_running() {
    wait_until 20 running_is "$1" "$2" || fail "$1: expected $2 running, have $(app_json "$1" | jq .tasksRunning)"
}

deploy /unique 3 '[["hostname", "UNIQUE"]]'
deploy /cluster 3 '[["rack", "CLUSTER", "r2"]]'
deploy /group 4 '[["rack", "GROUP_BY"]]'
deploy /like 4 '[["hostname", "LIKE", "a[0-9]"]]'
deploy /unlike 3 '[["rack", "UNLIKE", "r1"]]'
deploy /maxper 3 '[["rack", "MAX_PER", "1"]]'
deploy /is 2 '[["level", "IS", "2"]]'
deploy /cluster-any 3 '[["rack", "CLUSTER"]]'

wait_app /unique 3
[ "$(hosts /unique | tr '\n' ' ')" = "a1 a2 b3 " ] || fail "UNIQUE: $(hosts /unique)"
wait_app /cluster 3
[ "$(hosts /cluster | uniq)" = b3 ] || fail "CLUSTER r2: $(hosts /cluster)"
wait_app /group 4
[ "$(app_json /group | jq '[.tasks[] | select(.host == "b3")] | length')" = 2 ] ||
    fail "GROUP_BY rack: $(hosts /group)"
wait_app /like 4
hosts /like | grep -q b3 && fail "LIKE a[0-9] placed on b3"
wait_app /unlike 3
[ "$(hosts /unlike | uniq)" = b3 ] || fail "UNLIKE r1: $(hosts /unlike)"
wait_app /is 2
hosts /is | grep -q a1 && fail "IS level 2 placed on a1"
wait_app /cluster-any 3
racks=$(hosts /cluster-any | sed 's/^a[12]$/r1/; s/^b3$/r2/' | uniq | wc -l)
[ "$racks" = 1 ] || fail "CLUSTER without value spans racks: $(hosts /cluster-any | tr '\n' ' ')"

# MAX_PER rack 1: two racks, so one instance waits in the queue.
wait_running /maxper 2
# Offers are turned down for the constraint (the queue says so), and none placed a third.
maxper_waits() {
    api GET /v2/queue | jq -e '.queue[] | select(.app.id == "/maxper") | .count == 1 and
        ([.processedOffersSummary.rejectSummaryLastOffers[] | select(.reason == "UnfulfilledConstraint") | .declined] | add) > 0' \
        >/dev/null
}
wait_until 30 maxper_waits || fail "queue should show /maxper waiting: $(api GET /v2/queue | jq -c .)"
[ "$(app_json /maxper | jq .tasksRunning)" = 2 ] || fail "MAX_PER: more than one per rack"
[ "$(hosts /maxper | grep -c '^a')" = 1 ] || fail "MAX_PER: $(hosts /maxper)"

# UNIQUE hostname with a fourth instance: it waits too; a new agent takes it.
api PUT /v2/apps/unique '{"instances": 4}' >/dev/null
# Every agent's offer is turned down for the constraint, and none placed a fourth.
unique_waits() {
    api GET /v2/queue | jq -e '.queue[] | select(.app.id == "/unique") | .count == 1 and
        ([.processedOffersSummary.rejectSummaryLastOffers[] | select(.reason == "UnfulfilledConstraint") | .declined] | add) >= 3' \
        >/dev/null
}
wait_until 30 unique_waits || fail "queue should show /unique waiting: $(api GET /v2/queue | jq -c .)"
[ "$(app_json /unique | jq .tasksRunning)" = 3 ] || fail "UNIQUE placed two on one host"
start_svc_agent b4 --attributes="rack:r3;level:2"
wait_agents 4
wait_app /unique 4
[ "$(hosts /unique | uniq | wc -l)" = 4 ] || fail "UNIQUE after b4: $(hosts /unique)"
wait_app /maxper 3 # r3 is a third rack
log "ok"
