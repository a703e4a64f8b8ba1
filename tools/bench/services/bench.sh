#!/usr/bin/env bash
# bench services: agora-services scaling and API latency on local agents, with
# Docker Swarm as a baseline.
#
#   tools/bench/services/bench.sh [--agents=N] [--sizes=100,1000] [--api_tasks=10000]
#                                 [--swarm | --no_swarm] [--swarm_size=100] [--no_image]
#
# Uses the binaries in $AGORA_BIN (default build/bin; build without
# AGORA_SANITIZE for meaningful numbers). Run it as root: the agents then build
# real containers (cgroups cpu/mem/pids, pid/ipc/uts/mount namespaces, and the
# image below as the root filesystem), the same as what Docker runs. It starts
# agora-master, N local agents (default 4, each cpus:100;mem:100000) and
# agora-services in a scratch directory (the agents' --runtime_dir on a tmpfs,
# /dev/shm, as docs/agent.md recommends), then:
#
#   1. scaling: one app of a trivial containerized task (`sleep 3600` in a
#      busybox image, cpus 0.01, mem 8, no ports) scaled 0 -> S for each S in
#      --sizes: seconds from the PUT to all S tasks RUNNING (polled every 20 ms
#      from /v2/apps), then back to 0 (seconds until every task is gone), with
#      /v2/apps and /v2/tasks latency (median of 20) while S tasks run. The
#      image is a rootfs tarball of Debian's busybox-static, built offline;
#      one instance per agent runs first so that each agent has unpacked it
#      (Swarm's image is imported before its timing too). --no_image runs the
#      task on the host's filesystem (still in cgroups and namespaces);
#   2. the Docker Swarm baseline, in the same run: the bench starts its own
#      dockerd (own --data-root, --exec-root, unix socket and pidfile under a
#      temporary directory; --bridge=none, --iptables=false), imports the same
#      busybox root filesystem (`docker import`), runs `docker swarm init`,
#      creates a service by image ID (by tag every task would first try a
#      registry) with `--stop-signal KILL` and host networking (as the Agora
#      tasks) running `sleep 3600`, and times `docker service scale` 0 ->
#      --swarm_size (default 100) until that many tasks run (polled every
#      100 ms); then removes everything it created. It runs when `dockerd` is
#      installed; --swarm installs docker.io with apt-get when it is missing
#      and fails if Swarm cannot run; --no_swarm skips it;
#   3. API latency with --api_tasks tasks known: agora-services is restarted on
#      a store seeded with that many RUNNING task records and no reachable
#      master (so reconciliation never prunes them; the API does the same work
#      whether the tasks run or not), and GET /v2/apps, /v2/apps/bench (which
#      embeds the tasks) and /v2/tasks are timed (p50 and p99 of 50).
#
# Goals: 0 -> 1,000 in <= 10 s; 0 -> 100 at least 10x faster than Swarm's;
# /v2/apps with 10,000 tasks <= 50 ms.
#
# The last line of the output is one JSON object (built with jq) with the
# parameters and every figure; each latency is {"p50_ms", "p99_ms", "max_ms",
# "bytes"}: {"bench": "services", "agents", "cores", "load_average": [1, 5,
# 15 min], "isolation", "image" (true: the busybox image), "sizes": [{"tasks",
# "scale_up_s", "tasks_per_s", "get_v2_apps", "get_v2_tasks", "scale_down_s"}],
# "swarm": {"tasks", "scale_up_s", "tasks_per_s", "docker_version",
# "agora_scale_up_s" and "speedup" (when --sizes has --swarm_size)} or null
# when skipped, "api": {"tasks", "get_v2_apps", "get_v2_apps_bench",
# "get_v2_tasks", "get_v2_queue"}}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export AGORA_BIN=${AGORA_BIN:-$here/../../../build/bin}
agents=4
sizes=100,1000
api_tasks=10000
swarm=auto
swarm_size=100
use_image=1
usage="usage: $0 [--agents=N] [--sizes=100,1000] [--api_tasks=10000] [--swarm | --no_swarm] [--swarm_size=100] [--no_image]"
for a in "$@"; do
    case $a in
    --agents=*) agents=${a#*=} ;;
    --sizes=*) sizes=${a#*=} ;;
    --api_tasks=*) api_tasks=${a#*=} ;;
    --swarm) swarm=yes ;;
    --no_swarm) swarm=no ;;
    --swarm_size=*) swarm_size=${a#*=} ;;
    --no_image) use_image=0 ;;
    -h | --help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
done
for v in "$agents" "$api_tasks" "$swarm_size" ${sizes//,/ }; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench: '$v' is not a positive number; $usage" >&2; exit 2; }
done
. "$here/../../../tests/integration/lib.sh"
. "$here/../../../tests/integration/services_lib.sh"
. "$here/../../../tests/integration/images.sh"

now() { date +%s.%N; }
# Microseconds, without starting a process (the polling loops below run every
# 20-100 ms while the machine is busy with what is timed).
now_us() { echo "${EPOCHREALTIME/./}"; }

# settle: waits (at most 60 s) until the cpus are at least 90% idle over a
# second, so that a timed phase does not pay for the clean-up of the one
# before it (the kernel tears down cgroups and namespaces for seconds after
# 1,000 containers end). Both Agora and Swarm get it before each timed step.
settle() {
    local i idle=0 a b c d e f g h t1 i1 t2 i2
    for i in $(seq 1 60); do
        read -r _ a b c d e f g h _ </proc/stat
        t1=$((a + b + c + d + e + f + g + h)) i1=$((d + e))
        sleep 1
        read -r _ a b c d e f g h _ </proc/stat
        t2=$((a + b + c + d + e + f + g + h)) i2=$((d + e))
        idle=$((100 * (i2 - i1) / (t2 - t1 > 0 ? t2 - t1 : 1)))
        [ "$idle" -ge 90 ] && return 0
    done
    echo "bench: the machine did not settle (cpus ${idle}% idle); figures may be high" >&2
}

# ---- Docker Swarm baseline ----
# Everything lives under $SW (a temporary directory of its own, removed at exit
# even when the bench fails); swarm_cleanup undoes only what swarm_start did.
SW=""
DOCKERD_PID=""
GWBRIDGE_EXISTED=1
CG_DOCKER_NEW=()

dk() { "$DOCKER" -H "unix://$SW/docker.sock" "$@"; }

swarm_cleanup() {
    local i p m
    [ -n "$SW" ] || return 0
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        dk service rm bench >/dev/null 2>&1 || true
        for i in $(seq 1 300); do
            [ -z "$(dk ps -aq 2>/dev/null)" ] && break
            sleep 0.1
        done
        dk swarm leave --force >/dev/null 2>&1 || true
        kill -TERM "$DOCKERD_PID" 2>/dev/null || true
        for i in $(seq 1 300); do
            kill -0 "$DOCKERD_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$DOCKERD_PID" 2>/dev/null || true
        wait "$DOCKERD_PID" 2>/dev/null || true
    fi
    # Left only if dockerd died: its containerd and shims (they name $SW).
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$SW/"; then
            kill -KILL "${p#/proc/}" 2>/dev/null || true
        fi
    done
    # Network namespaces and overlay mounts under $SW, innermost first.
    awk -v d="$SW/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    if [ "$GWBRIDGE_EXISTED" = 0 ]; then ip link del docker_gwbridge 2>/dev/null || true; fi
    for p in "${CG_DOCKER_NEW[@]}"; do rmdir "$p" 2>/dev/null || true; done
    rm -rf "$SW"
    SW=""
}
# (exit $rc) hands the status to cleanup; set +e so that a failing one does not end the trap.
trap 'rc=$?; swarm_cleanup; set +e; (exit $rc); cleanup' EXIT

# swarm_unavailable WHY: with --swarm a failure, else a note and no baseline.
swarm_unavailable() {
    if [ "$swarm" = yes ]; then fail "Swarm baseline: $1"; fi
    echo "Swarm baseline skipped: $1" >&2
    swarm=no
}

# swarm_start ROOTFS: a private dockerd with a swarm and the image imported
# from ROOTFS (a directory); sets $SWARM_IMAGE to the image's ID.
swarm_start() {
    local rootfs=$1 g
    SW=$(mktemp -d /tmp/agora-swarm.XXXXXX)
    ip link show docker_gwbridge >/dev/null 2>&1 || GWBRIDGE_EXISTED=0
    for g in /sys/fs/cgroup/*/; do
        [ -d "$g/docker" ] || CG_DOCKER_NEW+=("$g/docker")
    done
    [ -d /sys/fs/cgroup/docker ] || CG_DOCKER_NEW+=(/sys/fs/cgroup/docker)
    dockerd --data-root="$SW/data" --exec-root="$SW/exec" -H "unix://$SW/docker.sock" \
        --pidfile="$SW/docker.pid" --bridge=none --iptables=false >"$SW/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    wait_until 60 dk version || { tail -20 "$SW/dockerd.log" >&2; fail "dockerd did not start"; }
    SWARM_IMAGE=$(tar -C "$rootfs" -c . | dk import - local/busybox:1) || fail "docker import failed"
    dk swarm init --advertise-addr 127.0.0.1 >/dev/null || fail "docker swarm init failed"
}

# swarm_replicas: "running/desired" of the bench service.
swarm_replicas() {
    dk service ls --filter name=bench --format '{{.Replicas}}'
}

# swarm_scale N SECS: scales the service to N; waits until N tasks run.
swarm_scale() {
    local n=$1 secs=$2 t0
    t0=$(now_us)
    dk service scale --detach "bench=$n" >/dev/null 2>&1 || fail "docker service scale bench=$n failed"
    until [ "$(swarm_replicas)" = "$n/$n" ]; do
        sleep 0.1
        if (($(now_us) - t0 > secs * 1000000)); then
            fail "Swarm: $n tasks not running after $secs s ($(swarm_replicas))"
        fi
    done
}

if [ "$swarm" != no ]; then
    if [ "$(id -u)" -ne 0 ]; then
        swarm_unavailable "needs root"
    elif ! command -v dockerd >/dev/null && [ "$swarm" = yes ]; then
        echo "bench: installing docker.io for the Swarm baseline" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io >/dev/null ||
            fail "apt-get install docker.io failed"
    fi
    if [ "$swarm" != no ] && ! command -v dockerd >/dev/null; then
        swarm_unavailable "dockerd is not installed (--swarm installs docker.io)"
    fi
fi
# The client of the same package as dockerd, else any.
DOCKER=$(dirname "$(command -v dockerd || echo /usr/sbin/dockerd)")/../bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || echo docker)

# ---- Agora ----
# latency PATH COUNT: "P50 P99 MAX BYTES" (ms, 0.1 ms) of COUNT GETs of PATH.
latency() {
    local path=$1 count=$2 i
    for i in $(seq 1 "$count"); do
        curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$SVC_PORT$path"
    done | sort -n | awk '{ t[NR] = $1 * 1000; b = $2 } END {
        p50 = t[int((NR + 1) / 2)]; p99 = t[int(NR * 0.99 + 0.999)];
        printf "%.1f %.1f %.1f %d\n", p50, p99, t[NR], b }'
}

# lat_text P50 P99 MAX BYTES: the line of the table; lat_json: the object.
lat_text() { printf 'p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d bytes)' "$@"; }
lat_json() {
    jq -nc --argjson p50 "$1" --argjson p99 "$2" --argjson max "$3" --argjson b "$4" \
        '{p50_ms: $p50, p99_ms: $p99, max_ms: $max, bytes: $b}'
}

# Polled every 20 ms while containers start: one curl, no jq.
running() {
    local body
    body=$(curl -sf "http://127.0.0.1:$SVC_PORT/v2/apps/bench?embed=none") || return 0
    [[ $body =~ \"tasksRunning\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

ntasks() {
    local body r s
    body=$(curl -sf "http://127.0.0.1:$SVC_PORT/v2/apps/bench?embed=none") || return 0
    [[ $body =~ \"tasksRunning\":([0-9]+) ]] && r=${BASH_REMATCH[1]}
    [[ $body =~ \"tasksStaged\":([0-9]+) ]] && s=${BASH_REMATCH[1]}
    echo $((${r:-0} + ${s:-0}))
}

# scale N SECS: PUTs instances N and waits until N tasks run (N > 0) or none
# is left (N = 0).
scale() {
    local n=$1 secs=$2 t0
    t0=$(now_us)
    api PUT "/v2/apps/bench?force=true" "{\"instances\": $n}" >/dev/null
    [ "$(api_code)" = 200 ] || fail "scale to $n: $(api_code) $(cat "$T/api.body")"
    while if [ "$n" = 0 ]; then [ "$(ntasks)" != 0 ]; else [ "$(running)" != "$n" ]; fi; do
        sleep 0.02
        if (($(now_us) - t0 > secs * 1000000)); then
            fail "scaling to $n did not finish in $secs s: $(app_json /bench |
                jq -c '{tasksRunning, tasksStaged}'); lastTaskFailure: $(app_json /bench |
                jq -c '.lastTaskFailure.message')"
        fi
    done
}

container=null
if [ "$(id -u)" -ne 0 ]; then
    echo "bench: not root: the agents run plain processes, not containers" >&2
    use_image=0
fi
if [ "$use_image" = 1 ] || [ "$swarm" != no ]; then
    require_busybox
    make_rootfs "$T/rootfs"
fi
if [ "$use_image" = 1 ]; then
    tar -C "$T/rootfs" -cf "$T/busybox.tar" .
    container="{\"type\": \"MESOS\", \"docker\": {\"image\": \"$T/busybox.tar\"}}"
fi

start_master
for i in $(seq 1 "$agents"); do
    AGENT_PORT[b$i]=$(free_port)
    "$AGORA_BIN/agora-agent" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 \
        --port="${AGENT_PORT[b$i]}" --hostname="b$i" --work_dir="$T/agent-b$i" \
        --runtime_dir="$RT_PREFIX-b$i" \
        --resources="cpus:100;mem:100000;disk:100000;ports:[31000-32999]" >>"$T/agent-b$i.log" 2>&1 &
    PIDS+=($!)
done
wait_agents "$agents"
isolation=$(curl -sf "http://127.0.0.1:${AGENT_PORT[b1]}/state" | jq -r '.isolation // "?"')
start_services --logging_level=WARNING
api POST /v2/apps "{\"id\": \"/bench\", \"cmd\": \"sleep 3600\", \"cpus\": 0.01, \"mem\": 8,
    \"ports\": [], \"instances\": 0, \"container\": $container}" >/dev/null
[ "$(api_code)" = 201 ] || fail "create: $(cat "$T/api.body")"

read -r load1 load5 load15 _ </proc/loadavg
echo "agora-services benchmark: $agents local agents, $(nproc) cores, load average $load1 $load5 $load15"
J=$(jq -nc --argjson agents "$agents" --argjson cores "$(nproc)" --argjson l1 "$load1" \
    --argjson l5 "$load5" --argjson l15 "$load15" --arg iso "$isolation" --argjson image "$use_image" \
    '{bench: "services", agents: $agents, cores: $cores, load_average: [$l1, $l5, $l15],
      isolation: $iso, image: ($image == 1), sizes: [], swarm: null}')
echo "   agent isolation: $isolation"
echo "   task: sleep 3600, $([ "$use_image" = 1 ] && echo "busybox rootfs image $T/busybox.tar" || echo "host filesystem")"
# Warm-up: one task per agent (offers are spread), so every agent has the image.
scale "$agents" 120
if [ "$(id -u)" -eq 0 ]; then
    # What runs is a container: its own pid namespace, the agent's cgroups and,
    # with the image, the image as its root.
    f=$(ls "$RT_PREFIX"-b*/containers/*/task.pid | head -1)
    pid=$(cat "$f")
    [ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] ||
        fail "task $pid is not in a pid namespace of its own"
    grep -q "$(basename "$(dirname "$f")")" "/proc/$pid/cgroup" ||
        fail "task $pid is not in its container's cgroups: $(cat "/proc/$pid/cgroup")"
    if [ "$use_image" = 1 ] && [ ! -f "/proc/$pid/root/etc/image-marker" ]; then
        fail "task $pid does not run in the busybox image"
    fi
fi
scale 0 120
declare -A AGORA_S
IFS=, read -ra S <<<"$sizes"
for n in "${S[@]}"; do
    settle
    t0=$(now)
    scale "$n" 300
    t1=$(now)
    AGORA_S[$n]=$(echo "$t1 - $t0" | bc)
    rate=$(echo "$n / (${AGORA_S[$n]})" | bc -l)
    printf '0 -> %d: all RUNNING after %.2f s (%.0f tasks/s)\n' "$n" "${AGORA_S[$n]}" "$rate"
    printf -v up '%.3f' "${AGORA_S[$n]}"
    printf -v rate '%.1f' "$rate"
    read -ra apps < <(latency /v2/apps 20)
    read -ra tasks < <(latency /v2/tasks 20)
    echo "   GET /v2/apps  with $n tasks: $(lat_text "${apps[@]}")"
    echo "   GET /v2/tasks with $n tasks: $(lat_text "${tasks[@]}")"
    t0=$(now)
    scale 0 300
    down=$(echo "$(now) - $t0" | bc)
    printf '%d -> 0: all gone after %.2f s\n' "$n" "$down"
    printf -v down '%.3f' "$down"
    J=$(jq -c --argjson n "$n" --argjson up "$up" --argjson rate "$rate" --argjson down "$down" \
        --argjson apps "$(lat_json "${apps[@]}")" --argjson tasks "$(lat_json "${tasks[@]}")" \
        '.sizes += [{tasks: $n, scale_up_s: $up, tasks_per_s: $rate, get_v2_apps: $apps,
                     get_v2_tasks: $tasks, scale_down_s: $down}]' <<<"$J")
done

# ---- Docker Swarm, same machine, same run ----
if [ "$swarm" != no ]; then
    swarm_start "$T/rootfs"
    dk service create --detach --name bench --replicas 1 --stop-signal KILL --network host \
        "$SWARM_IMAGE" sleep 3600 >/dev/null 2>&1 || fail "docker service create failed"
    swarm_scale 1 120 # warm-up, as the Agora side
    swarm_scale 0 120
    settle
    t0=$(now)
    swarm_scale "$swarm_size" 600
    swarm_s=$(echo "$(now) - $t0" | bc)
    rate=$(echo "$swarm_size / $swarm_s" | bc -l)
    version=$(dk version --format '{{.Server.Version}}' 2>/dev/null || true)
    printf 'Swarm 0 -> %d: all running after %.2f s (%.0f tasks/s; docker %s)\n' "$swarm_size" \
        "$swarm_s" "$rate" "$version"
    printf -v s '%.3f' "$swarm_s"
    printf -v rate '%.1f' "$rate"
    J=$(jq -c --argjson n "$swarm_size" --argjson s "$s" --argjson rate "$rate" \
        --arg v "$version" '.swarm = {tasks: $n, scale_up_s: $s, tasks_per_s: $rate,
                                     docker_version: $v}' <<<"$J")
    if [ -n "${AGORA_S[$swarm_size]:-}" ]; then
        speedup=$(echo "$swarm_s / ${AGORA_S[$swarm_size]}" | bc -l)
        printf 'Agora vs Swarm, 0 -> %d: %.2f s vs %.2f s: %.1fx faster%s\n' \
            "$swarm_size" "${AGORA_S[$swarm_size]}" "$swarm_s" "$speedup" \
            "$([ "$swarm_size" = 100 ] && echo " (goal >= 10x)")"
        printf -v up '%.3f' "${AGORA_S[$swarm_size]}"
        printf -v speedup '%.2f' "$speedup"
        J=$(jq -c --argjson up "$up" --argjson x "$speedup" \
            '.swarm += {agora_scale_up_s: $up, speedup: $x}' <<<"$J")
    fi
    swarm_cleanup
fi

# ---- API latency with many tasks known ----
kill9_services
sqlite3 "$T/services/services.db" <<SQL
UPDATE apps SET json = json_set(json, '\$.instances', $api_tasks) WHERE id = '/bench';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $api_tasks)
INSERT INTO tasks SELECT printf('bench.%08d-0000-4000-8000-000000000000', i), '/bench',
    'agent-' || (i % 100), 'host' || (i % 100), '', '31000',
    (SELECT json_extract(json, '\$.version') FROM apps WHERE id = '/bench'),
    (SELECT json_extract(json, '\$.versionInfo.lastConfigChangeAt') FROM apps WHERE id = '/bench'),
    2, -1, 0, 0, 1700000000.0 + i, 1700000001.0 + i, 0, i FROM n;
SQL
"$AGORA_BIN/agora-services" --master=127.0.0.1:1 --ip=127.0.0.1 --http_port="$SVC_PORT" \
    --hostname=127.0.0.1 --work_dir="$T/services" --logging_level=ERROR >>"$T/services.log" 2>&1 &
PIDS+=($!)
wait_until 30 curl -sf "http://127.0.0.1:$SVC_PORT/ping" || fail "services did not restart"
[ "$(running)" = "$api_tasks" ] || fail "expected $api_tasks tasks known, have $(running)"
echo "with $api_tasks tasks known (seeded store, no master):"
read -ra apps < <(latency /v2/apps 50)
read -ra bench < <(latency /v2/apps/bench 20)
read -ra tasks < <(latency /v2/tasks 20)
read -ra queue < <(latency /v2/queue 20)
echo "   GET /v2/apps            $(lat_text "${apps[@]}")"
echo "   GET /v2/apps/bench      $(lat_text "${bench[@]}")"
echo "   GET /v2/tasks           $(lat_text "${tasks[@]}")"
echo "   GET /v2/queue           $(lat_text "${queue[@]}")"
jq -c --argjson n "$api_tasks" --argjson apps "$(lat_json "${apps[@]}")" \
    --argjson bench "$(lat_json "${bench[@]}")" --argjson tasks "$(lat_json "${tasks[@]}")" \
    --argjson queue "$(lat_json "${queue[@]}")" \
    '.api = {tasks: $n, get_v2_apps: $apps, get_v2_apps_bench: $bench, get_v2_tasks: $tasks,
             get_v2_queue: $queue}' <<<"$J"
