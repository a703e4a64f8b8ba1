# High-availability clusters for integration tests (after lib.sh and zk.sh):
# masters elected through the ZooKeeper of zk_start.
#
#   start_ha_master NAME [FLAGS...]  a master in the group $ZK (zk://$ZK_HOSTS/agora)
#   leader                           prints the NAME of the master that leads now
#   wait_leader SECONDS [NOT]        waits for a leader (other than NOT); prints it
#   use_leader NAME                  points master_json (MASTER_PORT) at NAME

declare -A MP MPID

start_ha_master() {
    local n=$1
    shift
    MP[$n]=${MP[$n]:-$(free_port)}
    "${STOPPABLE[@]}" "$AGORA_BIN/agora-master" --ip=127.0.0.1 --port="${MP[$n]}" \
        --work_dir="$T/$n" --zk="$ZK" "$@" >>"$T/$n.log" 2>&1 &
    MPID[$n]=$!
    PIDS+=("${MPID[$n]}")
    wait_until 10 curl -sf "http://127.0.0.1:${MP[$n]}/health" || fail "master $n did not start"
}

leader() {
    local n
    for n in "${!MP[@]}"; do
        if curl -sf -m 1 "http://127.0.0.1:${MP[$n]}/state" 2>/dev/null | jq -e '.elected == true' >/dev/null 2>&1; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

wait_leader() {
    local secs=$1 not=${2:-} end l
    end=$(($(date +%s%N) / 1000000 + secs * 1000))
    while [ $(($(date +%s%N) / 1000000)) -lt "$end" ]; do
        l=$(leader || true)
        if [ -n "$l" ] && [ "$l" != "$not" ]; then
            echo "$l"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

use_leader() {
    MASTER_PORT=${MP[$1]}
}

# now_ms: wall clock in milliseconds.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}
