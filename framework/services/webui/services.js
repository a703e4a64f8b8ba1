/*
 * agora-services' app view: the apps with their instance counts and
 * deployment progress, scale / restart / destroy, an app's tasks, and the
 * deployments in flight (with rollback). Data from the Marathon-style /v2 API;
 * the page reloads every three seconds and at once on every event of
 * /v2/events.
 */
"use strict";

(() => {
  const { h, request, getJSON, fmtNum, fmtMem, pill, table, kv } = agora;
  let apps = [], deployments = [], info = null, notice = null;

  // The master's dashboard: its URL when given one, else HOST:PORT with this
  // page's scheme (a cluster serves TLS on every port or on none).
  const masterUrl = () => {
    const m = info && info.marathon_config && info.marathon_config.master;
    if (!m) return null;
    return /^https?:\/\//.test(m) ? m.replace(/\/?$/, "/") : `${location.protocol}//${m}/`;
  };
  const appHref = (id) => `#/apps${id.split("/").map(encodeURIComponent).join("/")}`;

  function say(kind, text) {
    notice = { kind, text };
    app.render();
  }

  async function act(method, url, body, done) {
    try {
      const r = await request(method, url, body);
      say("info", done(r || {}));
    } catch (e) {
      const details = e.data && e.data.details
        ? ": " + e.data.details.map((d) => `${d.path} ${(d.errors || []).join(", ")}`).join("; ")
        : "";
      say("error", e.message + details);
    }
  }

  const scale = (a, n) => act("PUT", `/v2/apps${a.id}`, { instances: n },
    (r) => `Scaling ${a.id} to ${n} instances (deployment ${r.deploymentId || "-"}).`);
  const restart = (a) => act("POST", `/v2/apps${a.id}/restart`, undefined,
    (r) => `Restarting ${a.id} (deployment ${r.deploymentId || "-"}).`);
  const destroy = (a) => {
    if (!confirm(`Destroy ${a.id} and kill all its instances?`)) return;
    act("DELETE", `/v2/apps${a.id}`, undefined, () => `Destroying ${a.id}.`);
  };

  function status(a) {
    if (a.deployments && a.deployments.length) return pill("Deploying", "warn");
    if (a.instances === 0) return pill("Suspended", "");
    if (a.healthChecks && a.healthChecks.length && a.tasksHealthy < a.instances)
      return pill("Unhealthy", "bad");
    if (a.tasksRunning < a.instances) return pill("Waiting", "warn");
    return pill("Running", "ok");
  }

  /* Instances running of wanted, as a bar; healthy ones beside when there are checks. */
  function progress(a) {
    const pct = a.instances > 0 ? Math.min(100, (100 * a.tasksRunning) / a.instances) : 0;
    const checks = a.healthChecks && a.healthChecks.length;
    return h("div", { class: "actions" },
      h("div", { class: "bar" }, h("span", { style: `width:${pct}%` })),
      h("span", { class: "barlabel", "data-testid": "running" },
        `${a.tasksRunning} / ${a.instances} running`),
      checks ? h("span", { class: "barlabel", "data-testid": "healthy" },
        `${a.tasksHealthy} healthy`) : null,
      a.tasksStaged ? h("span", { class: "barlabel" }, `${a.tasksStaged} staged`) : null);
  }

  function actions(a) {
    const input = h("input", { class: "count", type: "number", min: "0", value: String(a.instances),
      "data-testid": "scale-input", "aria-label": `instances of ${a.id}` });
    const go = () => {
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < 0) { say("error", "The instance count must be a whole number >= 0."); return; }
      scale(a, n);
    };
    input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    return h("div", { class: "actions" }, input,
      h("button", { class: "primary", onclick: go, "data-testid": "scale" }, "Scale"),
      h("button", { onclick: () => restart(a), "data-testid": "restart" }, "Restart"),
      h("button", { class: "danger", onclick: () => destroy(a), "data-testid": "destroy" }, "Destroy"));
  }

  function appsView() {
    const rows = apps.slice().sort((x, y) => x.id.localeCompare(y.id));
    const t = table([
      { title: "App", cell: (a) => h("a", { href: appHref(a.id) }, a.id) },
      { title: "Status", cell: status },
      { title: "Instances", cell: progress },
      { title: "CPUs", num: true, cell: (a) => fmtNum(a.cpus) },
      { title: "Memory", num: true, cell: (a) => fmtMem(a.mem) },
      { title: "", cell: actions },
    ], rows, { "data-testid": "apps" }, "no apps yet: agora app deploy FILE.json");
    /* Each row names its app, for scripts and tests. */
    t.querySelectorAll("tbody tr").forEach((tr, i) => rows[i] && tr.setAttribute("data-app-id", rows[i].id));
    return h("div", null, h("h1", null, "Apps"), notices(), t,
      deployments.length ? [h("h2", null, "Deployments in progress"), deploymentsTable()] : null);
  }

  function notices() {
    return notice ? h("div", { class: `msg ${notice.kind}`, "data-testid": "notice" }, notice.text) : null;
  }

  function deploymentsTable() {
    return table([
      { title: "Deployment", mono: true, cell: (d) => d.id },
      { title: "Apps", cell: (d) => (d.affectedApps || []).map((id) => h("a", { href: appHref(id) }, id, " ")) },
      { title: "Action", cell: (d) => (d.currentActions || []).map((c) => c.action).join(", ") },
      { title: "Step", cell: (d) => `${d.currentStep} / ${d.totalSteps}` },
      { title: "Version", mono: true, cell: (d) => d.version },
      { title: "", cell: (d) => h("div", { class: "actions" },
        h("button", { onclick: () => act("DELETE", `/v2/deployments/${d.id}`, undefined,
          (r) => `Rolling back (deployment ${r.deploymentId || "-"}).`) }, "Roll back"),
        h("button", { class: "danger", onclick: () => act("DELETE", `/v2/deployments/${d.id}?force=true`,
          undefined, () => "Deployment stopped where it was.") }, "Stop")) },
    ], deployments, { "data-testid": "deployments" }, "no deployments in progress");
  }

  function deploymentsView() {
    return h("div", null, h("h1", null, "Deployments"), notices(), deploymentsTable());
  }

  async function appView(parts) {
    const id = "/" + parts.join("/");
    let a;
    try {
      a = (await getJSON(`/v2/apps${id.split("/").map(encodeURIComponent).join("/")}?embed=apps.tasks`)).app;
    } catch (e) {
      return h("div", { class: "msg error" }, e.status === 404 ? `No app ${id}.` : e.message);
    }
    const master = masterUrl(), fw = info && info.frameworkId;
    const image = a.container && (a.container.docker || a.container.mesos || {}).image;
    return h("div", null,
      h("h1", null, `App ${a.id}`), notices(),
      h("div", { class: "actions" }, status(a), progress(a), actions(a)),
      h("h2", null, "Definition"),
      kv([["Command", a.cmd ? h("span", { class: "mono" }, a.cmd) : ""],
        ["Image", image || ""], ["Resources", `${fmtNum(a.cpus)} cpus, ${fmtMem(a.mem)}, disk ${fmtMem(a.disk)}`],
        ["Instances", String(a.instances)],
        ["Constraints", (a.constraints || []).map((c) => c.join(":")).join(", ")],
        ["Health checks", (a.healthChecks || []).map((c) => `${c.protocol} ${c.path || c.command && c.command.value || ""}`).join(", ")],
        ["Upgrade strategy", `minimumHealthCapacity ${a.upgradeStrategy.minimumHealthCapacity}, ` +
          `maximumOverCapacity ${a.upgradeStrategy.maximumOverCapacity}`],
        ["Labels", Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(", ")],
        ["Version", a.version]]),
      h("h2", null, "Instances"),
      table([
        { title: "Task", mono: true, cell: (t) => master && fw
          ? h("a", { href: `${master}#/tasks/${encodeURIComponent(fw)}/${encodeURIComponent(t.id)}` }, t.id)
          : t.id },
        { title: "State", cell: (t) => pill(t.state) },
        { title: "Health", cell: (t) => !t.healthCheckResults || !t.healthCheckResults.length ? ""
          : t.healthCheckResults.every((r) => r.alive) ? pill("healthy", "ok") : pill("unhealthy", "bad") },
        { title: "Host", cell: (t) => t.host },
        { title: "Ports", mono: true, cell: (t) => (t.ports || []).join(", ") },
        { title: "Started", cell: (t) => t.startedAt || "" },
        { title: "Version", mono: true, cell: (t) => t.version },
      ], a.tasks || [], { "data-testid": "app-tasks" }, "no instances"));
  }

  const app = agora.app({
    periodMs: 3000,
    refresh: async () => {
      [apps, deployments, info] = await Promise.all([
        getJSON("/v2/apps").then((r) => r.apps || []),
        getJSON("/v2/deployments"),
        info ? Promise.resolve(info) : getJSON("/v2/info"),
      ]);
      const m = masterUrl();
      if (m) document.getElementById("master-link").setAttribute("href", m);
    },
    routes: { "": appsView, apps: appView, deployments: deploymentsView },
  });

  /* Live: any event (status update, deployment step, health change) redraws. */
  if (window.EventSource) {
    const es = new EventSource("/v2/events");
    let pending = null;
    es.onmessage = () => {};
    for (const type of ["status_update_event", "deployment_info", "deployment_success",
      "deployment_failed", "deployment_step_success", "health_status_changed_event",
      "api_post_event", "app_terminated_event"]) {
      es.addEventListener(type, () => {
        if (!pending) pending = setTimeout(() => { pending = null; app.render(); }, 200);
      });
    }
  }
})();
