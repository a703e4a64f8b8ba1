# Helpers for tests of the agora CLI; source after lib.sh.
#
#   expect_rc RC CMD...   runs CMD (stdout in $T/out, stderr in $T/err), fails unless it exits RC
#   cluster_bin           $CL_BIN: a copy of agora with the real daemons linked beside it
#   cluster_ports         free $CL_PORT (master; agents on the next ports) and $CL_SVC
# A local cluster started in $CL_DIR is stopped at exit.

AG="$AGORA_BIN/agora"
[ -x "$AG" ] || fail "no $AG"
CL_DIR="$T/cluster"
CL_BIN="$T/bin"
CL="$CL_BIN/agora"

cluster_cleanup() {
    if [ -x "$CL" ] && [ -f "$CL_DIR/cluster.json" ]; then
        "$CL" cluster down --dir="$CL_DIR" --grace=2secs >/dev/null 2>&1 || true
    fi
    for f in "$CL_DIR"/*.pid; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
}
trap 'rc=$?; set +e; [ "$BASHPID" = "$$" ] && cluster_cleanup; (exit $rc); cleanup' EXIT

expect_rc() {
    local want=$1 got=0
    shift
    "$@" >"$T/out" 2>"$T/err" || got=$?
    if [ "$got" != "$want" ]; then
        log "stdout: $(cat "$T/out")"
        log "stderr: $(cat "$T/err")"
        fail "'$*' exited $got, expected $want"
    fi
}

# agora finds the daemons beside its own binary: a bin directory with a copy
# of agora and the build's daemons linked in.
cluster_bin() {
    local b
    mkdir -p "$CL_BIN"
    cp "$AG" "$CL"
    for b in agora-master agora-agent agora-executor agora-services; do
        [ -x "$AGORA_BIN/$b" ] || fail "no $AGORA_BIN/$b"
        ln -s "$AGORA_BIN/$b" "$CL_BIN/$b"
    done
}

ports_free() {
    local p
    for p in "$@"; do
        if (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            return 1
        fi
    done
}

# Ports for a cluster of 2 agents: the master's, the 2 after it, and agora-services'.
cluster_ports() {
    while :; do
        CL_PORT=$(free_port)
        CL_SVC=$(free_port)
        ports_free "$CL_PORT" $((CL_PORT + 1)) $((CL_PORT + 2)) "$CL_SVC" &&
            [ "$CL_SVC" -gt $((CL_PORT + 2)) -o "$CL_SVC" -lt "$CL_PORT" ] && break
    done
}
