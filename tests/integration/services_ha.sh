# agora-services in high availability (after lib.sh, zk.sh and services_lib.sh):
# instances elected through the ZooKeeper of zk_start, state in ZooKeeper.
#
#   start_svc_ha NAME [FLAGS...]  an instance with --zk=$SVC_ZK on its own port SP[NAME]
#   svc_use NAME                  points services_lib's helpers (SVC_PORT) at NAME
#   svc_leader_of NAME            what NAME's GET /v2/leader names ("" if none)
#   svc_leader                    the NAME of the instance that leads, when every
#                                 live instance names the same one (else fails);
#                                 instances named in $SVC_SKIP (frozen ones) are left out
#   wait_svc_leader SECS [NOT]    waits for one (other than NOT) and prints it
#   kill9_svc NAME
#   zk_ls PATH                    the children of a znode, one a line, sorted (zkCli.sh)
#   svc_ha_cluster [FLAGS...]     a ZooKeeper, a master, an agent a1 and the instances
#                                 s1 and s2 (with FLAGS); sets LEADER and OTHER once one leads

declare -A SP SPID
SVC_ZK=""

start_svc_ha() {
    local n=$1
    shift
    SP[$n]=${SP[$n]:-$(free_port)}
    "$AGORA_BIN/agora-services" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 \
        --http_port="${SP[$n]}" --hostname=127.0.0.1 --work_dir="$T/svc-$n" \
        --zk="$SVC_ZK" --zk_session_timeout=2secs "$@" >>"$T/svc-$n.log" 2>&1 &
    SPID[$n]=$!
    PIDS+=("${SPID[$n]}")
    wait_until 10 curl -sf "http://127.0.0.1:${SP[$n]}/ping" || fail "agora-services $n did not start"
}

svc_use() {
    SVC_PORT=${SP[$1]}
}

svc_leader_of() {
    curl -sf -m 2 "http://127.0.0.1:${SP[$1]}/v2/leader" 2>/dev/null | jq -r '.leader // empty' || true
}

svc_alive() {
    kill -0 "${SPID[$1]}" 2>/dev/null
}

svc_leader() {
    local n l="" x name=""
    for n in "${!SP[@]}"; do
        svc_alive "$n" || continue
        case " ${SVC_SKIP:-} " in *" $n "*) continue ;; esac
        x=$(svc_leader_of "$n")
        [ -n "$x" ] || return 1
        [ -z "$l" ] || [ "$x" = "$l" ] || return 1
        l=$x
    done
    for n in "${!SP[@]}"; do
        if [ "127.0.0.1:${SP[$n]}" = "$l" ] && svc_alive "$n" && [[ " ${SVC_SKIP:-} " != *" $n "* ]]; then
            name=$n
        fi
    done
    [ -n "$name" ] || return 1
    # It leads indeed: its own API is served (a framework id), not proxied.
    curl -sf -m 2 "http://127.0.0.1:${SP[$name]}/v2/info" | jq -e '.frameworkId != null' >/dev/null || return 1
    echo "$name"
}

wait_svc_leader() {
    local secs=$1 not=${2:-} end l
    end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        l=$(svc_leader || true)
        if [ -n "$l" ] && [ "$l" != "$not" ]; then
            echo "$l"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

kill9_svc() {
    kill -KILL "${SPID[$1]}" 2>/dev/null || true
    wait "${SPID[$1]}" 2>/dev/null || true
}

# The active frameworks named agora-services the master knows.
svc_frameworks() {
    master_json /frameworks | jq -r '[.frameworks[] | select(.name == "agora-services" and .active)] | length'
}

svc_ha_cluster() {
    zk_start 1
    SVC_ZK="zk://$ZK_HOSTS/agora-services"
    start_master
    start_svc_agent a1
    wait_agents 1
    start_svc_ha s1 "$@"
    start_svc_ha s2 "$@"
    LEADER=$(wait_svc_leader 30) ||
        fail "no agora-services instance leads: s1 says '$(svc_leader_of s1)', s2 '$(svc_leader_of s2)'"
    OTHER=$([ "$LEADER" = s1 ] && echo s2 || echo s1)
    log "leader: $LEADER, proxying: $OTHER"
}

zk_ls() {
    /usr/share/zookeeper/bin/zkCli.sh -server "$ZK_HOSTS" ls "$1" 2>/dev/null | tail -1 |
        sed -n 's/^\[\(.*\)\]$/\1/p' | tr ',' '\n' | sed 's/^ *//' | sed '/^$/d' | sort
}
