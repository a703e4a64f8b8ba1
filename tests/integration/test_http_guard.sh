#!/usr/bin/env bash
# Request and idle timeouts and the cap on HTTP connections (--http_request_timeout,
# --http_idle_timeout, --http_max_connections) on a real master, agent and
# agora-services:
# - a connection that sends nothing, half a request, or a request one header
#   at a time is closed after the request timeout (not before);
# - a keep-alive connection outlives the request timeout once answered and is
#   closed after the idle timeout;
# - beyond the cap the newest connections are closed, the older ones kept;
# - the agent's and the framework's links on the master's port, and an
#   agora-services event stream, are never cut.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

GUARD=(--http_request_timeout=2secs --http_idle_timeout=4secs)
start_master "${GUARD[@]}" --http_max_connections=40
start_agent a1 "${GUARD[@]}"
wait_agents 1
start_scheduler fw
expect_event 15 '.event == "subscribed"' "framework subscribed" >/dev/null

# agora-services: an idle timeout under its event stream's keep-alive is refused.
if "$AGORA_BIN/agora-services" --master="127.0.0.1:$MASTER_PORT" --work_dir="$T/bad-svc" \
    --http_port=0 --http_idle_timeout=5secs >"$T/bad-svc.log" 2>&1; then
    fail "agora-services started with --http_idle_timeout=5secs"
fi
grep -q "http_idle_timeout must be 0 (none) or at least 30secs" "$T/bad-svc.log" ||
    fail "no reason given: $(cat "$T/bad-svc.log")"
start_services --http_request_timeout=2secs
wait_until 20 curl -sf "http://127.0.0.1:$SVC_PORT/ping" || fail "agora-services did not start"

# An event stream stays open past the request timeout (the server spoke last).
(
    rc=0
    curl -s -N -m 7 -o "$T/events" "http://127.0.0.1:$SVC_PORT/v2/events" || rc=$?
    echo "$rc" >"$T/events.rc"
) &
EVENTS=$!

probe() { # PORT IDLE(yes|no) PATH: prints one line per case, fails on the first wrong one
    python3 - "$1" "$2" "$3" <<'EOF'
import socket, sys, time
port, idle = int(sys.argv[1]), sys.argv[2] == "yes"
REQ = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sys.argv[3].encode()

def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=10)

def closed_after(s, t0):
    """Seconds from t0 until the server closes s (reading what it sent)."""
    s.settimeout(10)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return time.time() - t0

def check(name, secs, lo, hi):
    print(f"{name}: closed after {secs:.2f} s (expected {lo}-{hi} s)", flush=True)
    if not lo <= secs <= hi:
        sys.exit(f"{name}: closed after {secs:.2f} s, expected {lo}-{hi} s")

t0 = time.time(); s = conn()
check("nothing sent", closed_after(s, t0), 1.8, 4.0)
t0 = time.time(); s = conn(); s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
check("half a request", closed_after(s, t0), 1.8, 4.0)
t0 = time.time(); s = conn(); s.sendall(b"GET /health HTTP/1.1\r\n")
sent = 0
try:
    while time.time() - t0 < 8:
        s.sendall(b"X-Slow: %d\r\n" % sent)
        sent += 1
        time.sleep(0.3)
except OSError:
    pass
check(f"one header every 0.3 s ({sent} sent)", time.time() - t0, 1.8, 4.5)
if sent < 6:
    sys.exit(f"only {sent} headers sent before the close")
# Keep-alive: answered, then quiet past the request timeout, then answered again.
s = conn(); s.sendall(REQ)
if not s.recv(4096).startswith(b"HTTP/1.1 200"):
    sys.exit("no answer on a keep-alive connection")
time.sleep(3)
s.sendall(REQ)
if not s.recv(4096).startswith(b"HTTP/1.1 200"):
    sys.exit("a keep-alive connection quiet for 3 s (request timeout 2 s) was closed")
print("keep-alive: answered again after 3 s quiet", flush=True)
if idle:
    t0 = time.time()
    check("idle keep-alive", closed_after(s, t0), 3.8, 6.0)
EOF
}

for d in "master $MASTER_PORT yes /health" "agent ${AGENT_PORT[a1]} yes /health" \
    "agora-services $SVC_PORT no /ping"; do
    set -- $d
    log "$1: request and idle timeouts"
    probe "$2" "$3" "$4" >"$T/probe-$1.out" 2>&1 || fail "$1: $(cat "$T/probe-$1.out")"
    sed "s/^/    /" "$T/probe-$1.out" >&2
done

log "master: the cap of 40 connections"
python3 - "$MASTER_PORT" <<'EOF' >"$T/cap.out" 2>&1 || fail "cap: $(cat "$T/cap.out")"
import socket, sys, time
port = int(sys.argv[1])
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=5)
def is_open(s):
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
# The older ones send a request and get their answer: only the idle timeout (4 s)
# applies to them then, not the request timeout (2 s), so the check below has
# seconds to spare however slow this machine is.
old = [conn() for _ in range(40)]
for s in old:
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
for s in old:
    if not s.recv(4096).startswith(b"HTTP/1.1 200"):
        sys.exit("no answer on an older connection")
time.sleep(0.8)
t_new = time.time()
new = [conn() for _ in range(20)]
time.sleep(0.8)
o, n = sum(map(is_open, old)), sum(map(is_open, new))
if time.time() - t_new > 1.9:
    sys.exit("the check came %.1f s after the newer connections (the request timeout is 2 s): too late to tell the cap from it" % (time.time() - t_new))
print(f"older open {o}/40, newer open {n}/20")
if o != 40 or n != 0:
    sys.exit(f"expected the 40 older kept and the 20 newer closed: {o}, {n}")
EOF
cat "$T/cap.out" >&2
grep -q "HTTP connections closed port=$MASTER_PORT .*over_cap=20" "$T/master.log" ||
    fail "the master did not log the connections over the cap"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MASTER_PORT/state")" = 200 ] ||
    fail "no answer after the cap"

# The links were quiet for far longer than the idle timeout between pings, and stayed.
wait "$EVENTS" || true
# curl's 28: its own 7 s limit ended the stream, not the server
[ "$(cat "$T/events.rc")" = 28 ] || fail "the event stream ended early (curl exit $(cat "$T/events.rc"))"
if grep -q "disconnected from the master" "$T/agent-a1.log"; then
    fail "the agent's link to the master was cut: $(grep -i disconnect "$T/agent-a1.log")"
fi
if grep -q '"disconnected"' "$T/sched-fw.events"; then
    fail "the framework's link to the master was cut"
fi
master_json /agents | jq -e '.agents[0].active' >/dev/null || fail "the agent is not active"
log "agent and framework links kept; the event stream open for 7 s"
log "PASS"
