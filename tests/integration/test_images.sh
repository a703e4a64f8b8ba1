#!/usr/bin/env bash
# Container images (filesystem/linux): a plain rootfs tarball, an OCI image
# layout (two layers, one deleting a file of the other) and an OCI archive each
# give the task only the image's files, with a writable layer of its own and
# its sandbox at /mnt/mesos/sandbox; a missing, corrupt or tampered image, or
# one pinned to the wrong digest, gives TASK_FAILED with a clear message and
# leaves no mount and no cgroup behind; layers are unpacked once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/images.sh"
require_root
require_busybox

agent_json() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}$1"
}
saw_event() {
    jq -e -s "any(.[]; $1)" "$T/sched-$SCHED_NAME.events" >/dev/null 2>&1
}
wait_event() {
    wait_until "$1" saw_event "$2" || fail "no event matching '$2' within $1 s ($3)"
}
event_of() {
    jq -c -s "[.[] | select($1)] | last" "$T/sched-$SCHED_NAME.events"
}
update_is() { # TASK STATE
    echo ".event == \"update\" and .task_id == \"$1\" and .state == \"$2\""
}
task_dir() {
    agent_json /state | jq -r --arg t "$1" \
        '[.frameworks[].executors[] | select(.id == $t) | .directory][0] // empty'
}
cg_count() {
    local n=0 r g
    for r in $(cat "$T/agent-a1/meta/cgroups"); do
        for g in "$r"/*/; do [ -d "$g" ] && n=$((n + 1)); done
    done
    echo "$n"
}

# The images.
mkdir -p "$T/img"
make_rootfs_tar "$T/img/rootfs.tar"
make_oci "$T/img/oci"
make_oci_archive "$T/img/oci" "$T/img/oci.tar"
# Cut in the middle of the largest member's data, wherever the archive put it:
# tar then always fails (a cut in zero padding would end the archive quietly).
cut=$(python3 -c 'import sys, tarfile
m = max(tarfile.open(sys.argv[1]).getmembers(), key=lambda m: m.size)
print(m.offset_data + m.size // 2)' "$T/img/rootfs.tar")
head -c "$cut" "$T/img/rootfs.tar" >"$T/img/corrupt.tar"
sleep 1 # another mtime, so other layer digests than "oci"'s (a cached digest is trusted)
make_oci "$T/img/tampered"
printf 'x' >>"$T/img/tampered/blobs/sha256/$OCI_LAYER1"
wrong=$(printf '%064d' 0)

start_master
start_agent a1
wait_agents 1
agent_id=$(master_json /state | jq -r '.slaves[0].id')
start_scheduler fw1
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 10 '.event == "offers"' "first offer")
offer=$(echo "$ev" | jq -r '.offers[0].id')

# A file of the host the tasks look for: visible without an image (the
# "host" task, the control), invisible to a task in an image.
echo on-the-host >"$T/host-marker"
# The host's top-level directories that the image does not have (/usr, /var...).
host_only=$(comm -23 <(ls / | sort) <(printf '%s\n' bin dev etc mnt proc root sys tmp | sort))
[ -n "$host_only" ] || fail "the host has no top-level directory the image lacks"
check='ls / > ls.out; cat /etc/image-marker > marker.out 2>&1; test -e /etc/removed && echo present > removed.out; cat /etc/added > added.out 2>&1; echo "$IMAGE_VAR" > env.out; pwd > pwd.out; echo hi > /written-by-task && cat /written-by-task > write.out; (echo 1 > /proc/sys/kernel/domainname) 2> procsys.out; cat '"$T/host-marker"' > host.out 2>/dev/null; echo done > done.out; sleep 1000'
# As root (user "root"): the checks write into the image's / and /proc/sys and
# read $T (mode 0700), which the default user (nobody) may not.
hostcheck='ls / > ls.out; cat '"$T/host-marker"' > host.out 2>/dev/null; echo done > done.out; sleep 1000'
tasks=$(jq -c --arg c "$check" --arg h "$hostcheck" --arg T "$T" '[
  {task_id: "tar", resources: "cpus:0.1;mem:64", user: "root", image: ($T + "/img/rootfs.tar"), cmd: $c},
  {task_id: "oci", resources: "cpus:0.1;mem:64", user: "root", image: ($T + "/img/oci"), cmd: $c},
  {task_id: "archive", resources: "cpus:0.1;mem:64", user: "root", image: ($T + "/img/oci.tar"), cmd: $c},
  {task_id: "host", resources: "cpus:0.1;mem:32", user: "root", cmd: $h},
  {task_id: "missing", resources: "cpus:0.1;mem:32", image: ($T + "/img/nope.tar"), cmd: "true"},
  {task_id: "corrupt", resources: "cpus:0.1;mem:32", image: ($T + "/img/corrupt.tar"), cmd: "true"},
  {task_id: "tampered", resources: "cpus:0.1;mem:32", image: ($T + "/img/tampered"), cmd: "true"},
  {task_id: "pinned", resources: "cpus:0.1;mem:32", image: ($T + "/img/oci@sha256:" + "'"$wrong"'"), cmd: "true"},
  {task_id: "relative", resources: "cpus:0.1;mem:32", image: "img/oci", cmd: "true"},
  {task_id: "fill", resources: "cpus:0.1;mem:32", user: "root", image: ($T + "/img/rootfs.tar"),
   cmd: "dd if=/dev/zero of=/big bs=1M count=200; sleep 1000"}
]' <<<'null')
send launch_json "$offer" "$tasks"

# Bad images: TASK_FAILED with a message saying what is wrong.
declare -A want=(
    [missing]="No such file or directory"
    [corrupt]="cannot unpack"
    [tampered]="does not match its digest"
    [pinned]="no manifest with digest"
    [relative]="absolute path"
)
for t in "${!want[@]}"; do
    wait_event 30 "$(update_is "$t" TASK_FAILED)" "$t failed"
    ev=$(event_of "$(update_is "$t" TASK_FAILED)")
    echo "$ev" | jq -e '.reason == "REASON_CONTAINER_LAUNCH_FAILED"' >/dev/null || fail "$t: reason: $ev"
    echo "$ev" | jq -e --arg w "${want[$t]}" '.message | contains($w) and test("^image ")' >/dev/null ||
        fail "$t: message: $ev"
    log "$t: $(echo "$ev" | jq -r .message)"
done

# The writable layer is memory of the task's: filling it past its mem ends it
# as any task over its memory.
wait_event 30 "$(update_is fill TASK_FAILED)" "fill failed"
ev=$(event_of "$(update_is fill TASK_FAILED)")
echo "$ev" | jq -e '.reason == "REASON_CONTAINER_LIMITATION_MEMORY"' >/dev/null || fail "fill: $ev"

# The control: without an image the task sees the host's files, so the
# checks below can tell.
wait_event 30 "$(update_is host TASK_RUNNING)" "host running"
dir=$(task_dir host)
wait_until 10 test -s "$dir/done.out" || fail "host: the task did not write its checks: $(cat "$dir/stderr")"
[ "$(cat "$dir/host.out")" = on-the-host ] || fail "host: a task without an image does not see $T/host-marker"
for d in $host_only; do grep -qx "$d" "$dir/ls.out" || fail "host: a task without an image does not see /$d"; done

# Good images: only the image's files, a writable layer, the sandbox inside.
for t in tar oci archive; do
    wait_event 30 "$(update_is $t TASK_RUNNING)" "$t running"
    dir=$(task_dir $t)
    wait_until 10 test -s "$dir/done.out" || fail "$t: the task did not write its checks: $(cat "$dir/stderr")"
    [ "$(cat "$dir/marker.out")" = from-the-image ] || fail "$t: /etc/image-marker: $(cat "$dir/marker.out")"
    [ "$(cat "$dir/pwd.out")" = /mnt/mesos/sandbox ] || fail "$t: cwd $(cat "$dir/pwd.out")"
    [ ! -s "$dir/host.out" ] || fail "$t: the host's $T/host-marker is visible"
    grep -q -i "read-only" "$dir/procsys.out" || fail "$t: /proc/sys is writable: $(cat "$dir/procsys.out")"
    for d in $host_only; do
        ! grep -qx "$d" "$dir/ls.out" || fail "$t: / has the host's /$d: $(tr '\n' ' ' <"$dir/ls.out")"
    done
    [ ! -e /written-by-task ] || fail "$t: the task wrote into the host's /"
done
for t in oci archive; do
    dir=$(task_dir $t)
    [ ! -e "$dir/removed.out" ] || fail "$t: the whiteout of layer two did not hide /etc/removed"
    [ "$(cat "$dir/added.out")" = from-layer-two ] || fail "$t: /etc/added: $(cat "$dir/added.out")"
    [ "$(cat "$dir/env.out")" = from-image ] || fail "$t: the image's Env is missing: $(cat "$dir/env.out")"
done
# The writable layer is a tmpfs private to each container: the task reads back
# what it wrote, and the file is nowhere on the host (not in the image cache,
# not in the agent's directories).
for t in tar oci archive; do
    [ "$(cat "$(task_dir $t)/write.out")" = hi ] || fail "$t: / is not writable: $(cat "$(task_dir $t)/write.out")"
done
! find "$T" -name written-by-task | grep -q . || fail "the writable layer is on the host: $(find "$T" -name written-by-task)"
# Layers unpacked once: rootfs tarball 1, OCI 2 (shared by the layout and its archive).
n=$(ls "$T/agent-a1/images/layers" | wc -l)
[ "$n" = 3 ] || fail "expected 3 cached layers, found $n: $(ls "$T/agent-a1/images/layers")"

# The containers' mounts live in their own mount namespaces, never in ours.
! grep -q "$T" /proc/self/mountinfo || fail "mounts leaked into the host: $(grep "$T" /proc/self/mountinfo)"

for t in tar oci archive host; do send kill $t "$agent_id"; done
for t in tar oci archive host; do wait_event 15 "$(update_is $t TASK_KILLED)" "$t killed"; done
wait_until 10 test "$(cg_count)" = 0 || fail "cgroups left behind"
! grep -q "$T" /proc/self/mountinfo || fail "mounts left behind"
log "ok"
