# The web UIs in a real browser: the master's dashboard and agora-services'
# app view against a live cluster (master, two agents, agora-services with an
# app of two instances), driven by tests/browser/dashboard.mjs in headless
# Debian chromium through playwright-core: agents and running tasks shown,
# agent and task pages (sandbox stdout read from the agent), the app scaled
# with its button and the count seen to change, the accounting report's
# HTML charts drawn. Screenshots are kept in $AGORA_TESTS/artifacts/dashboard.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/services_lib.sh"

artifacts=${AGORA_TESTS:-$T}/artifacts/dashboard
rm -rf "$artifacts"

start_master
start_svc_agent web1
start_svc_agent web2
wait_until 10 sh -c "curl -sf http://127.0.0.1:$MASTER_PORT/state | jq -e '.activated_slaves == 2'" ||
    fail "agents did not register"
start_services
FRAMEWORK_ID=$(framework_id)

# The UIs are served by the daemons themselves, with the right types; agents
# let the dashboard (another origin) read their endpoints.
ctype() { curl -s -o /dev/null -w '%{http_code} %{content_type}' "$1"; }
[ "$(ctype "http://127.0.0.1:$MASTER_PORT/")" = "200 text/html; charset=utf-8" ] ||
    fail "master / answered $(ctype "http://127.0.0.1:$MASTER_PORT/")"
[ "$(ctype "http://127.0.0.1:$MASTER_PORT/static/master.js")" = "200 text/javascript; charset=utf-8" ] ||
    fail "master /static/master.js answered $(ctype "http://127.0.0.1:$MASTER_PORT/static/master.js")"
[ "$(ctype "http://127.0.0.1:$SVC_PORT/")" = "200 text/html; charset=utf-8" ] ||
    fail "agora-services / answered $(ctype "http://127.0.0.1:$SVC_PORT/")"
[ "$(ctype "http://127.0.0.1:$SVC_PORT/static/agora.css")" = "200 text/css; charset=utf-8" ] ||
    fail "agora-services /static/agora.css answered $(ctype "http://127.0.0.1:$SVC_PORT/static/agora.css")"
[ "$(ctype "http://127.0.0.1:$MASTER_PORT/static/nope.js")" = "404 application/json" ] ||
    fail "an unknown asset answered $(ctype "http://127.0.0.1:$MASTER_PORT/static/nope.js")"
# Agents let the master's dashboard (its origin) read them with credentials,
# and no other page.
curl -s -D - -o /dev/null -H "Origin: http://localhost:$MASTER_PORT" \
    "http://127.0.0.1:${AGENT_PORT[web1]}/state" | tr -d '\r' >"$T/cors.h"
grep -qix "Access-Control-Allow-Origin: http://localhost:$MASTER_PORT" "$T/cors.h" ||
    fail "the agent's /state does not allow the master's origin: $(cat "$T/cors.h")"
grep -qix 'Access-Control-Allow-Credentials: true' "$T/cors.h" ||
    fail "the agent's /state does not allow credentials"
if curl -s -D - -o /dev/null -H 'Origin: http://evil.example' \
    "http://127.0.0.1:${AGENT_PORT[web1]}/state" | grep -qi '^Access-Control-Allow-Origin'; then
    fail "the agent's /state allows another site's pages"
fi
if curl -s -D - -o /dev/null "http://127.0.0.1:$MASTER_PORT/state" | grep -qi '^Access-Control'; then
    fail "the master's /state must not allow other origins"
fi

# A page of another site cannot make the operator's browser change anything.
code=$(curl -s -o "$T/csrf.body" -w '%{http_code}' -X POST -H 'Origin: http://evil.example' \
    -H 'Content-Type: text/plain' --data "frameworkId=$FRAMEWORK_ID" "http://127.0.0.1:$MASTER_PORT/teardown")
[ "$code" = 403 ] || fail "a cross-origin POST /teardown answered $code"
grep -q "another origin" "$T/csrf.body" || fail "the 403 does not say why: $(cat "$T/csrf.body")"
master_json /state | jq -e --arg f "$FRAMEWORK_ID" '.frameworks[] | select(.id == $f and .active)' \
    >/dev/null || fail "the framework is gone after a refused teardown"

browser_dir=$(cd "$(dirname "$0")/../browser" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    log "SKIP: no Chromium at $chromium (tools/deps installs Debian's chromium)"
    exit 77
fi
if ! command -v node >/dev/null 2>&1 ||
    [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    log "SKIP: playwright-core needs Node.js >= 20 (found: $(node --version 2>/dev/null || echo none))"
    exit 77
fi
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
    log "installing playwright-core (tests/browser/package-lock.json)"
    npm ci --prefix "$browser_dir" --no-audit --no-fund >"$T/npm.log" 2>&1 ||
        fail "npm ci in tests/browser failed: $(tail -5 "$T/npm.log")"
fi

api POST /v2/apps '{"id": "/ui/echo", "cmd": "echo \"dashboard test output from $MESOS_TASK_ID\"; exec sleep 600",
    "cpus": 0.1, "mem": 16, "instances": 2}' >/dev/null
[ "$(api_code)" = 201 ] || fail "POST /v2/apps answered $(api_code): $(cat "$T/api.body")"
wait_app /ui/echo 2 30

# A report over what ran so far, for the charts (the master records in batches
# of about a second: wait until the app's tasks are in).
report_has_app() {
    "$AGORA_BIN/agora" report --master="127.0.0.1:$MASTER_PORT" --since=10m --by=app --format=json |
        jq -e '.groups[] | select(.key == "/ui/echo" and .tasks == 2)' >/dev/null
}
wait_until 10 report_has_app || fail "the accounting report does not show /ui/echo's tasks"
"$AGORA_BIN/agora" report --master="127.0.0.1:$MASTER_PORT" --since=10m --by=app --format=html \
    >"$T/report.html" || fail "agora report --format html failed"

log "driving the web UIs in $chromium"
MASTER_URL="http://127.0.0.1:$MASTER_PORT" SERVICES_URL="http://127.0.0.1:$SVC_PORT" \
    APP_ID=/ui/echo INSTANCES=2 SCALE_TO=3 AGENTS=web1,web2 \
    LOG_TEXT="dashboard test output from" REPORT_HTML="$T/report.html" ARTIFACTS="$artifacts" \
    CHROMIUM="$chromium" timeout 180 node "$browser_dir/dashboard.mjs" >"$T/browser.log" 2>&1 ||
    { cat "$T/browser.log" >&2; fail "browser test failed (screenshots in $artifacts)"; }
cat "$T/browser.log" >&2

# Cross-origin writes to agora-services are refused too; same-origin ones (the
# page's own, above) and tools' pass.
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Origin: http://evil.example' \
    -H 'Content-Type: application/json' --data '{"instances": 5}' "http://127.0.0.1:$SVC_PORT/v2/apps/ui/echo")
[ "$code" = 403 ] || fail "a cross-origin PUT /v2/apps/ui/echo answered $code"

# The scale the browser asked for is what the API says now.
[ "$(app_json /ui/echo | jq '.instances')" = 3 ] || fail "the app was not scaled to 3"
[ "$(master_running_tasks | wc -l)" = 3 ] || fail "the master does not run 3 instances"
for f in master-overview services-apps services-scaled master-task accounting-report; do
    [ -s "$artifacts/$f.png" ] || fail "screenshot $f.png missing"
done
log "PASS (screenshots in $artifacts)"
