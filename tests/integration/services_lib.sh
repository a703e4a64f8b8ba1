# Helpers for agora-services integration tests; source after lib.sh.
#
#   start_svc_agent NAME [FLAGS...] an agent with a random port range
#   start_services [FLAGS...]     agora-services on a free port ($SVC_PORT), state in $T/services
#   kill9_services / restart_services [FLAGS...]
#   api METHOD PATH [BODY]        prints the body; the status code goes to $T/api.code
#   app_json ID                   GET /v2/apps/ID (.app)
#   wait_app ID RUNNING [SECS]    until ID has RUNNING tasks running and no deployment
#   start_events                  records /v2/events into $T/events.sse
#   event_count TYPE [JQ]         number of recorded events of TYPE (matching JQ)
#   master_running_tasks          running task ids the master knows for our framework
#   svc_credentials               $T/http_credentials.json: principals teama ($TEAMA), ops ($OPS)
#   as WHO METHOD PATH [BODY]     a request as teama, ops or anyone else (anonymous): the code
#   want CODE WHO METHOD PATH [BODY]  ... which must be CODE (a 403 with a "not permitted" message)

SVC_PORT=""
SVC_PID=""
EVENTS_PID=""

declare -A SVC_PORT_BASE

# svc_base_free BASE: no other agent of this test has the range BASE..BASE+99
# and nothing listens in it. All agents of a test share this host's network,
# so two agents with the same range hand out the same ports: a task then fails
# to bind, and its health check may reach the other agent's task.
svc_base_free() {
    local b=$1 n
    for n in "${SVC_PORT_BASE[@]}"; do
        [ "$n" != "$b" ] || return 1
    done
    [ -z "$(ss -Htln "sport >= :$b and sport <= :$((b + 99))" 2>/dev/null)" ]
}

# start_svc_agent NAME [FLAGS...]: like start_agent, with a port range of its
# own in 10000-18999, below the ephemeral ports (tasks bind their ports; other
# tests on this host use 31000-31099).
start_svc_agent() {
    local name=$1 base
    shift
    local port=${AGENT_PORT[$name]:-$(free_port)}
    AGENT_PORT[$name]=$port
    base=${SVC_PORT_BASE[$name]:-}
    if [ -z "$base" ]; then
        base=$((10000 + RANDOM % 90 * 100))
        until svc_base_free "$base"; do
            base=$((10000 + RANDOM % 90 * 100))
        done
    fi
    SVC_PORT_BASE[$name]=$base
    "${STOPPABLE[@]}" "$AGORA_BIN/agora-agent" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 --port="$port" \
        --hostname="$name" --work_dir="$T/agent-$name" \
        --resources="cpus:4;mem:4096;disk:10000;ports:[$base-$((base + 99))]" \
        "$@" >>"$T/agent-$name.log" 2>&1 &
    AGENT_PID[$name]=$!
    PIDS+=("${AGENT_PID[$name]}")
}

start_services() {
    SVC_PORT=${SVC_PORT:-$(free_port)}
    SVC_FLAGS=("$@")
    "$AGORA_BIN/agora-services" --master="127.0.0.1:$MASTER_PORT" --ip=127.0.0.1 \
        --http_port="$SVC_PORT" --hostname=127.0.0.1 --work_dir="$T/services" \
        "$@" >>"$T/services.log" 2>&1 &
    SVC_PID=$!
    PIDS+=("$SVC_PID")
    wait_until 10 curl -sf "http://127.0.0.1:$SVC_PORT/ping" || fail "agora-services did not start"
    wait_until 10 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/info | jq -e '.frameworkId != null'" ||
        fail "agora-services did not subscribe"
}

kill9_services() {
    kill -KILL "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
}

restart_services() {
    kill9_services
    start_services "${SVC_FLAGS[@]}"
}

api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-s -o "$T/api.body" -w '%{http_code}' -X "$method")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    curl "${args[@]}" "http://127.0.0.1:$SVC_PORT$path" >"$T/api.code" || echo 000 >"$T/api.code"
    cat "$T/api.body"
}

api_code() {
    cat "$T/api.code"
}

# expect_code CODE METHOD PATH [BODY]: the request must answer CODE.
expect_code() {
    local want=$1
    shift
    api "$@" >/dev/null
    [ "$(api_code)" = "$want" ] || fail "$1 $2 answered $(api_code), expected $want: $(cat "$T/api.body")"
}

app_json() {
    curl -sf "http://127.0.0.1:$SVC_PORT/v2/apps/${1#/}" | jq -c .app
}

app_is() {
    local id=$1 running=$2
    app_json "$id" | jq -e --argjson n "$running" \
        '.tasksRunning == $n and .tasksStaged == 0 and (.deployments | length) == 0 and
         ([.tasks[] | select(.killing)] | length) == 0' >/dev/null
}

wait_app() {
    local id=$1 running=$2 secs=${3:-30}
    wait_until "$secs" app_is "$id" "$running" ||
        fail "app $id: expected $running running and no deployment; have $(app_json "$id" |
            jq -c '{tasksRunning, tasksStaged, tasksHealthy, deployments}')"
}

app_task_ids() {
    app_json "$1" | jq -r '.tasks[].id' | sort
}

start_events() {
    curl -sN "http://127.0.0.1:$SVC_PORT/v2/events" >"$T/events.sse" 2>/dev/null &
    EVENTS_PID=$!
    PIDS+=("$EVENTS_PID")
    wait_until 20 grep -q event_stream_attached "$T/events.sse" || fail "no event stream"
}

# The recorded events as JSON lines.
events_json() {
    sed -n 's/^data: //p' "$T/events.sse"
}

event_count() {
    local type=$1 filter=${2:-true}
    events_json | jq -c --arg t "$type" "select(.eventType == \$t) | select($filter)" | wc -l
}

framework_id() {
    curl -sf "http://127.0.0.1:$SVC_PORT/v2/info" | jq -r .frameworkId
}

master_running_tasks() {
    master_json /state | jq -r --arg f "$FRAMEWORK_ID" \
        '.frameworks[] | select(.id == $f) | .tasks[] | select(.state == "TASK_RUNNING") | .id' |
        sort
}

# A command serving HTTP on $PORT0 from ./www, healthy while www/health exists
# (busybox httpd, from Debian's busybox-static).
HTTPD_CMD='mkdir -p www && echo ok > www/health && exec busybox httpd -f -p $PORT0 -h www'

# http_check PATH: an HTTP health check on port index 0, checked every second.
http_check() {
    echo "[{\"protocol\": \"HTTP\", \"path\": \"$1\", \"portIndex\": 0, \"delaySeconds\": 0,
        \"intervalSeconds\": 1, \"timeoutSeconds\": 1, \"gracePeriodSeconds\": 3,
        \"maxConsecutiveFailures\": 2}]"
}

# sandbox TASK_ID: the task's sandbox directory on its (local) agent.
sandbox() {
    ls -d "$T"/agent-*/sandboxes/*/"$1" 2>/dev/null | head -1
}

# Whether the agent runs health checks (verdicts reach the framework). Deploys
# a probe app with an HTTP check and waits for a healthy verdict.
health_checks_supported() {
    local ok=1
    command -v busybox >/dev/null || return 1
    api POST /v2/apps "{\"id\": \"/hc-probe\", \"cmd\": \"$HTTPD_CMD\", \"cpus\": 0.01,
        \"mem\": 8, \"healthChecks\": $(http_check /health)}" >/dev/null
    if wait_until 20 sh -c "curl -sf http://127.0.0.1:$SVC_PORT/v2/apps/hc-probe | jq -e '.app.tasksHealthy == 1'"; then
        ok=0
    fi
    api DELETE "/v2/apps/hc-probe?force=true" >/dev/null
    wait_until 20 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$SVC_PORT/v2/apps/hc-probe)\" = 404 ]" ||
        fail "hc-probe not removed"
    return $ok
}

# Sampling agora-services while a deployment runs:
#   poll_start FILE PATH     GETs PATH every 10 ms until poll_stop (returns
#                            once the first sample is in); each sample
#                            is a line "EPOCH<tab>BODY" (the JSON on one line),
#                            or "EPOCH<tab>ERR" when the request failed
#   poll_stop FILE
#   poll_window FILE T0 T1 JQ   JQ of each good sample taken in [T0, T1]
#   poll_stats FILE T0 T1    "N samples, every M ms on average, at most X ms apart, E errors"
#   poll_require FILE T0 T1 MIN  fails unless at least MIN good samples were taken in [T0, T1]
# Times are `date +%s.%N`; a sample's time is when its answer had arrived.
poll_start() {
    local out=$1 path=$2
    rm -f "$out.stop"
    : >"$out"
    python3 - "$SVC_PORT" "$path" "$out" "$$" <<'PY' &
import http.client, json, os, sys, time
port, path, out, parent = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(out, "a", buffering=1) as f:
    while not os.path.exists(out + ".stop"):
        try:
            os.kill(parent, 0)
        except OSError:
            break
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status != 200:
                raise ValueError(r.status)
            line = json.dumps(json.loads(body), separators=(",", ":"))
        except Exception:
            line = "ERR"
        f.write("%.6f\t%s\n" % (time.time(), line))
        time.sleep(0.01)
PY
    POLL_PID=$!
    PIDS+=("$POLL_PID")
    # Started (python's start-up takes a while on a busy machine): the first sample is in.
    wait_until 30 test -s "$out" || fail "the poller of $path took no sample"
}

poll_stop() {
    touch "$1.stop"
    wait "$POLL_PID" 2>/dev/null || true
}

poll_window() {
    awk -F '\t' -v t0="$2" -v t1="$3" '$1 >= t0 && $1 <= t1 && $2 != "ERR" { print $2 }' "$1" | jq -r "$4"
}

poll_stats() {
    awk -F '\t' -v t0="$2" -v t1="$3" '$1 >= t0 && $1 <= t1 {
            if ($2 == "ERR") { err++; next }
            n++; if (n > 1) { d = $1 - last; sum += d; if (d > max) max = d } last = $1 }
        END { avg = (n > 1) ? 1000 * sum / (n - 1) : 0
              printf "%d samples, every %d ms on average, at most %d ms apart, %d errors\n",
                  n, avg, 1000 * max, err }' "$1"
}

poll_require() {
    local n
    n=$(awk -F '\t' -v t0="$2" -v t1="$3" '$1 >= t0 && $1 <= t1 && $2 != "ERR"' "$1" | wc -l)
    [ "$n" -ge "$4" ] || fail "$(basename "$1"): $n good samples in the window, at least $4 needed ($(poll_stats "$1" "$2" "$3"))"
}

svc_credentials() {
    TEAMA=teama-$RANDOM$RANDOM
    OPS=ops-$RANDOM$RANDOM
    cat >"$T/http_credentials.json" <<EOF
{"credentials": [{"principal": "teama", "secret": "$TEAMA"}, {"principal": "ops", "secret": "$OPS"}]}
EOF
    chmod 600 "$T/http_credentials.json"
}

# as WHO METHOD PATH [BODY]: the status code (the body in $T/as.body).
as() {
    local who=$1 method=$2 path=$3 body=${4:-}
    local args=(-s -o "$T/as.body" -w '%{http_code}' -X "$method")
    case $who in
    teama) args+=(-u "teama:$TEAMA") ;;
    ops) args+=(-u "ops:$OPS") ;;
    esac
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "http://127.0.0.1:$SVC_PORT$path" || echo 000
}
want() { # CODE WHO METHOD PATH [BODY]
    local code=$1 got
    shift
    got=$(as "$@")
    [ "$got" = "$code" ] || fail "$1 $2 $3 answered $got, expected $code: $(cat "$T/as.body")"
    if [ "$code" = 403 ]; then
        jq -e '.message | test("not permitted")' "$T/as.body" >/dev/null ||
            fail "$1 $2 $3: 403 without a Marathon-style message: $(cat "$T/as.body")"
    fi
}
