/*
 * The master's dashboard: cluster overview, agents, frameworks, tasks (with
 * their sandbox output, read from the agent) and roles. Everything comes from
 * the master's /state and /roles, reloaded every two seconds.
 */
"use strict";

(() => {
  const { h, getJSON, scalar, fmtNum, fmtMem, fmtTime, fmtAgo, usage, pill, table, card, kv } =
    agora;
  let state = null, roles = [];

  const link = (href, text) => h("a", { href }, text);
  /* A framework's web UI: a link only for http(s) URLs (the master refuses
   * others; a registry from an older master may still hold one): else text. */
  const webuiLink = (url) =>
    !url ? "" : /^https?:\/\//i.test(url) ? link(url, url) : url;
  const agentLink = (id) => {
    const a = state.slaves.find((s) => s.id === id);
    return link(`#/agents/${encodeURIComponent(id)}`, a ? a.hostname : id);
  };
  const fwLink = (id) => {
    const f = state.frameworks.find((x) => x.id === id);
    return link(`#/frameworks/${encodeURIComponent(id)}`, f ? f.name : id);
  };
  const taskHref = (t) =>
    `#/tasks/${encodeURIComponent(t.framework_id)}/${encodeURIComponent(t.id)}`;

  function allTasks(withCompleted) {
    const out = [];
    for (const f of state.frameworks) {
      out.push(...(f.tasks || []));
      if (withCompleted) out.push(...(f.completed_tasks || []));
    }
    return out;
  }

  function totals() {
    const t = { cpus: 0, mem: 0, disk: 0, ucpus: 0, umem: 0, udisk: 0 };
    for (const a of state.slaves) {
      if (!a.active) continue;
      t.cpus += scalar(a.resources, "cpus");
      t.mem += scalar(a.resources, "mem");
      t.disk += scalar(a.resources, "disk");
      t.ucpus += scalar(a.used_resources, "cpus");
      t.umem += scalar(a.used_resources, "mem");
      t.udisk += scalar(a.used_resources, "disk");
    }
    return t;
  }

  function agentsTable(agents) {
    return table([
      { title: "Host", cell: (a) => link(`#/agents/${encodeURIComponent(a.id)}`, a.hostname) },
      { title: "State", cell: (a) => pill(a.draining ? "DRAINING" : a.active ? "ACTIVE" : a.state) },
      { title: "CPUs", cell: (a) => usage(scalar(a.used_resources, "cpus"), scalar(a.resources, "cpus")) },
      { title: "Memory", cell: (a) =>
        usage(scalar(a.used_resources, "mem"), scalar(a.resources, "mem"), fmtMem) },
      { title: "Tasks", num: true, cell: (a) => a.task_count },
      { title: "Address", mono: true, cell: (a) => a.http_address },
      { title: "Registered", cell: (a) => fmtAgo(a.registered_time) },
    ], agents, { "data-testid": "agents" }, "no agents registered");
  }

  function frameworksTable(fws) {
    return table([
      { title: "Name", cell: (f) => link(`#/frameworks/${encodeURIComponent(f.id)}`, f.name) },
      { title: "Role", cell: (f) => (f.roles && f.roles.length ? f.roles : [f.role || "*"]).join(", ") },
      { title: "State", cell: (f) => pill(f.connected ? "ACTIVE" : "DISCONNECTED") },
      { title: "Tasks", num: true, cell: (f) => (f.tasks || []).length },
      { title: "CPUs", num: true, cell: (f) => fmtNum(scalar(f.used_resources, "cpus")) },
      { title: "Memory", num: true, cell: (f) => fmtMem(scalar(f.used_resources, "mem")) },
      { title: "Web UI", cell: (f) => webuiLink(f.webui_url) },
    ], fws, { "data-testid": "frameworks" }, "no frameworks registered");
  }

  function tasksTable(tasks, attrs) {
    return table([
      { title: "Task", mono: true, cell: (t) => link(taskHref(t), t.id) },
      { title: "Name", cell: (t) => t.name },
      { title: "State", cell: (t) => [pill(t.state),
        t.healthy === undefined ? "" : [" ", pill(t.healthy ? "healthy" : "unhealthy",
          t.healthy ? "ok" : "bad")]] },
      { title: "Framework", cell: (t) => fwLink(t.framework_id) },
      { title: "Agent", cell: (t) => agentLink(t.slave_id) },
      { title: "CPUs", num: true, cell: (t) => fmtNum(scalar(t.resources, "cpus")) },
      { title: "Memory", num: true, cell: (t) => fmtMem(scalar(t.resources, "mem")) },
    ], tasks, attrs, "no tasks");
  }

  function byState(tasks) {
    const counts = {};
    for (const t of tasks) counts[t.state] = (counts[t.state] || 0) + 1;
    return counts;
  }

  function overview() {
    const t = totals();
    const live = allTasks(false), done = allTasks(true).filter((x) => !live.includes(x));
    const counts = byState(live.concat(done));
    const order = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING",
      "TASK_UNREACHABLE", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
      "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"];
    return h("div", null,
      h("h1", null, "Cluster"),
      h("div", { class: "cards" },
        card("Agents", `${state.activated_slaves}`,
          `${state.deactivated_slaves} inactive`, { "data-testid": "agent-count" }),
        card("Frameworks", `${state.frameworks.length}`,
          `${state.frameworks.filter((f) => f.connected).length} connected`),
        card("CPUs", `${fmtNum(t.ucpus)} / ${fmtNum(t.cpus)}`, "allocated / total"),
        card("Memory", `${fmtMem(t.umem)} / ${fmtMem(t.mem)}`, "allocated / total"),
        card("Disk", `${fmtMem(t.udisk)} / ${fmtMem(t.disk)}`, "allocated / total"),
        card("Master", `v${state.version}`, `started ${fmtAgo(state.start_time)}`)),
      h("h2", null, "Tasks by state"),
      h("div", { class: "cards", "data-testid": "task-states" },
        order.filter((s) => counts[s]).map((s) =>
          card(s.replace("TASK_", ""), `${counts[s]}`, null, { "data-state": s })),
        Object.keys(counts).length ? null : h("span", { class: "muted" }, "no tasks yet")),
      h("h2", null, "Agents"), agentsTable(state.slaves),
      h("h2", null, "Frameworks"), frameworksTable(state.frameworks),
      h("h2", null, "Active tasks"), tasksTable(live.slice(0, 200), { "data-testid": "tasks" }),
      live.length > 200 ? h("p", { class: "muted" }, `first 200 of ${live.length}`) : null);
  }

  function agentsView(parts) {
    if (parts.length) return agentView(parts[0]);
    return h("div", null, h("h1", null, "Agents"), agentsTable(state.slaves));
  }

  function resourcesTable(a) {
    const names = Object.keys(a.resources || {}).filter((n) => typeof a.resources[n] === "number");
    return table([
      { title: "Resource", cell: (n) => n },
      { title: "Used", num: true, cell: (n) => fmtNum(scalar(a.used_resources, n)) },
      { title: "Offered", num: true, cell: (n) => fmtNum(scalar(a.offered_resources, n)) },
      { title: "Reserved", num: true, cell: (n) => fmtNum(scalar(a.reserved_resources, n)) },
      { title: "Total", num: true, cell: (n) => fmtNum(scalar(a.resources, n)) },
    ], names);
  }

  function agentView(id) {
    const a = state.slaves.find((s) => s.id === id);
    if (!a) return h("div", { class: "msg error" }, `No agent ${id} (it may have been removed).`);
    const attrs = Object.entries(a.attributes || {}).map(([k, v]) => `${k}:${v}`).join("; ");
    const tasks = allTasks(false).filter((t) => t.slave_id === id);
    return h("div", null,
      h("h1", null, `Agent ${a.hostname}`),
      kv([["ID", h("span", { class: "mono" }, a.id)], ["State", pill(a.active ? "ACTIVE" : a.state)],
        ["Address", a.http_address], ["Version", a.version], ["Attributes", attrs],
        ["Resources", h("span", { class: "mono" }, a.resources_text)],
        ["Registered", fmtTime(a.registered_time)],
        a.reregistered_time ? ["Re-registered", fmtTime(a.reregistered_time)] : null]),
      h("h2", null, "Resources"), resourcesTable(a),
      h("h2", null, "Tasks"), tasksTable(tasks, { "data-testid": "agent-tasks" }));
  }

  function frameworksView(parts) {
    if (parts.length) return frameworkView(parts[0]);
    return h("div", null, h("h1", null, "Frameworks"), frameworksTable(state.frameworks));
  }

  function frameworkView(id) {
    const f = state.frameworks.find((x) => x.id === id);
    if (!f) return h("div", { class: "msg error" }, `No framework ${id}.`);
    return h("div", null,
      h("h1", null, `Framework ${f.name}`),
      kv([["ID", h("span", { class: "mono" }, f.id)], ["User", f.user], ["Principal", f.principal],
        ["Roles", (f.roles || []).join(", ")], ["Host", f.hostname],
        ["Connected", f.connected ? "yes" : "no"],
        ["Web UI", webuiLink(f.webui_url)],
        ["Failover timeout", `${fmtNum(f.failover_timeout)} s`],
        ["Registered", fmtTime(f.registered_time)],
        ["CPUs in use", fmtNum(scalar(f.used_resources, "cpus"))],
        ["Memory in use", fmtMem(scalar(f.used_resources, "mem"))],
        ["Offered", `${fmtNum(scalar(f.offered_resources, "cpus"))} cpus, ` +
          `${fmtMem(scalar(f.offered_resources, "mem"))}`]]),
      h("h2", null, "Active tasks"), tasksTable(f.tasks || [], { "data-testid": "framework-tasks" }),
      h("h2", null, "Completed tasks"), tasksTable((f.completed_tasks || []).slice(-100).reverse()));
  }

  function tasksView(parts) {
    if (parts.length >= 2) return taskView(parts[0], parts[1]);
    const live = allTasks(false);
    const done = [];
    for (const f of state.frameworks) done.push(...(f.completed_tasks || []));
    return h("div", null, h("h1", null, "Tasks"),
      h("h2", null, "Active"), tasksTable(live, { "data-testid": "tasks" }),
      h("h2", null, "Completed (latest first)"), tasksTable(done.slice(-200).reverse()));
  }

  /* The sandbox output of the task on screen, read incrementally from its agent. */
  const logs = { key: null, file: "stdout", offset: 0, text: "", error: null, pre: null };

  async function readLog(agent, t) {
    const key = `${t.framework_id}/${t.id}/${logs.file}`;
    if (logs.key !== key) {
      Object.assign(logs, { key, offset: -1, text: "", error: null });
    }
    const base = `${location.protocol}//${agent.http_address}/files/read`; // agents serve TLS when the master does
    const path = encodeURIComponent(`${t.framework_id}/${t.id}/${logs.file}`);
    try {
      if (logs.offset < 0) {
        const end = await getJSON(`${base}?path=${path}&offset=-1`);
        logs.offset = Math.max(0, end.offset - 65536);
      }
      for (let i = 0; i < 8; i++) {
        const r = await getJSON(`${base}?path=${path}&offset=${logs.offset}&length=65536`);
        if (!r.data) break;
        logs.text = (logs.text + r.data).slice(-262144);
        logs.offset += new TextEncoder().encode(r.data).length;
      }
      logs.error = null;
    } catch (e) {
      logs.error = `Cannot read ${logs.file} from agent ${agent.hostname}: ${e.message}`;
    }
  }

  async function taskView(fwid, id) {
    const t = allTasks(true).filter((x) => x.framework_id === fwid && x.id === id).pop();
    if (!t) return h("div", { class: "msg error" }, `No task ${id} of framework ${fwid}.`);
    const agent = state.slaves.find((s) => s.id === t.slave_id);
    if (agent) await readLog(agent, t);
    const last = (t.statuses || [])[t.statuses.length - 1] || {};
    const tab = (file) => h("button", { class: logs.file === file ? "active" : "",
      onclick: () => { logs.file = file; logs.key = null; app.render(); } }, file);
    logs.pre = h("pre", { class: "log", "data-testid": "task-log" }, logs.text);
    return h("div", null,
      h("h1", null, `Task ${t.id}`),
      kv([["Name", t.name], ["State", pill(t.state)], ["Framework", fwLink(t.framework_id)],
        ["Agent", agentLink(t.slave_id)], ["Reason", last.reason], ["Message", last.message],
        ["Health", t.healthy === undefined ? "" : t.healthy ? "healthy" : "unhealthy"],
        ["Resources", Object.entries(t.resources || {}).filter(([, v]) => typeof v === "number")
          .map(([k, v]) => `${k}: ${fmtNum(v)}`).join(", ")],
        ["Labels", (Array.isArray(t.labels) ? t.labels.map((l) => [l.key, l.value])
          : Object.entries(t.labels || {})).map(([k, v]) => `${k}=${v}`).join(", ")]]),
      h("h2", null, "Status updates"),
      table([
        { title: "Time", cell: (s) => fmtTime(s.timestamp) },
        { title: "State", cell: (s) => pill(s.state) },
        { title: "Reason", cell: (s) => s.reason || "" },
        { title: "Message", cell: (s) => s.message || "" },
      ], (t.statuses || []).slice().reverse()),
      h("h2", null, "Sandbox"),
      h("div", { class: "tabs actions" }, tab("stdout"), tab("stderr")),
      logs.error ? h("div", { class: "msg error" }, logs.error) : null,
      agent ? logs.pre : h("div", { class: "msg info" }, "The task's agent is not registered."));
  }

  function rolesView() {
    return h("div", null, h("h1", null, "Roles"),
      table([
        { title: "Role", cell: (r) => r.name || r.role },
        { title: "Weight", num: true, cell: (r) => fmtNum(r.weight) },
        { title: "Frameworks", num: true, cell: (r) => (r.frameworks || []).length },
        { title: "CPUs", num: true, cell: (r) => fmtNum(scalar(r.resources || r.allocated, "cpus")) },
        { title: "Memory", num: true, cell: (r) => fmtMem(scalar(r.resources || r.allocated, "mem")) },
      ], roles, { "data-testid": "roles" }, "no roles"));
  }

  const app = agora.app({
    refresh: async () => {
      [state, roles] = await Promise.all([getJSON("/state"),
        getJSON("/roles").then((r) => r.roles || [])]);
    },
    routes: { "": overview, agents: agentsView, frameworks: frameworksView, tasks: tasksView,
      roles: rolesView },
    afterRender: () => { if (logs.pre) logs.pre.scrollTop = logs.pre.scrollHeight; },
  });
})();
