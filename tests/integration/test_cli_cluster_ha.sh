#!/usr/bin/env bash
# `agora cluster up --ha`: a 3-server ZooKeeper ensemble (java), three masters
# electing a leader in it, two agents following the leader and two
# agora-services (one leads), all from one directory on free ports. status
# shows the ensemble's modes, one leading master and two standbys, one leading
# agora-services; the CLI follows zk://; an app is deployed through the
# standby agora-services; after a kill -9 of the leading master another leads
# within a few seconds with both agents active on it and the app's task still
# running; the next up restarts only the killed master; down stops every
# process of the directory (executors and the java servers included).
# Skipped without java and ZooKeeper.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cli_lib.sh"

if ! command -v java >/dev/null || [ ! -f /usr/share/java/zookeeper.jar ]; then
    echo "SKIP: ZooKeeper is not installed (tools/deps installs the zookeeper package)" >&2
    exit 77
fi
cluster_bin
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The ports of cluster_ha.h and agora_cluster.c: masters PORT..PORT+2, agents
# PORT+3..PORT+4, ZooKeeper PORT+100.., PORT+110.., PORT+120..; services SVC, SVC+1.
while :; do
    CL_PORT=$(free_port)
    CL_SVC=$(free_port)
    [ "$CL_PORT" -lt 65000 ] || continue
    [ "$CL_SVC" -gt $((CL_PORT + 130)) ] || [ $((CL_SVC + 1)) -lt "$CL_PORT" ] || continue
    ports_free $(seq "$CL_PORT" $((CL_PORT + 4))) $(seq $((CL_PORT + 100)) $((CL_PORT + 102))) \
        $(seq $((CL_PORT + 110)) $((CL_PORT + 112))) $(seq $((CL_PORT + 120)) $((CL_PORT + 122))) \
        "$CL_SVC" $((CL_SVC + 1)) && break
done

# Without java: a clear error, nothing started.
expect_rc 1 env PATH=/nonexistent "$CL" cluster up --ha --dir="$T/nojava" --port="$CL_PORT"
grep -q "install them with tools/deps" "$T/err" || fail "no java: $(cat "$T/err")"

start=$(date +%s)
expect_rc 0 "$CL" cluster up --ha --dir="$CL_DIR" --port="$CL_PORT" --services_port="$CL_SVC" \
    --agents=2 --timeout=40secs
log "up --ha took $(($(date +%s) - start)) s"
[ "$(grep -c "(leading;" "$T/out")" = 1 ] || fail "up marks no single leader: $(cat "$T/out")"
[ "$(grep -c "(standby;" "$T/out")" = 3 ] || fail "up: 2 standby masters + 1 services: $(cat "$T/out")"
grep -q "AGORA_MASTER=zk://127.0.0.1:$((CL_PORT + 100)),127.0.0.1:$((CL_PORT + 101)),127.0.0.1:$((CL_PORT + 102))/agora" \
    "$T/out" || fail "up: no zk:// master to export: $(cat "$T/out")"
jq -e '.ha == true' "$CL_DIR/cluster.json" >/dev/null || fail "cluster.json: $(cat "$CL_DIR/cluster.json")"

expect_rc 0 "$CL" cluster status --dir="$CL_DIR"
head -1 "$T/out" | grep -q "ROLE" || fail "status has no ROLE column: $(cat "$T/out")"
[ "$(grep -c " running  *healthy " "$T/out")" = 10 ] || fail "status: $(cat "$T/out")"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR" --json
cp "$T/out" "$T/status.json"
roles() { jq -r --arg k "$1" '[.[] | select(.name | test("^" + $k + "[0-9]")) | .role] | sort | join(",")' "$T/status.json"; }
[ "$(roles zk)" = "follower,follower,leader" ] || fail "zk roles: $(roles zk)"
[ "$(roles master)" = "leading,standby,standby" ] || fail "master roles: $(roles master)"
[ "$(roles services)" = "leader,standby" ] || fail "services roles: $(roles services)"
jq -e 'all(.healthy)' "$T/status.json" >/dev/null || fail "unhealthy: $(cat "$T/status.json")"

# The CLI follows the group in ZooKeeper.
export AGORA_MASTER="zk://127.0.0.1:$((CL_PORT + 100)),127.0.0.1:$((CL_PORT + 101)),127.0.0.1:$((CL_PORT + 102))/agora"
expect_rc 0 "$CL" agents --json
[ "$(jq 'length' "$T/out")" = 2 ] || fail "agents through zk://: $(cat "$T/out")"
# An app deployed through the standby agora-services (it proxies to the leader).
echo '{"id": "/sleeper", "cmd": "exec sleep 1000", "instances": 1, "cpus": 0.1, "mem": 16}' >"$T/sleeper.json"
expect_rc 0 "$CL" app deploy "$T/sleeper.json" --services="127.0.0.1:$((CL_SVC + 1))"

# kill -9 of the leading master: another leads, the agents follow it.
old=$(jq -r '.[] | select(.role == "leading") | .name' "$T/status.json")
kill -KILL "$(cat "$CL_DIR/$old.pid")"
t0=$(now_ms)
new_leader() {
    "$CL" cluster status --dir="$CL_DIR" --json >"$T/st.json" 2>/dev/null
    jq -e --arg o "$old" '([.[] | select(.role == "leading" and .name != $o)] | length == 1) and
        ([.[] | select(.name | test("^agent")) | select(.healthy)] | length == 2)' "$T/st.json" >/dev/null
}
wait_until 8 new_leader || fail "no new leader with both agents within 8 s: $(cat "$T/st.json")"
log "failover: $(jq -r '.[] | select(.role == "leading") | .name' "$T/st.json") leads after $(($(now_ms) - t0)) ms"
jq -e --arg o "$old" '.[] | select(.name == $o) | .running == false' "$T/st.json" >/dev/null || fail "$old still shown running"
expect_rc 1 "$CL" cluster status --dir="$CL_DIR"
grep -q "^$old  *-  *stopped" "$T/out" || fail "status after kill: $(cat "$T/out")"
wait_until 10 sh -c "curl -sf http://127.0.0.1:$CL_SVC/v2/apps/sleeper | jq -e '.app.tasksRunning == 1'" ||
    fail "the app's task after the failover: $(curl -s "http://127.0.0.1:$CL_SVC/v2/apps/sleeper")"

# up restarts only the killed master.
expect_rc 0 "$CL" cluster up --dir="$CL_DIR"
grep -q "^$old  *started" "$T/out" || fail "up after kill: $(cat "$T/out")"
[ "$(grep -c " running (pid" "$T/out")" = 9 ] || fail "up after kill restarted more: $(cat "$T/out")"
expect_rc 0 "$CL" cluster status --dir="$CL_DIR" --json
[ "$(jq '[.[] | select(.role == "leading")] | length' "$T/out")" = 1 ] || fail "leaders: $(cat "$T/out")"

# down stops everything, ZooKeeper too.
expect_rc 0 "$CL" cluster down --dir="$CL_DIR"
grep -q "^zk1  *stopped" "$T/out" || fail "down: $(cat "$T/out")"
left=""
for f in /proc/[0-9]*/cmdline; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    case "$cmd" in *"$CL_DIR/"*) left="$left $(basename "$(dirname "$f")"): $cmd;" ;; esac
done
[ -z "$left" ] || fail "processes of $CL_DIR left after down:$left"
expect_rc 0 "$CL" cluster down --dir="$CL_DIR" --purge
[ ! -e "$CL_DIR" ] || fail "--purge left $CL_DIR"
log "ok"
