#!/usr/bin/env bash
# agora-services in high availability with a real ZooKeeper: two instances
# with --zk elect one leader, which alone runs the framework; the other proxies
# the REST API to it (an app created and scaled through it, read back through
# both; /v2/leader agrees on both). DELETE /v2/leader makes the leader abdicate:
# the other instance takes over with the same framework and tasks, and the app
# can still be scaled, through either instance. Then the leader is frozen
# (SIGSTOP) past its session timeout: the other takes over, and the old one,
# thawed, finds itself deposed, writes nothing and contends again. A third
# instance with --ha=false names the leader but does not proxy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/zk.sh"
. "$(dirname "$0")/services_lib.sh"
. "$(dirname "$0")/services_ha.sh"

svc_ha_cluster
l1=$LEADER
o1=$OTHER
[ "$(svc_leader_of "$o1")" = "127.0.0.1:${SP[$l1]}" ] || fail "$o1 does not name $l1 as the leader"
wait_until 10 sh -c "[ \"\$(curl -sf http://127.0.0.1:$MASTER_PORT/frameworks | jq '[.frameworks[] | select(.name == \"agora-services\" and .active)] | length')\" = 1 ]" ||
    fail "the master should have exactly one agora-services framework: $(svc_frameworks)"
grep -q "elected leader" "$T/svc-$l1.log" || fail "$l1 does not log its election"
! grep -q "elected leader" "$T/svc-$o1.log" || fail "$o1 was elected too"

# ---- the non-leader proxies ----
svc_use "$o1"
FRAMEWORK_ID=$(framework_id)
[ -n "$FRAMEWORK_ID" ] && [ "$FRAMEWORK_ID" != null ] || fail "no framework id through $o1"
api POST /v2/apps '{"id": "/web", "cmd": "exec sleep 1000", "cpus": 0.05, "mem": 8, "instances": 2}' >/dev/null
[ "$(api_code)" = 201 ] || fail "create through $o1: $(api_code) $(cat "$T/api.body")"
hdr=$(curl -s -D - -o /dev/null "http://127.0.0.1:${SP[$o1]}/v2/apps/web" | tr -d '\r' | sed -n 's/^X-Marathon-Leader: //ip')
[ "$hdr" = "http://127.0.0.1:${SP[$l1]}" ] || fail "a proxied answer should name the leader (X-Marathon-Leader: '$hdr')"
wait_app /web 2 30
v_o=$(app_json /web | jq -c '{id, version, instances, tasks: [.tasks[].id] | sort}')
svc_use "$l1"
v_l=$(app_json /web | jq -c '{id, version, instances, tasks: [.tasks[].id] | sort}')
[ "$v_o" = "$v_l" ] || fail "the app differs through $o1 ($v_o) and $l1 ($v_l)"
ids=$(app_task_ids /web)
[ "$(master_running_tasks)" = "$ids" ] || fail "the master runs other tasks than the app lists"
# The state in ZooKeeper: one znode per record, versions and tasks grouped by app.
S=/agora-services/state
[ "$(zk_ls $S | tr '\n' ' ')" = "apps deployments meta tasks versions " ] || fail "state layout: $(zk_ls $S)"
[ "$(zk_ls $S/apps)" = "%2Fweb" ] || fail "apps in ZooKeeper: $(zk_ls $S/apps)"
[ "$(zk_ls $S/meta)" = framework_id ] || fail "meta in ZooKeeper: $(zk_ls $S/meta)"
[ "$(zk_ls $S/tasks/%2Fweb)" = "$ids" ] || fail "tasks in ZooKeeper: $(zk_ls $S/tasks/%2Fweb)"
[ "$(zk_ls $S/versions/%2Fweb | wc -l)" = 1 ] || fail "versions in ZooKeeper: $(zk_ls $S/versions/%2Fweb)"
# Errors and non-JSON answers pass through as they are.
svc_use "$o1"
expect_code 404 GET /v2/apps/nope
[ "$(curl -s "http://127.0.0.1:${SP[$o1]}/ping")" = pong ] || fail "/ping on $o1"
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:${SP[$o1]}/v2/events")
[ "$loc" = "307 http://127.0.0.1:${SP[$l1]}/v2/events" ] || fail "/v2/events on $o1: $loc"
# A definition over ZooKeeper's node limit is refused (422), nothing stored.
big=$(head -c 990000 /dev/zero | tr '\0' x)
printf '{"id": "/big", "cmd": "sleep 1", "cpus": 0.01, "mem": 8, "labels": {"big": "%s"}}' "$big" >"$T/big.json"
code=$(curl -s -o "$T/big.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$T/big.json" "http://127.0.0.1:${SP[$o1]}/v2/apps")
[ "$code" = 422 ] || fail "an app over the node limit: $code $(head -c 300 "$T/big.out")"
grep -q "ZooKeeper's node limit" "$T/big.out" || fail "no reason given: $(head -c 300 "$T/big.out")"
expect_code 404 GET /v2/apps/big
log "the non-leader proxies: create, read, errors; the event stream is redirected"

# ---- abdication ----
svc_use "$l1"
versions=$(api GET /v2/apps/web/versions | jq -c '.versions | sort')
body=$(api DELETE /v2/leader)
[ "$(api_code)" = 200 ] || fail "DELETE /v2/leader: $(api_code) $body"
[ "$(echo "$body" | jq -r .message)" = "Leadership abdicated" ] || fail "DELETE /v2/leader said: $body"
t0=$SECONDS
l2=$(wait_svc_leader 20 "$l1") || fail "no new leader after the abdication: s1 says '$(svc_leader_of s1)', s2 '$(svc_leader_of s2)'"
[ "$l2" = "$o1" ] || fail "expected $o1 to lead, $l2 does"
log "$l2 leads $((SECONDS - t0)) s after $l1 abdicated"
# The old leader contends again (the same process, started over) and proxies.
svc_alive "$l1" || fail "$l1 exited after abdicating"
wait_until 20 sh -c "[ \"\$(curl -sf http://127.0.0.1:${SP[$l1]}/v2/leader | jq -r .leader)\" = 127.0.0.1:${SP[$l2]} ]" ||
    fail "$l1 does not name $l2 as the leader after abdicating"
svc_use "$l2"
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "the new leader runs another framework: $(framework_id)"
wait_app /web 2 30
[ "$(app_task_ids /web)" = "$ids" ] || fail "the tasks changed across the abdication"
[ "$(api GET /v2/apps/web/versions | jq -c '.versions | sort')" = "$versions" ] || fail "versions lost"

# Scaled through the old leader, now a proxy.
svc_use "$l1"
api PUT /v2/apps/web '{"instances": 3}' >/dev/null
[ "$(api_code)" = 200 ] || fail "scale through $l1: $(api_code) $(cat "$T/api.body")"
svc_use "$l2"
wait_app /web 3 30
[ -z "$(comm -23 <(echo "$ids") <(app_task_ids /web))" ] || fail "tasks lost in the scale-up"
[ "$(master_running_tasks | wc -l)" = 3 ] || fail "the master runs $(master_running_tasks | wc -l) tasks, want 3"
wait_until 10 sh -c "[ \"\$(curl -sf http://127.0.0.1:$MASTER_PORT/frameworks | jq '[.frameworks[] | select(.name == \"agora-services\" and .active)] | length')\" = 1 ]" ||
    fail "the master should have exactly one agora-services framework: $(svc_frameworks)"
[ "$(svc_leader_of "$l1")" = "127.0.0.1:${SP[$l2]}" ] && [ "$(svc_leader_of "$l2")" = "127.0.0.1:${SP[$l2]}" ] ||
    fail "/v2/leader disagrees"

# ---- a leader frozen past its session timeout is deposed ----
kill -STOP "${SPID[$l2]}"
t0=$SECONDS
l3=$(SVC_SKIP=$l2 wait_svc_leader 20 "$l2") || { kill -CONT "${SPID[$l2]}"; fail "no leader while $l2 is frozen"; }
log "$l3 leads $((SECONDS - t0)) s after $l2 froze"
kill -CONT "${SPID[$l2]}"
wait_until 20 grep -q "lost leadership" "$T/svc-$l2.log" || fail "$l2 did not notice it was deposed"
wait_until 20 sh -c "[ \"\$(curl -sf http://127.0.0.1:${SP[$l2]}/v2/leader | jq -r .leader)\" = 127.0.0.1:${SP[$l3]} ]" ||
    fail "$l2 does not proxy to $l3 after being deposed"
[ "$(svc_leader)" = "$l3" ] || fail "the instances disagree on the leader after the freeze"
svc_use "$l3"
wait_app /web 3 30
[ "$(master_running_tasks | wc -l)" = 3 ] || fail "the master runs $(master_running_tasks | wc -l) tasks after the freeze, want 3"
[ "$(framework_id)" = "$FRAMEWORK_ID" ] || fail "another framework after the freeze"
log "$l2, frozen past its session, was deposed: $l3 leads, same tasks"

# ---- --ha=false: a standby that does not proxy ----
start_svc_ha s3 --ha=false
wait_until 10 sh -c "[ \"\$(curl -sf http://127.0.0.1:${SP[s3]}/v2/leader | jq -r .leader)\" = 127.0.0.1:${SP[$l3]} ]" ||
    fail "s3 (--ha=false) does not name the leader"
code=$(curl -s -o "$T/s3.out" -w '%{http_code}' "http://127.0.0.1:${SP[s3]}/v2/apps")
[ "$code" = 503 ] && grep -q -- "--ha=false" "$T/s3.out" || fail "s3 (--ha=false) answered $code: $(cat "$T/s3.out")"
[ "$(svc_leader)" = "$l3" ] || fail "the leader changed when s3 joined"
log "--ha=false: s3 names the leader but does not proxy (503)"

# ---- an app deleted leaves nothing in ZooKeeper ----
svc_use "$l3"
api DELETE /v2/apps/web >/dev/null
[ "$(api_code)" = 200 ] || fail "delete: $(api_code)"
wait_until 30 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${SP[$l3]}/v2/apps/web)\" = 404 ]" ||
    fail "/web not removed"
for d in apps deployments tasks versions; do
    [ -z "$(zk_ls $S/$d)" ] || fail "$S/$d still holds $(zk_ls $S/$d)"
done
log "the deleted app left no znode"
log "PASS"
