# A throwaway PostgreSQL server for tests: initdb in a new directory under
# /tmp, a server on a free port of 127.0.0.1 (fsync on, password
# authentication over TCP), one database "agora" owned by the superuser
# "agora" with a random password. PostgreSQL refuses to run as root: as root
# the server runs as the "postgres" user (or "nobody"), the directory owned by
# it; otherwise as the caller. The server syncs its writes (fsync on); only
# initdb's files are not synced (--no-sync) and the stop is immediate: the
# data is thrown away with the directory.
#
# Sourced (lib.sh sources it for every integration test):
#   pg_start        starts one; sets PG_DIR, PG_PORT, PG_PASSWORD, PG_URI
#                   (postgresql://agora:PASSWORD@127.0.0.1:PORT/agora) and
#                   PG_URI_NOPW (the same without the password). Returns 77,
#                   with the reason on stderr, when no server can be had.
#   pg_stop         stops it and removes its directory (safe to call twice).
#   pg_psql SQL...  runs psql as the superuser on the database.
# Executed (the C helper, tests/unit/pg_fixture.h):
#   bash pg.sh start     prints "DIR URI" on one line; exit 77 to skip
#   bash pg.sh stop DIR

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

# The user the server runs as (empty: the caller).
pg_user() {
    if [ "$(id -u)" -ne 0 ]; then
        return 0
    fi
    if id postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
}

# pg_as CMD...: CMD as the server's user.
pg_as() {
    local u
    u=$(pg_user)
    if [ -z "$u" ]; then
        "$@"
    else
        setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"
    fi
}

# A free TCP port on 127.0.0.1: 20000-30999, below the kernel's ephemeral
# ports (32768 and up: an outgoing connection's local port is not seen by the
# check below, and binding it fails) and clear of the tasks' port ranges
# (10000-18999 in services tests, 31000-32999 elsewhere). lib.sh's tests use it
# too.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 11000))
        if ! (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

pg_start() {
    local bin u
    if ! bin=$(pg_bin); then
        echo "SKIP: no PostgreSQL server binaries under /usr/lib/postgresql (tools/deps installs them)" >&2
        return 77
    fi
    if [ "$(id -u)" -eq 0 ] && ! command -v setpriv >/dev/null; then
        echo "SKIP: running as root without setpriv to start PostgreSQL as another user" >&2
        return 77
    fi
    u=$(pg_user)
    PG_DIR=$(mktemp -d /tmp/agora-pg.XXXXXX)
    PG_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 20)
    printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pw"
    if [ -n "$u" ]; then
        chown -R "$u" "$PG_DIR"
    fi
    chmod 700 "$PG_DIR"
    if ! pg_as "$bin/initdb" -D "$PG_DIR/data" -U agora --pwfile="$PG_DIR/pw" -E UTF8 \
        --auth-host=scram-sha-256 --auth-local=trust --no-instructions --no-sync >"$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        echo "pg.sh: initdb failed" >&2
        return 1
    fi
    rm -f "$PG_DIR/pw"
    local tries
    for tries in 1 2 3; do
        PG_PORT=$(free_port)
        if pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on" start >/dev/null; then
            break
        fi
        PG_PORT=""
    done
    if [ -z "$PG_PORT" ]; then
        cat "$PG_DIR/server.log" >&2
        echo "pg.sh: the server did not start" >&2
        return 1
    fi
    if ! pg_as "$bin/createdb" -h "$PG_DIR" -p "$PG_PORT" -U agora agora; then
        echo "pg.sh: createdb failed" >&2
        return 1
    fi
    PG_URI="postgresql://agora:$PG_PASSWORD@127.0.0.1:$PG_PORT/agora"
    PG_URI_NOPW="postgresql://agora@127.0.0.1:$PG_PORT/agora"
    return 0
}

pg_psql() {
    pg_as "$(pg_bin)/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U agora \
        -d agora -c "$*"
}

pg_stop() {
    local dir=${1:-${PG_DIR:-}}
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    case $dir in /tmp/agora-pg.*) ;; *) echo "pg.sh: not a test server: $dir" >&2; return 1 ;; esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        pg_as "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    case ${1:-} in
    start)
        pg_start >&2 || exit $?
        echo "$PG_DIR $PG_URI"
        ;;
    stop) pg_stop "${2:-}" ;;
    *)
        echo "usage: pg.sh start | stop DIR" >&2
        exit 2
        ;;
    esac
fi
