#!/usr/bin/env bash
# `docker save` archives as images (docs/isolation.md): an archive in the
# legacy layout (manifest.json with Config and Layers, each layer an
# uncompressed <id>/layer.tar, a whiteout in layer two) and one in the OCI
# layout newer docker writes (blobs/sha256/..., plus index.json) each give the
# task the image's files and Env and nothing of the host; pinned to its config
# digest it runs, pinned to another it fails, and a layer that does not match
# its diff_id fails. The archives are built here (no docker daemon needed) the
# way `docker save` writes them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/images.sh"
require_root
require_busybox

sha() { sha256sum "$1" | cut -d' ' -f1; }

# make_docker_save FILE STYLE [TAMPER]: STYLE legacy or oci; with TAMPER, layer
# two differs from its diff_id. Sets DOCKER_CONFIG_HEX.
make_docker_save() {
    local out=$1 style=$2 tamper=${3:-} d base top h1 h2 cfg p1 p2 pc
    d=$(mktemp -d "$T/dsave.XXXXXX")
    base=$(mktemp -d "$T/dl1.XXXXXX")
    top=$(mktemp -d "$T/dl2.XXXXXX")
    make_rootfs "$base"
    echo "bye" >"$base/etc/removed"
    mkdir -p "$top/etc"
    : >"$top/etc/.wh.removed"
    # A tampered image claims a layer two of its own: one that no other image
    # shares, so no verified copy of it can already be in the agent's cache.
    echo "from-docker-layer-two${tamper:+ (claimed by the tampered image)}" >"$top/etc/added"
    tar -C "$base" -cf "$T/dl1.tar" .
    tar -C "$top" -cf "$T/dl2.tar" .
    h1=$(sha "$T/dl1.tar")
    h2=$(sha "$T/dl2.tar")
    if [ -n "$tamper" ]; then
        echo tampered >"$top/etc/added"
        tar -C "$top" -cf "$T/dl2.tar" .
    fi
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","IMAGE_VAR=from-docker-save"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
        "$h1" "$h2" >"$T/dcfg.json"
    cfg=$(sha "$T/dcfg.json")
    if [ "$style" = legacy ]; then
        mkdir -p "$d/$h1" "$d/$h2"
        mv "$T/dl1.tar" "$d/$h1/layer.tar"
        mv "$T/dl2.tar" "$d/$h2/layer.tar"
        echo 1.0 >"$d/$h1/VERSION"
        echo 1.0 >"$d/$h2/VERSION"
        mv "$T/dcfg.json" "$d/$cfg.json"
        p1=$h1/layer.tar p2=$h2/layer.tar pc=$cfg.json
        echo '{"agora/test":{"latest":"'"$h2"'"}}' >"$d/repositories"
    else
        mkdir -p "$d/blobs/sha256"
        mv "$T/dl1.tar" "$d/blobs/sha256/$h1"
        mv "$T/dl2.tar" "$d/blobs/sha256/$h2"
        mv "$T/dcfg.json" "$d/blobs/sha256/$cfg"
        p1=blobs/sha256/$h1 p2=blobs/sha256/$h2 pc=blobs/sha256/$cfg
        echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
    fi
    printf '[{"Config":"%s","RepoTags":["agora/test:latest"],"Layers":["%s","%s"]}]' \
        "$pc" "$p1" "$p2" >"$d/manifest.json"
    if [ "$style" = oci ]; then
        # docker 25+ also writes an OCI index next to manifest.json.
        local man
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
            "$cfg" "$(stat -c %s "$d/$pc")" "$h1" "$(stat -c %s "$d/$p1")" "$h2" "$(stat -c %s "$d/$p2")" >"$T/dman.json"
        man=$(sha "$T/dman.json")
        printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' \
            "$man" "$(stat -c %s "$T/dman.json")" >"$d/index.json"
        mv "$T/dman.json" "$d/blobs/sha256/$man"
    fi
    tar -C "$d" -cf "$out" .
    rm -rf "$d" "$base" "$top"
    DOCKER_CONFIG_HEX=$cfg
}

mkdir -p "$T/img"
make_docker_save "$T/img/legacy.tar" legacy
legacy_cfg=$DOCKER_CONFIG_HEX
make_docker_save "$T/img/oci-style.tar" oci
make_docker_save "$T/img/tampered.tar" legacy tamper
wrong=$(printf '%064d' 0)
# A file of the host's that no image has: the tasks must not see it.
echo host >"$T/host-marker"

start_master
start_agent a1
wait_agents 1
start_scheduler fw
expect_event 10 '.event == "subscribed"' "subscription" >/dev/null
ev=$(expect_event 15 '.event == "offers"' "first offer")

check="cat /etc/image-marker > marker.out 2>&1; test -e /etc/removed && echo present > removed.out; cat /etc/added > added.out 2>&1; echo \"\$IMAGE_VAR\" > env.out; test -e $T/host-marker && echo visible > host.out; test -x /bin/busybox && echo yes > busybox.out; echo done > done.out; sleep 1000"
tasks=$(jq -c --arg c "$check" --arg T "$T" --arg cfg "$legacy_cfg" --arg wrong "$wrong" '[
  {task_id: "legacy", resources: "cpus:0.1;mem:64", image: ($T + "/img/legacy.tar"), cmd: $c},
  {task_id: "ocistyle", resources: "cpus:0.1;mem:64", image: ($T + "/img/oci-style.tar"), cmd: $c},
  {task_id: "pinned", resources: "cpus:0.1;mem:64", image: ($T + "/img/legacy.tar@sha256:" + $cfg), cmd: $c},
  {task_id: "wrongpin", resources: "cpus:0.1;mem:32", image: ($T + "/img/legacy.tar@sha256:" + $wrong), cmd: "true"},
  {task_id: "tampered", resources: "cpus:0.1;mem:32", image: ($T + "/img/tampered.tar"), cmd: "true"}
]' <<<'null')
send launch_json "$(echo "$ev" | jq -r '.offers[0].id')" "$tasks"

saw_event() {
    jq -e -s "any(.[]; $1)" "$T/sched-fw.events" >/dev/null 2>&1
}
update_is() { # TASK STATE
    echo ".event == \"update\" and .task_id == \"$1\" and .state == \"$2\""
}
event_of() {
    jq -c -s "[.[] | select($1)] | last" "$T/sched-fw.events"
}
task_dir() {
    curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/state" | jq -r --arg t "$1" \
        '[.frameworks[].executors[] | select(.id == $t) | .directory][0] // empty'
}

declare -A want=([wrongpin]="no image with config digest" [tampered]="does not match")
for t in wrongpin tampered; do
    wait_until 30 saw_event "$(update_is $t TASK_FAILED)" ||
        fail "$t did not fail: $(event_of ".task_id == \"$t\"")"
    ev=$(event_of "$(update_is $t TASK_FAILED)")
    echo "$ev" | jq -e --arg w "${want[$t]}" '.reason == "REASON_CONTAINER_LAUNCH_FAILED" and (.message | contains($w))' >/dev/null ||
        fail "$t: $ev"
    log "$t: $(echo "$ev" | jq -r .message)"
done
for t in legacy ocistyle pinned; do
    wait_until 30 saw_event "$(update_is $t TASK_RUNNING)" ||
        fail "$t not running: $(event_of ".task_id == \"$t\"")"
    dir=$(task_dir $t)
    wait_until 15 test -s "$dir/done.out" || fail "$t: the task did not write its checks: $(cat "$dir/stderr" 2>/dev/null)"
    [ "$(cat "$dir/marker.out")" = from-the-image ] || fail "$t: /etc/image-marker: $(cat "$dir/marker.out")"
    [ "$(cat "$dir/busybox.out" 2>/dev/null)" = yes ] || fail "$t: no /bin/busybox in the image"
    [ ! -e "$dir/removed.out" ] || fail "$t: the whiteout of layer two did not hide /etc/removed"
    [ "$(cat "$dir/added.out")" = from-docker-layer-two ] || fail "$t: /etc/added: $(cat "$dir/added.out")"
    [ "$(cat "$dir/env.out")" = from-docker-save ] || fail "$t: the config's Env is missing: $(cat "$dir/env.out")"
    [ ! -e "$dir/host.out" ] || fail "$t: the host's $T/host-marker is visible in the container"
done
log "ok"
