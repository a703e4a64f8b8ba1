# A real ZooKeeper ensemble for integration tests (after lib.sh): Debian's
# `zookeeper` server (java), one or three servers on free loopback ports, each
# in $T/zk-N with its own data directory and log, stopped by lib.sh's cleanup.
#
#   zk_start N       starts N servers (1 or 3) and waits until they serve;
#                    sets ZK_HOSTS ("127.0.0.1:P1,...") and ZK_PORT[i]
#   zk_kill I        kill -9 server I        zk_restart I  starts it again
#   zk_ok I          whether server I answers "imok"
# ZK_LISTEN (default 127.0.0.1) is the address the servers listen on.

ZK_JAR=/usr/share/java/zookeeper.jar
if ! command -v java >/dev/null || [ ! -f "$ZK_JAR" ]; then
    echo "SKIP: ZooKeeper is not installed (tools/deps installs the zookeeper package)" >&2
    exit 77
fi

declare -A ZK_PORT ZK_PID
ZK_HOSTS=""
ZK_N=0

zk_ok() {
    [ "$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${ZK_PORT[$1]} && printf ruok >&3 && cat <&3" 2>/dev/null)" = imok ]
}

# zk_serving I: the server answers requests (in an ensemble: it has a quorum).
zk_serving() {
    local out
    out=$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/${ZK_PORT[$1]} && printf srvr >&3 && cat <&3" 2>/dev/null) || return 1
    case "$out" in *Mode:*) return 0 ;; *) return 1 ;; esac
}

zk_run() {
    local i=$1 d="$T/zk-$1"
    "${STOPPABLE[@]}" java -Xmx256m -XX:+UseSerialGC -cp "$d:$ZK_JAR" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >>"$d/zk.log" 2>&1 &
    ZK_PID[$i]=$!
    PIDS+=("${ZK_PID[$i]}")
}

zk_start() {
    local n=$1 i
    ZK_N=$n
    declare -A peer elect
    for i in $(seq 1 "$n"); do
        ZK_PORT[$i]=$(free_port)
        peer[$i]=$(free_port)
        elect[$i]=$(free_port)
    done
    ZK_HOSTS=""
    for i in $(seq 1 "$n"); do
        local d="$T/zk-$i"
        mkdir -p "$d/data"
        {
            echo "tickTime=250"
            echo "initLimit=20"
            echo "syncLimit=8"
            echo "dataDir=$d/data"
            echo "clientPort=${ZK_PORT[$i]}"
            echo "clientPortAddress=${ZK_LISTEN:-127.0.0.1}"
            echo "admin.enableServer=false"
            echo "minSessionTimeout=500"
            echo "maxSessionTimeout=60000"
            echo "4lw.commands.whitelist=ruok,srvr,mntr"
            if [ "$n" -gt 1 ]; then
                local j
                for j in $(seq 1 "$n"); do
                    echo "server.$j=127.0.0.1:${peer[$j]}:${elect[$j]}"
                done
            fi
        } >"$d/zoo.cfg"
        echo "$i" >"$d/data/myid"
        cat >"$d/log4j.properties" <<LOG
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$d/zk.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d %p %c{1}: %m%n
LOG
        ZK_HOSTS="${ZK_HOSTS:+$ZK_HOSTS,}127.0.0.1:${ZK_PORT[$i]}"
        zk_run "$i"
    done
    for i in $(seq 1 "$n"); do
        wait_until 60 zk_serving "$i" || fail "ZooKeeper server $i did not start (see $T/zk-$i/zk.log)"
    done
    log "ZooKeeper up: $ZK_HOSTS"
}

zk_kill() {
    kill -KILL "${ZK_PID[$1]}" 2>/dev/null || true
    wait "${ZK_PID[$1]}" 2>/dev/null || true
}

zk_restart() {
    zk_run "$1"
}
