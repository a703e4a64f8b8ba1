#!/usr/bin/env bash
# The master, the agent and agora-services serve their metrics the same way
# (common/metrics): /metrics/snapshot (JSON) and /metrics or
# /metrics?format=prometheus (Prometheus text) carry the same names with the
# same values, counters typed counter; each daemon's launch counter has seen
# the one task launched.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services_lib.sh"

start_master
start_svc_agent a1
wait_agents 1
start_services
expect_code 201 POST /v2/apps '{"id": "/m", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}'
wait_app /m 1

# compare NAME JSON_URL PROM_URL LAUNCH_COUNTER: Prometheus text, JSON, then
# Prometheus again; every JSON figure lies between the two Prometheus samples
# of its name (figures only grow or stay while nothing happens) and every
# Prometheus sample has its JSON key.
compare() {
    local name=$1 json=$2 prom=$3 launched=$4
    curl -sf -D "$T/$name.h" -o "$T/$name.p1" "$prom" || fail "$name: GET $prom"
    curl -sf -o "$T/$name.json" "$json" || fail "$name: GET $json"
    curl -sf -o "$T/$name.p2" "$prom" || fail "$name: GET $prom"
    grep -qi '^content-type: text/plain' "$T/$name.h" || fail "$name: $prom is not text/plain"
    python3 - "$name" "$T/$name.json" "$T/$name.p1" "$T/$name.p2" "$launched" <<'PY' || fail "$name: the two formats differ"
import json, re, sys
name, jpath, p1, p2, launched = sys.argv[1:]
def prom(path):
    samples, types = {}, {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _, _, n, t = line.split(" ")
            types[n] = t
        elif line:
            k, v = line.rsplit(" ", 1)
            samples[k] = float(v)
    return samples, types
s1, types = prom(p1)
s2, _ = prom(p2)
j = json.load(open(jpath))
def pname(k):
    return "agora_" + re.sub(r"[^A-Za-z0-9_]", "_", k)
bad, seen = [], set()
for k, v in j.items():
    if v is None:
        continue
    p = pname(k)
    m = re.match(r"(.*)/(p50|p90|p99|min|max)$", k)
    if p not in s1 and m and types.get(pname(m.group(1))) == "summary":
        q = {"p50": "0.5", "p90": "0.9", "p99": "0.99"}.get(m.group(2))
        if q is None:
            continue  # a summary has no min or max
        p = '%s{quantile="%s"}' % (pname(m.group(1)), q)
    elif p not in s1 and types.get(p) == "summary":
        continue  # a timer's last sample: no Prometheus counterpart
    if p not in s1 or p not in s2:
        bad.append("%s (%s) is not in the Prometheus text" % (k, p))
        continue
    seen.add(p)
    lo, hi = min(s1[p], s2[p]), max(s1[p], s2[p])
    if not lo - 1e-9 <= float(v) <= hi + 1e-9:
        bad.append("%s: JSON %s, Prometheus %s then %s" % (k, v, s1[p], s2[p]))
    if isinstance(v, int) and types.get(p) not in ("counter", "summary", "gauge"):
        bad.append("%s: no TYPE line" % p)
for p in s1:
    if p not in seen and not re.search(r'(\{quantile=|_sum$|_count$)', p) and types.get(p) != "summary":
        bad.append("%s is in the Prometheus text only" % p)
if types.get(pname(launched)) != "counter":
    bad.append("%s is not typed counter" % launched)
if not j.get(launched, 0) >= 1:
    bad.append("%s is %r, expected >= 1" % (launched, j.get(launched)))
if len(j) < 10:
    bad.append("only %d figures" % len(j))
for b in bad:
    print(name + ": " + b, file=sys.stderr)
print("%s: %d figures, %d Prometheus samples" % (name, len(j), len(s1)), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

compare master "http://127.0.0.1:$MASTER_PORT/metrics/snapshot" "http://127.0.0.1:$MASTER_PORT/metrics" \
    master/tasks_launched
compare agent "http://127.0.0.1:${AGENT_PORT[a1]}/metrics/snapshot" "http://127.0.0.1:${AGENT_PORT[a1]}/metrics" \
    slave/tasks_launched
compare services "http://127.0.0.1:$SVC_PORT/metrics/snapshot" "http://127.0.0.1:$SVC_PORT/metrics?format=prometheus" \
    services/tasks_launched
# The same switch everywhere: ?format= overrides each endpoint's default.
curl -sf "http://127.0.0.1:${AGENT_PORT[a1]}/metrics?format=json" | jq -e '."slave/tasks_launched" >= 1' >/dev/null ||
    fail "agent /metrics?format=json is not JSON"
curl -sf "http://127.0.0.1:$MASTER_PORT/metrics/snapshot?format=prometheus" | grep -q '^# TYPE agora_master_tasks_launched counter$' ||
    fail "master /metrics/snapshot?format=prometheus is not Prometheus text"
[ "$(curl -sf "http://127.0.0.1:$SVC_PORT/metrics" | jq -r '."services/tasks_launched"')" -ge 1 ] ||
    fail "agora-services /metrics is no longer JSON"
log "ok"
