#!/usr/bin/env bash
# Principals own their ids. With --credentials, a framework id belongs to the
# principal that registered it and an agent id to the agent's principal:
# another authenticated principal re-using them (SUBSCRIBE with a framework id
# read from /frameworks, AGENT_REGISTER with an agent id read from /state) is
# refused and nothing changes (the victim keeps its connection and its tasks);
# the owner itself fails over as before. Secrets come from files, never argv,
# and never reach a log.
. "$(dirname "$0")/lib.sh"

cat >"$T/credentials.json" <<'JSON'
{"credentials": [{"principal": "agent1", "secret": "agent1-secret-xyz"},
                 {"principal": "alice", "secret": "alice-secret-xyz"},
                 {"principal": "bob", "secret": "bob-secret-xyz"}]}
JSON
echo "agent1 agent1-secret-xyz" >"$T/agent1.cred" # Mesos's text form
echo '{"principal": "bob", "secret": "bob-secret-xyz"}' >"$T/bob.cred"
echo "alice-secret-xyz" >"$T/alice.secret"
echo "bob-secret-xyz" >"$T/bob.secret"
chmod 600 "$T"/*.cred "$T"/*.secret

start_master --credentials="$T/credentials.json"
start_agent a1 --credential="$T/agent1.cred"
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')

# The victim: alice's framework, failover_timeout 0 (a disconnect removes it), one task.
start_scheduler alice --principal=alice --secret_file="$T/alice.secret" --failover_timeout=0
alice_pid=$SCHED_PID
fw=$(expect_event 10 '.event == "subscribed"' "alice subscribed" | jq -r .framework_id)
ev=$(expect_event 10 '.event == "offers"' "alice's offer")
send launch "$(echo "$ev" | jq -r '.offers[0].id')" victim "cpus:0.5;mem:32" 'sleep 1000'
expect_event 10 '.event == "update" and .task_id == "victim" and .state == "TASK_RUNNING"' \
    "victim running" >/dev/null
tr '\0' ' ' <"/proc/$alice_pid/cmdline" | grep -q "alice-secret" && fail "the secret is in argv"

fw_intact() { # the framework is alice's, connected, its task running
    master_json /frameworks | jq -e --arg id "$fw" \
        '[.frameworks[] | select(.id == $id and .active and .connected and .principal == "alice")] | length == 1' \
        >/dev/null || fail "alice's framework changed: $(master_json /frameworks)"
    use_scheduler alice
    send reconcile
    expect_event 10 '.event == "update" and .task_id == "victim" and .state == "TASK_RUNNING"' \
        "victim still running ($1)" >/dev/null
}

# Takeover 1: bob, authenticated, subscribes with alice's framework id: refused.
start_scheduler bob --principal=bob --secret_file="$T/bob.secret" --framework_id="$fw" --failover_timeout=0
ev=$(expect_event 15 '.event == "error" or .event == "subscribed"' "an answer to bob's takeover")
echo "$ev" | jq -e '.event == "error" and (.message | test("another principal"))' >/dev/null ||
    fail "bob's SUBSCRIBE with alice's framework id: $ev"
grep -q "refusing SUBSCRIBE of framework $fw by principal 'bob'" "$T/master.log" ||
    fail "the master did not log the refusal"
kill -KILL "$SCHED_PID"
fw_intact "after bob's attempt"

# Takeover 2: an agent authenticated as bob re-registers with a1's agent id
# (a work_dir holding only the id): refused, a1 and its task stay.
mkdir -p "$T/agent-evil/meta"
sqlite3 "$T/agent-a1/meta/agent.db" ".backup '$T/agent-evil/meta/agent.db'"
sqlite3 "$T/agent-evil/meta/agent.db" "DELETE FROM tasks; DELETE FROM updates; DELETE FROM frameworks;"
[ "$(sqlite3 "$T/agent-evil/meta/agent.db" "SELECT value FROM agent WHERE key = 'agent_id'")" = "$agent_id" ] ||
    fail "could not prepare the evil agent's work_dir"
start_agent_with evil "cpus:64;mem:100000" --credential="$T/bob.cred"
wait_until 30 grep -q "refusing re-registration of agent $agent_id by principal 'bob'" "$T/master.log" ||
    fail "the master did not refuse bob's agent"
wait_until 10 grep -q "belongs to another principal" "$T/agent-evil.log" ||
    fail "the evil agent was not told why"
kill -KILL "${AGENT_PID[evil]}"
master_json /state | jq -e --arg id "$agent_id" \
    '(.slaves | length) == 1 and .slaves[0].id == $id and .slaves[0].hostname == "a1" and
     .slaves[0].active and .slaves[0].resources.cpus == 4' >/dev/null ||
    fail "the agent record changed: $(master_json /state | jq -c .slaves)"
fw_intact "after bob's agent"
grep -Eq '"state":"TASK_(GONE|LOST|KILLED)"' "$T/sched-alice.events" && fail "alice was told her task ended"

# Allowed: alice fails over to a new scheduler with her own id.
start_scheduler alice2 --principal=alice --secret_file="$T/alice.secret" --framework_id="$fw" --failover_timeout=0
[ "$(expect_event 15 '.event == "subscribed"' "alice fails over" | jq -r .framework_id)" = "$fw" ] ||
    fail "alice could not fail over"
send reconcile
expect_event 10 '.event == "update" and .task_id == "victim" and .state == "TASK_RUNNING"' \
    "victim running after alice's failover" >/dev/null

# The deprecated --secret still works, with a warning; no secret in any log.
start_scheduler bob2 --principal=bob --secret=bob-secret-xyz
expect_event 15 '.event == "subscribed"' "bob with --secret" >/dev/null
grep -q "visible to every local user" "$T/sched-bob2.log" || fail "no warning about --secret"
grep -l "secret-xyz" "$T"/*.log && fail "a secret reached a log"
log "ok"
