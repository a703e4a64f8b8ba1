/*
 * Agora web UI helpers, shared by the master's dashboard and agora-services'
 * app view: a DOM builder (text is always set as text, never parsed as HTML),
 * JSON requests, formatting, and a hash router that re-renders the current
 * view on every refresh.
 */
"use strict";

const agora = (() => {
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  async function request(method, url, body) {
    /* "include": the agents' pages (another origin) get the credentials the
     * browser holds for them; agents echo the dashboard's origin and allow
     * credentials (--cors_allowed_origins). */
    const opts = { method, headers: {}, credentials: "include" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(url, opts);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!res.ok) {
      const msg = data && data.message ? data.message : `${res.status} ${res.statusText}`;
      const err = new Error(`${method} ${url}: ${msg}`);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  const getJSON = (url) => request("GET", url);

  function scalar(resources, name) {
    const v = resources ? resources[name] : undefined;
    return typeof v === "number" ? v : 0;
  }

  function fmtNum(v, digits) {
    if (!isFinite(v)) return "-";
    const d = digits === undefined ? (Math.abs(v) < 10 && v % 1 ? 2 : 0) : digits;
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 });
  }

  function fmtMem(mb) {
    if (!isFinite(mb)) return "-";
    if (mb >= 1024 * 1024) return fmtNum(mb / (1024 * 1024), 1) + " TiB";
    if (mb >= 1024) return fmtNum(mb / 1024, 1) + " GiB";
    return fmtNum(mb, 0) + " MiB";
  }

  function fmtTime(secs) {
    if (!secs) return "-";
    return new Date(secs * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function fmtAgo(secs) {
    if (!secs) return "-";
    let d = Math.max(0, Date.now() / 1000 - secs);
    if (d < 60) return `${Math.floor(d)}s ago`;
    if (d < 3600) return `${Math.floor(d / 60)}m ago`;
    if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
    return `${Math.floor(d / 86400)}d ago`;
  }

  /* A usage bar with "used / total" beside it; `fmt` formats both figures. */
  function usage(used, total, fmt) {
    const f = fmt || ((v) => fmtNum(v));
    const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
    return h("div", { class: "actions" },
      h("div", { class: "bar" + (pct > 90 ? " hot" : ""), title: `${pct.toFixed(0)}%` },
        h("span", { style: `width:${pct}%` })),
      h("span", { class: "barlabel" }, `${f(used)} / ${f(total)}`));
  }

  const STATE_CLASS = {
    TASK_RUNNING: "ok", TASK_FINISHED: "", TASK_STAGING: "warn", TASK_STARTING: "warn",
    TASK_KILLING: "warn", TASK_FAILED: "bad", TASK_KILLED: "", TASK_LOST: "bad",
    TASK_ERROR: "bad", TASK_DROPPED: "bad", TASK_GONE: "bad", TASK_UNREACHABLE: "bad",
    ACTIVE: "ok", DRAINING: "warn", UNREACHABLE: "bad", DISCONNECTED: "bad",
  };

  function pill(text, cls) {
    return h("span", { class: "pill " + (cls !== undefined ? cls : STATE_CLASS[text] || "") }, text);
  }

  /*
   * A table. `cols`: [{title, num, cell: (row) => node|string}]; `rows`: array.
   * `attrs` go on the <table> (e.g. data-testid).
   */
  function table(cols, rows, attrs, emptyText) {
    const head = h("tr", null, cols.map((c) => h("th", { class: c.num ? "num" : "" }, c.title)));
    const body = rows.length
      ? rows.map((r) => h("tr", null, cols.map((c) =>
          h("td", { class: (c.num ? "num" : "") + (c.mono ? " mono" : "") }, c.cell(r)))))
      : [h("tr", { class: "empty" }, h("td", { colspan: cols.length }, emptyText || "none"))];
    return h("table", attrs, h("thead", null, head), h("tbody", null, body));
  }

  function card(label, value, sub, attrs) {
    return h("div", Object.assign({ class: "card" }, attrs || {}),
      h("div", { class: "label" }, label), h("div", { class: "value" }, value),
      sub ? h("div", { class: "sub" }, sub) : null);
  }

  function kv(pairs) {
    return h("dl", { class: "kv" }, pairs.filter((p) => p).map(([k, v]) => [h("dt", null, k),
      h("dd", null, v === undefined || v === null || v === "" ? "-" : v)]));
  }

  /*
   * The app shell: `routes` maps a first path segment ("" for the overview)
   * to a render(parts) function returning a node (or a promise of one);
   * `refresh` (async) reloads data before each render, every `periodMs`.
   */
  function app(opts) {
    const main = document.querySelector("main");
    const status = document.getElementById("status");
    let rendering = false, again = false;

    function parts() {
      return location.hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "")
        .map(decodeURIComponent);
    }

    async function render(ev) {
      /* A periodic refresh waits while the user types in a field of the view. */
      const typing = document.activeElement && document.activeElement.tagName === "INPUT" &&
        main.contains(document.activeElement);
      if (ev === "tick" && typing) return;
      if (rendering) { again = true; return; }
      rendering = true;
      try {
        await opts.refresh();
        const p = parts();
        const view = opts.routes[p[0] || ""] || opts.routes[""];
        const node = await view(p.slice(1));
        main.replaceChildren(node);
        if (opts.afterRender) opts.afterRender();
        document.querySelectorAll("header.top nav a").forEach((a) =>
          a.classList.toggle("active", a.getAttribute("href") === "#/" + (p[0] || "")));
        status.textContent = "updated " + new Date().toLocaleTimeString();
        status.classList.remove("error");
      } catch (e) {
        status.textContent = e.message;
        status.classList.add("error");
      } finally {
        rendering = false;
        if (again) { again = false; render(); }
      }
    }

    window.addEventListener("hashchange", () => render());
    render();
    setInterval(() => render("tick"), opts.periodMs || 2000);
    return { render };
  }

  return { h, request, getJSON, scalar, fmtNum, fmtMem, fmtTime, fmtAgo, usage, pill, table,
    card, kv, app };
})();
