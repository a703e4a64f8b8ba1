#!/usr/bin/env bash
# Limits on HTTP clients and the small HTTP findings, on real daemons:
# - a master started with a soft open files limit of 256 raises it to the hard
#   limit; 400 idle and 200 half-sent connections then neither keep a new
#   authenticated request from being answered within a second nor make the
#   master spin (nng retried accept() without pause on EMFILE: ~85% of a core
#   and every new request timed out before);
# - DNS rebinding: a request addressed to a name outside --http_allowed_hosts
#   gets 421 on the master, an agent and agora-services, and changes nothing;
#   localhost, --hostname, listed names and IP addresses work;
# - /files answers a missing host path and an existing one outside the
#   sandboxes alike (404, same message);
# - agents allow CORS for the master's origin only, with credentials.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

SECRET=s3cret-$RANDOM$RANDOM
cat >"$T/http_credentials.json" <<EOF
{"credentials": [{"principal": "ops", "secret": "$SECRET"}]}
EOF
export CURL_HOME="$T"
printf 'user = "ops:%s"\n' "$SECRET" >"$T/.curlrc"
AUTH=(--http_credentials="$T/http_credentials.json" --authenticate_http_readwrite
    --authenticate_http_readonly)

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 2048 ] || {
    echo "SKIP: the hard open files limit ($hard) is too low for this test"
    exit 77
}
soft=$(ulimit -Sn)
ulimit -Sn 256
start_master "${AUTH[@]}" --hostname=agora-master.test --http_allowed_hosts=agora-master.test,ui.test:8443,localhost
ulimit -Sn "$soft"
grep -q "open files limit raised from 256 to" "$T/master.log" ||
    fail "the master did not raise its open files limit: $(grep -i 'open files' "$T/master.log")"
start_agent a1 "${AUTH[@]}"
wait_agents 1
start_services "${AUTH[@]}"

code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }

# ---- Host allow-list ----
log "Host allow-list"
for url in "http://127.0.0.1:$MASTER_PORT/state" "http://127.0.0.1:${AGENT_PORT[a1]}/state" \
    "http://127.0.0.1:$SVC_PORT/v2/apps"; do
    c=$(code -H "Host: rebound.evil.example" "$url")
    [ "$c" = 421 ] || fail "$url with a rebound Host gave $c"
    grep -q "http_allowed_hosts" "$T/body" || fail "the 421 does not say why: $(cat "$T/body")"
    c=$(code -H "Host: localhost" "$url")
    [ "$c" = 200 ] || fail "$url with Host localhost gave $c"
done
# before authentication: an anonymous rebound request learns nothing else
c=$(curl -q -s -o /dev/null -w '%{http_code}' -H "Host: evil.example" "http://127.0.0.1:$MASTER_PORT/nope")
[ "$c" = 421 ] || fail "an anonymous rebound request gave $c"
# the master's list: --hostname, listed names (ui.test only on 8443), IP addresses
[ "$(code -H "Host: agora-master.test:$MASTER_PORT" "http://127.0.0.1:$MASTER_PORT/state")" = 200 ] ||
    fail "--hostname refused"
[ "$(code -H "Host: ui.test:8443" "http://127.0.0.1:$MASTER_PORT/state")" = 200 ] || fail "ui.test:8443 refused"
[ "$(code -H "Host: ui.test:$MASTER_PORT" "http://127.0.0.1:$MASTER_PORT/state")" = 421 ] ||
    fail "ui.test on another port allowed"
[ "$(code -H "Host: [::1]:$MASTER_PORT" "http://127.0.0.1:$MASTER_PORT/state")" = 200 ] || fail "[::1] refused"
# a rebound page's POST (its Origin matches its Host) changes nothing
weights_before=$(master_json /weights)
c=$(code -X PUT -H "Host: evil.example:$MASTER_PORT" -H "Origin: http://evil.example:$MASTER_PORT" \
    -H 'Content-Type: application/json' -d '[{"role": "web", "weight": 5}]' "http://127.0.0.1:$MASTER_PORT/weights")
[ "$c" = 421 ] || fail "a rebound PUT /weights gave $c"
[ "$(master_json /weights)" = "$weights_before" ] || fail "the rebound PUT /weights changed the weights"

# ---- /files: missing and forbidden alike ----
log "/files"
A="http://127.0.0.1:${AGENT_PORT[a1]}"
for ep in read browse; do
    c1=$(code "$A/files/$ep?path=/etc/passwd")
    b1=$(sed 's#/etc/passwd#P#' "$T/body")
    c2=$(code "$A/files/$ep?path=/etc/no-such-file-$RANDOM")
    b2=$(sed 's#/etc/no-such-file-[0-9]*#P#' "$T/body")
    [ "$c1" = 404 ] && [ "$c2" = 404 ] || fail "/files/$ep gave $c1 (outside) and $c2 (missing)"
    [ "$b1" = "$b2" ] || fail "/files/$ep tells them apart: '$b1' vs '$b2'"
done

# ---- CORS on the agent ----
log "CORS"
curl -s -D "$T/h" -o /dev/null -H "Origin: http://127.0.0.1:$MASTER_PORT" "$A/state"
grep -qi "^Access-Control-Allow-Origin: http://127.0.0.1:$MASTER_PORT" "$T/h" || fail "no CORS for the master"
grep -qi '^Access-Control-Allow-Credentials: true' "$T/h" || fail "no credentials allowed for the master"
curl -s -D "$T/h" -o /dev/null -H "Origin: http://evil.example" "$A/state"
! grep -qi '^Access-Control-Allow-Origin' "$T/h" || fail "CORS allowed for another site"

# ---- idle and half-sent connections ----
log "600 idle and half-sent connections on the master"
python3 - "$MASTER_PORT" "$T/held" <<'EOF' &
import socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
held = []
for i in range(600):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if i % 3 == 0:
        s.send(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor")
    held.append(s)
open(flag, "w").write(str(len(held)))
time.sleep(30)
EOF
HOLDER=$!
PIDS+=("$HOLDER")
wait_until 20 test -s "$T/held" || fail "could not open 600 connections"
sleep 0.5
ticks() { awk '{print $14 + $15}' "/proc/$MASTER_PID/stat"; }
t0=$(ticks)
for i in 1 2 3; do
    c=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MASTER_PORT/state")
    [ "$c" = 200 ] || fail "with 600 connections held, an authenticated /state gave '$c' (not within 1 s)"
    sleep 1
done
t1=$(ticks)
hz=$(getconf CLK_TCK)
pct=$(( (t1 - t0) * 100 / hz / 3 ))
log "master CPU with 600 connections held: ${pct}% over 3 s"
[ "$pct" -lt 20 ] || fail "the master spins with 600 connections held: ${pct}% of a core"
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MASTER_PORT/state")" = 200 ] ||
    fail "the master does not answer once the connections are gone"
log "PASS"
