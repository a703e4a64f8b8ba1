#!/usr/bin/env bash
# Safe task defaults (--switch_user, --default_task_user): a task that names
# no user (nor its framework) runs as nobody on an agent running as root, in a
# sandbox of mode 0700 owned by it with stdout 0600; one that asks for "root"
# runs as root; with --no-switch_user every task runs as the agent's user.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"
require_root
id nobody >/dev/null 2>&1 || { echo "SKIP: no user 'nobody' on this host" >&2; exit 77; }
nobody_uid=$(id -u nobody)

start_master
start_svc_agent def
start_svc_agent nosw --no-switch_user
wait_agents 2
start_services

# CMD NAME: writes NAME.uid, NAME.sandbox (mode uid of the sandbox), NAME.out
# (of stdout), then waits.
cmd() {
    printf 'id -u > %s.uid; stat -c "%%a %%u" . > %s.sandbox; echo hello; stat -c "%%a %%u" stdout > %s.out; sleep 1000' "$1" "$1" "$1"
}
app() { # ID HOST [USER]
    jq -cn --arg id "$1" --arg host "$2" --arg cmd "$(cmd "$1")" --arg user "${3:-}" \
        '{id: $id, cmd: $cmd, cpus: 0.05, mem: 16, constraints: [["hostname", "CLUSTER", $host]]}
         + (if $user == "" then {} else {user: $user} end)'
}
for spec in "plain def" "asroot def root" "nosw nosw"; do
    set -- $spec
    api POST /v2/apps "$(app "$@")" >/dev/null
    [ "$(api_code)" = 201 ] || fail "create $1: $(api_code) $(cat "$T/api.body")"
done
# sandbox_file AGENT FILE: the contents of FILE in a sandbox of AGENT.
sandbox_file() {
    local f
    f=$(find "$T/agent-$1/sandboxes" -name "$2" 2>/dev/null | head -1)
    [ -n "$f" ] && [ -s "$f" ] && cat "$f"
}
for spec in "def plain" "def asroot" "nosw nosw"; do
    set -- $spec
    wait_until 30 sandbox_file "$1" "$2.out" >/dev/null || fail "task $2 did not write its checks"
done

[ "$(sandbox_file def plain.uid)" = "$nobody_uid" ] ||
    fail "a task with no user ran as uid $(sandbox_file def plain.uid), not nobody ($nobody_uid)"
[ "$(sandbox_file def plain.sandbox)" = "700 $nobody_uid" ] ||
    fail "its sandbox is '$(sandbox_file def plain.sandbox)', not '700 $nobody_uid'"
[ "$(sandbox_file def plain.out)" = "600 $nobody_uid" ] ||
    fail "its stdout is '$(sandbox_file def plain.out)', not '600 $nobody_uid'"
[ "$(sandbox_file def asroot.uid)" = 0 ] ||
    fail "a task with user root ran as uid $(sandbox_file def asroot.uid)"
[ "$(sandbox_file nosw nosw.uid)" = 0 ] ||
    fail "with --no-switch_user a task ran as uid $(sandbox_file nosw nosw.uid), not the agent's (0)"
[ "$(sandbox_file nosw nosw.sandbox)" = "700 0" ] ||
    fail "with --no-switch_user the sandbox is '$(sandbox_file nosw nosw.sandbox)', not '700 0'"

# The agent (root) still serves the task's output through /files.
dir=$(curl -sf "http://127.0.0.1:${AGENT_PORT[def]}/state" |
    jq -r '[.frameworks[].executors[] | select(.id | startswith("plain")) | .directory][0]')
curl -sf "http://127.0.0.1:${AGENT_PORT[def]}/files/read?path=$dir/stdout&offset=0" | jq -r .data |
    grep -q hello || fail "/files/read does not serve the sandbox of a task run as nobody"
log "ok"
