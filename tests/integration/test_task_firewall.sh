#!/usr/bin/env bash
# --task_firewall: tasks keep the network but cannot connect to the control
# plane. On a real kernel (nftables): a task running as nobody is refused the
# master, its agent's API and a --task_firewall_deny address, on 127.0.0.1 and
# on another local address, and reaches another local service; a root task is
# not fenced; the user leaves the set with its last task; the table survives
# an agent restart (running tasks stay fenced) and goes when an agent starts
# without the flag.
. "$(dirname "$0")/lib.sh"
require_root
id nobody >/dev/null 2>&1 || { echo "SKIP: no user 'nobody' on this host" >&2; exit 77; }
command -v nft >/dev/null || { echo "SKIP: nft (Debian's nftables, tools/deps) is missing" >&2; exit 77; }
nft list tables >/dev/null 2>&1 || { echo "SKIP: no nftables in this kernel" >&2; exit 77; }
nobody=$(id -u nobody)

# Two local services: one the tasks may reach, one they may not.
OPEN_PORT=$(free_port)
DENY_PORT=$(free_port)
for p in "$OPEN_PORT" "$DENY_PORT"; do
    python3 -m http.server "$p" --bind 0.0.0.0 --directory "$T" >/dev/null 2>&1 &
    PIDS+=($!)
done
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$OPEN_PORT/" || fail "no local service"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$DENY_PORT/" || fail "no local service"
# Another address of this machine than loopback, if it has one.
other=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)

start_master
start_agent a1 --task_firewall --task_firewall_deny="127.0.0.1:$DENY_PORT"
wait_agents 1
APORT=${AGENT_PORT[a1]}
TABLE="inet agora_agent_$APORT"
fw_cleanup() { # the table too (lib.sh's cleanup sees the test's status)
    local rc=$?
    [ "$BASHPID" != "$$" ] || nft delete table $TABLE >/dev/null 2>&1 || true
    set +e # (errexit would end this trap at the status below, before cleanup)
    (exit "$rc")
    cleanup
}
trap fw_cleanup EXIT
nft list table $TABLE >"$T/table" 2>&1 || fail "no table $TABLE: $(cat "$T/table")"
for port in "$MASTER_PORT" "$APORT" "$DENY_PORT"; do
    grep -q "fib daddr type local tcp dport $port .*reject with tcp reset" "$T/table" ||
        fail "no rule for port $port: $(cat "$T/table")"
done
users() { nft -j list set $TABLE task_users | jq -c '[.nftables[].set.elem // [] | .[]]'; }
[ "$(users)" = "[]" ] || fail "users before any task: $(users)"

start_scheduler fw
expect_event 15 '.event == "subscribed"' "subscribed" >/dev/null

# probe NAME HOST PORT: "NAME CODE" (000: the connection was refused)
probe='probe() { echo "$1 $(curl -s -m 3 -o /dev/null -w "%{http_code}" "http://$2:$3/")"; }'
checks="probe master 127.0.0.1 $MASTER_PORT; probe agent 127.0.0.1 $APORT; probe deny 127.0.0.1 $DENY_PORT; probe open 127.0.0.1 $OPEN_PORT"
if [ -n "$other" ]; then
    checks="$checks; probe master-other $other $MASTER_PORT; probe open-other $other $OPEN_PORT"
fi
launch() { # TASK_ID USER(or "") CMD
    local offer
    offer=$(expect_event 20 '.event == "offers"' "an offer for $1" | jq -r '.offers[0].id')
    send launch_json "$offer" "$(jq -cn --arg id "$1" --arg user "$2" --arg cmd "$3" \
        '{task_id: $id, resources: "cpus:0.1;mem:32", cmd: $cmd} + (if $user == "" then {} else {user: $user} end)')"
}
out() { find "$T/agent-a1/sandboxes" -path "*$1*" -name stdout -exec cat {} + 2>/dev/null; }

launch fenced "" "$probe; $checks; sleep 1000"
expect_event 20 '.event == "update" and .task_id == "fenced" and .state == "TASK_RUNNING"' "fenced running" >/dev/null
last=open
[ -z "$other" ] || last=open-other
wait_until 30 sh -c "find '$T/agent-a1/sandboxes' -path '*fenced*' -name stdout -exec cat {} + | grep -q '^$last '" ||
    fail "the task did not finish its probes: $(out fenced)"
out fenced >"$T/fenced.out"
sed 's/^/    nobody: /' "$T/fenced.out" >&2
grep -qx "master 000" "$T/fenced.out" || fail "a task reached the master: $(cat "$T/fenced.out")"
grep -qx "agent 000" "$T/fenced.out" || fail "a task reached its agent: $(cat "$T/fenced.out")"
grep -qx "deny 000" "$T/fenced.out" || fail "a task reached a denied address: $(cat "$T/fenced.out")"
grep -qx "open 200" "$T/fenced.out" || fail "a task could not reach another service: $(cat "$T/fenced.out")"
if [ -n "$other" ]; then
    grep -qx "master-other 000" "$T/fenced.out" || fail "a task reached the master on $other: $(cat "$T/fenced.out")"
    grep -qx "open-other 200" "$T/fenced.out" || fail "a task could not reach $other: $(cat "$T/fenced.out")"
fi
[ "$(users)" = "[$nobody]" ] || fail "the set holds $(users), not nobody ($nobody)"
# The rules counted the refusals (the kernel did refuse them).
nft list table $TABLE >"$T/table"
grep -q "dport $MASTER_PORT counter packets [1-9]" "$T/table" ||
    fail "the master's rule counted nothing: $(cat "$T/table")"
log "nobody's task: master, agent and denied address refused; another service reached"

# Root is not fenced (and could undo the table anyway).
launch asroot root "$probe; $checks; sleep 1000"
wait_until 30 sh -c "find '$T/agent-a1/sandboxes' -path '*asroot*' -name stdout -exec cat {} + | grep -q '^$last '" ||
    fail "the root task did not finish its probes"
out asroot >"$T/asroot.out"
grep -qx "master 200" "$T/asroot.out" || fail "a root task was fenced: $(cat "$T/asroot.out")"
[ "$(users)" = "[$nobody]" ] || fail "root was added: $(users)"
log "root's task: not fenced"

# An agent restart keeps the table and the running task's user.
kill -KILL "${AGENT_PID[a1]}"
[ "$(users)" = "[$nobody]" ] || fail "the table lost the user when the agent died: $(users)"
start_agent a1 --task_firewall --task_firewall_deny="127.0.0.1:$DENY_PORT"
wait_until 20 grep -q "task firewall: $TABLE denies tasks' users 3 destination(s), 1 user(s) now" "$T/agent-a1.log" ||
    fail "the restarted agent did not fence the recovered task: $(grep 'task firewall' "$T/agent-a1.log")"
[ "$(users)" = "[$nobody]" ] || fail "after the restart the set holds $(users)"
log "agent restart: table kept, recovered task's user fenced"

# Its last task gone, the user leaves the set.
send kill fenced
expect_event 20 '.event == "update" and .task_id == "fenced" and .state == "TASK_KILLED"' "fenced killed" >/dev/null
wait_until 10 sh -c "[ \"\$(nft -j list set $TABLE task_users | jq -c '[.nftables[].set.elem // [] | .[]]')\" = '[]' ]" ||
    fail "nobody stayed in the set after its last task: $(users)"
log "the user leaves the set with its last task"

# Without the flag, the agent removes the table an earlier run left.
kill -TERM "${AGENT_PID[a1]}"
wait "${AGENT_PID[a1]}" 2>/dev/null || true
nft list table $TABLE >/dev/null 2>&1 || fail "the table went away when the agent stopped"
start_agent a1
wait_until 20 sh -c "! nft list table $TABLE >/dev/null 2>&1" || fail "the table of an earlier run stayed"
log "an agent without --task_firewall removes the table"
log "PASS"
