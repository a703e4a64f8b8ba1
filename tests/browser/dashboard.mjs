// Browser test of the web UIs against a live local cluster (started by
// tests/integration/test_dashboard.sh): headless Debian chromium driven by
// playwright-core.
//
//   node dashboard.mjs
//
// Environment: MASTER_URL, SERVICES_URL (http://HOST:PORT), APP_ID (an app
// with INSTANCES instances, running), AGENTS (comma-separated hostnames),
// LOG_TEXT (a line the app's tasks print on stdout), SCALE_TO, REPORT_HTML
// (optional: an `agora report --format html` file), ARTIFACTS (a directory
// for screenshots), CHROMIUM (default /usr/bin/chromium), SPKI (optional: for
// a TLS cluster, the base64 SHA-256 of its server certificate's public key,
// which the browser then trusts: the certificate is pinned, not ignored).
//
// Each step prints "ok - ..." or fails the run with "not ok - ..." and exit 1.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const env = (name, dflt) => {
  const v = process.env[name] ?? dflt;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const MASTER = env("MASTER_URL"), SERVICES = env("SERVICES_URL"), APP = env("APP_ID");
const INSTANCES = Number(env("INSTANCES")), SCALE_TO = Number(env("SCALE_TO"));
const AGENTS = env("AGENTS").split(",");
const LOG_TEXT = env("LOG_TEXT");
const ARTIFACTS = env("ARTIFACTS");
const REPORT = process.env.REPORT_HTML;
const TIMEOUT = 20000;

fs.mkdirSync(ARTIFACTS, { recursive: true });
let step = "start";
const ok = (what) => console.log(`ok - ${what}`);

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    ...(process.env.SPKI ? [`--ignore-certificate-errors-spki-list=${process.env.SPKI}`] : [])],
});
const errors = [];
const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
page.on("console", (m) => { if (m.type() === "error") errors.push(`console error: ${m.text()}`); });
page.setDefaultTimeout(TIMEOUT);

async function shot(name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

try {
  // 1. Master overview: every agent, the app's tasks running.
  step = "master overview";
  await page.goto(`${MASTER}/`);
  for (const host of AGENTS) {
    await page.locator('[data-testid="agents"] tbody tr', { hasText: host }).first().waitFor();
  }
  ok(`master dashboard lists agents ${AGENTS.join(", ")}`);
  await page.waitForFunction((n) => {
    const c = document.querySelector('[data-testid="task-states"] [data-state="TASK_RUNNING"] .value');
    return c && Number(c.textContent) >= n;
  }, INSTANCES);
  ok(`tasks by state shows at least ${INSTANCES} RUNNING`);
  const activeAgents = await page.locator('[data-testid="agent-count"] .value').textContent();
  if (Number(activeAgents) !== AGENTS.length)
    throw new Error(`agent count card says ${activeAgents}, expected ${AGENTS.length}`);
  ok(`agent count card says ${activeAgents}`);
  await shot("master-overview");

  // 2. Agent page.
  step = "agent page";
  await page.locator('[data-testid="agents"] a', { hasText: AGENTS[0] }).first().click();
  await page.locator("h1", { hasText: `Agent ${AGENTS[0]}` }).waitFor();
  ok(`agent page of ${AGENTS[0]}`);

  // 3. The services app view: the app running, then scaled with the button.
  step = "services app view";
  await page.goto(`${SERVICES}/`);
  const row = page.locator(`[data-testid="apps"] tr[data-app-id="${APP}"]`);
  await row.locator('[data-testid="running"]', { hasText: `${INSTANCES} / ${INSTANCES} running` }).waitFor();
  ok(`app view shows ${APP} with ${INSTANCES} / ${INSTANCES} running`);
  await shot("services-apps");
  await row.locator('[data-testid="scale-input"]').fill(String(SCALE_TO));
  await row.locator('[data-testid="scale"]').click();
  await page.locator('[data-testid="notice"]', { hasText: `Scaling ${APP} to ${SCALE_TO}` }).waitFor();
  ok("scale button accepted");
  await row.locator('[data-testid="running"]', { hasText: `${SCALE_TO} / ${SCALE_TO} running` })
    .waitFor({ timeout: 30000 });
  ok(`app view shows ${SCALE_TO} / ${SCALE_TO} running after scaling`);
  await shot("services-scaled");

  // 4. The app's page lists its instances.
  step = "app page";
  await row.locator("a", { hasText: APP }).click();
  await page.waitForFunction((n) =>
    document.querySelectorAll('[data-testid="app-tasks"] tbody tr:not(.empty)').length === n, SCALE_TO);
  ok(`app page lists ${SCALE_TO} instances`);

  // 5. An instance's link leads to its task page on the master, with the
  // sandbox stdout read from the agent.
  step = "task page";
  await page.locator('[data-testid="app-tasks"] tbody a').first().click();
  await page.locator("h1", { hasText: "Task " }).waitFor();
  await page.locator('[data-testid="task-log"]', { hasText: LOG_TEXT }).waitFor();
  ok(`task page shows the sandbox stdout ("${LOG_TEXT}")`);
  await shot("master-task");

  // 6. The accounting report's charts render.
  if (REPORT) {
    step = "accounting report";
    await page.goto(`file://${path.resolve(REPORT)}`);
    const charts = await page.evaluate((app) => {
      const svgs = [...document.querySelectorAll("svg")];
      const drawn = svgs.filter((s) => {
        const r = s.getBoundingClientRect();
        return r.width > 100 && r.height > 50;
      });
      // Data marks: bars whose title says what they measure, drawn wider than a pixel.
      const bars = [...document.querySelectorAll("svg rect")].filter((r) => {
        const t = r.querySelector("title");
        return t && t.textContent === "allocated" && r.getBoundingClientRect().width > 1;
      });
      const named = svgs.some((s) => [...s.querySelectorAll("text")].some((t) => t.textContent.startsWith(app)));
      return { svgs: svgs.length, drawn: drawn.length, bars: bars.length, named };
    }, APP);
    if (charts.drawn < 2 || charts.bars < 1 || !charts.named)
      throw new Error(`report charts not drawn as expected: ${JSON.stringify(charts)}`);
    ok(`accounting report draws ${charts.drawn} SVG charts, ${charts.bars} allocation bars, ${APP} among them`);
    await shot("accounting-report");
  }

  if (errors.length) throw new Error(errors.join("\n"));
  ok("no script errors in the pages");
} catch (e) {
  console.log(`not ok - ${step}: ${e.message.split("\n")[0]}`);
  if (errors.length) console.log(errors.map((x) => `# ${x}`).join("\n"));
  try { await shot("failure"); } catch (_) { /* the page may be gone */ }
  await browser.close();
  process.exit(1);
}
await browser.close();
