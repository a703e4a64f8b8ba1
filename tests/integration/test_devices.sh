#!/usr/bin/env bash
# Device access in containers (docs/isolation.md): a task, even as root, may use
# only Docker's default devices. It reads /dev/null, /dev/zero and
# /dev/urandom; it may mknod a block device but not open it (EPERM); the
# host's disks are refused alike. v1: the devices controller; v2: a device
# program on the container's cgroup (tools/test runs this test in tools/v2vm
# too).
. "$(dirname "$0")/lib.sh"
require_root

agent_json() { curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"; }

start_master
start_agent a1
wait_agents 1
grep -q "isolation: cgroups/" "$T/agent-a1.log" || {
    echo "SKIP: the agent has no cgroups here: $(grep 'isolation:' "$T/agent-a1.log")" >&2
    exit 77
}
start_scheduler fw
expect_event 15 '.event == "subscribed"' "subscribed" >/dev/null
offer=$(expect_event 15 '.event == "offers"' "an offer" | jq -r '.offers[0].id')
# One line per check: NAME ok|denied (the error text after it).
cmd='try() { n=$1; shift; if out=$("$@" 2>&1); then echo "$n ok"; else echo "$n denied $out"; fi; }
try null sh -c "echo x > /dev/null"
try zero sh -c "head -c 8 /dev/zero | wc -c"
try urandom sh -c "head -c 8 /dev/urandom | wc -c"
try mknod mknod ./loopdev b 7 0
try blockdev sh -c "head -c 1 ./loopdev"
disk=$(lsblk -dnpo NAME -e 7,11 2>/dev/null | head -1)
[ -n "$disk" ] && try disk sh -c "head -c 1 $disk"
echo done; sleep 1000'
send launch_json "$offer" "$(jq -cn --arg cmd "$cmd" \
    '{task_id: "dev", resources: "cpus:0.1;mem:32", user: "root", cmd: $cmd}')"
expect_event 20 '.event == "update" and .task_id == "dev" and .state == "TASK_RUNNING"' \
    "the task running" >/dev/null
out() { find "$T/agent-a1/sandboxes" -path '*dev*' -name stdout -exec cat {} + 2>/dev/null; }
wait_until 20 sh -c "find '$T/agent-a1/sandboxes' -path '*dev*' -name stdout -exec cat {} + | grep -qx done" ||
    fail "the task did not finish its checks: $(out)"
out >"$T/dev.out"
sed 's/^/    /' "$T/dev.out" >&2
for ok in null zero urandom mknod; do
    grep -q "^$ok ok" "$T/dev.out" || fail "$ok was refused: $(cat "$T/dev.out")"
done
grep -q "^blockdev denied .*Operation not permitted" "$T/dev.out" ||
    fail "a block device made with mknod could be opened: $(cat "$T/dev.out")"
if grep -q "^disk " "$T/dev.out"; then
    grep -q "^disk denied .*Operation not permitted" "$T/dev.out" ||
        fail "the host's disk could be read: $(cat "$T/dev.out")"
fi
# The same commands outside a container (this test runs as root): the block
# device opens, so the refusal above is the container's.
mknod "$T/loopdev" b 7 0
host=$(head -c 1 "$T/loopdev" 2>&1 >/dev/null || true)
case $host in
*"Operation not permitted"*) fail "the block device is refused on the host too: $host" ;;
esac
log "devices: null, zero, urandom and mknod allowed; a block device and the disk refused (EPERM)"
log "PASS"
