// The runs page of pytest-sacred: a table of runs, their curves overlaid, one run whole.
// Its data is the JSON document in <script id="data">: every run whole (a report file), or
// {"live": true} and then the runs come from the server that served the page
// (/api/runs every few seconds, /api/run, /api/points, /api/artifact).
(function () {
  "use strict";

  const DOC = JSON.parse(document.getElementById("data").textContent);
  const LIVE = !!DOC.live;
  const REFRESH_MS = 3000;
  // told apart from each other at a glance (no two of one hue)
  const COLOURS = ["#2f6fde", "#d9480f", "#2b8a3e", "#ae3ec9", "#343a40", "#1098ad", "#c2255c",
    "#94a800", "#6741d9", "#8d5524", "#f08c00", "#74c0fc"];
  const DASHES = [null, [6, 3], [2, 3], [8, 3, 2, 3]];

  const state = {
    runs: [],              // summaries (and details once known), in table order
    byKey: new Map(),
    selected: new Set(),
    sort: { col: "id", dir: 1 },
    text: "",
    status: "",
    view: "runs",
    current: null,         // key of the run shown in the run view
    charts: new Map(),     // metric name -> {plot, keys}
    varying: [],           // config keys that differ among all runs (the variant column)
  };

  // -- small helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function num(value) {
    if (typeof value !== "number") return value;
    if (Number.isInteger(value)) return String(value);
    const text = value.toPrecision(6);
    return text.includes("e") ? text : String(parseFloat(text));
  }

  function show(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return num(value);
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  function short(text, width) {
    return text.length <= width ? text : text.slice(0, width - 1) + "…";
  }

  function seconds(value) {
    if (value === null || value === undefined) return "";
    if (value < 60) return value.toFixed(2) + "s";
    const minutes = Math.floor(value / 60), rest = Math.floor(value % 60);
    if (minutes < 60) return minutes + "m" + String(rest).padStart(2, "0") + "s";
    return Math.floor(minutes / 60) + "h" + String(minutes % 60).padStart(2, "0") + "m";
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(1) + " MiB";
  }

  function statusBadge(status) {
    return el("span", { class: "status " + String(status || "").replace(/\W/g, "") }, status || "?");
  }

  function flatten(value, prefix, out) {
    out = out || {};
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) flatten(v, prefix ? prefix + "." + k : k, out);
    } else if (prefix) {
      out[prefix] = value;
    }
    return out;
  }

  // Keys whose values differ among configs (a key missing from some counts as differing).
  function differingKeys(configs) {
    const flats = configs.map((c) => flatten(c, "", {}));
    const keys = new Set(flats.flatMap((f) => Object.keys(f)));
    return [...keys].filter((k) => new Set(flats.map((f) =>
      k in f ? JSON.stringify(f[k]) : "\u0000missing")).size > 1).sort();
  }

  // A regression verdict (any dict) fails where an entry says so: passed/ok false,
  // failed true, or a verdict/status/outcome text naming a failure.
  function failing(key, value) {
    const k = String(key).toLowerCase();
    if (["passed", "pass", "ok", "success"].includes(k) && value === false) return true;
    if (["failed", "fail", "failure", "regressed"].includes(k) && value === true) return true;
    if (["verdict", "status", "outcome", "result"].includes(k) && typeof value === "string")
      return /fail|regress/i.test(value);
    return false;
  }
  function passing(key, value) {
    const k = String(key).toLowerCase();
    if (["passed", "pass", "ok", "success"].includes(k) && value === true) return true;
    if (["failed", "fail", "failure", "regressed"].includes(k) && value === false) return true;
    if (["verdict", "status", "outcome", "result"].includes(k) && typeof value === "string")
      return /^(pass|passed|ok|success)$/i.test(value);
    return false;
  }
  function verdictOf(value) {
    let failed = false, passed = false;
    (function walk(v) {
      if (Array.isArray(v)) { v.forEach(walk); return; }
      if (v && typeof v === "object") {
        for (const [k, item] of Object.entries(v)) {
          if (failing(k, item)) failed = true;
          if (passing(k, item)) passed = true;
          walk(item);
        }
      }
    })(value);
    return failed ? "fail" : passed ? "pass" : "checked";
  }

  // -- data: embedded (a report file) or fetched (serve) ----------------------------------------

  async function getJSON(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }

  async function detailOf(run) {
    if (run.detail) return run;
    const whole = await getJSON("api/run?key=" + encodeURIComponent(run.key));
    Object.assign(run, whole, { detail: true });
    return run;
  }

  function setRuns(runs) {
    const previous = state.byKey;
    state.byKey = new Map();
    state.runs = runs.map((summary) => {
      const known = previous.get(summary.key);
      // a run still going (or whose status changed) is read again when next shown
      if (known && known.detail && summary.stored_status !== "RUNNING" &&
          known.status === summary.status && known.stop === summary.stop) {
        return Object.assign(known, summary);
      }
      return summary;
    });
    for (const run of state.runs) state.byKey.set(run.key, run);
    for (const key of [...state.selected]) if (!state.byKey.has(key)) state.selected.delete(key);
    state.varying = differingKeys(state.runs.map((r) => r.config)).filter((k) => k !== "seed");
  }

  // -- the runs table ------------------------------------------------------------------------

  function metricNames() {
    const names = new Set();
    for (const run of state.runs) for (const n of Object.keys(run.finals || {})) names.add(n);
    return [...names].sort();
  }

  function variantText(run) {
    if (run.variant) return run.variant;
    const flat = flatten(run.config, "", {});
    return state.varying.filter((k) => k in flat).map((k) => `${k}=${show(flat[k])}`).join(", ");
  }

  function columns() {
    const cols = [
      { id: "id", title: "id", num: true, value: (r) => r.id,
        cell: (r) => [el("button", { class: "link", type: "button", title: "show this run",
          onclick: () => openRun(r.key) }, String(r.id)),
          r.role === "baseline" ? el("span", { class: "baseline-tag" }, "baseline") : null] },
      { id: "experiment", title: "experiment", value: (r) => r.experiment },
      { id: "variant", title: "variant / config", value: variantText, cls: "variant" },
      { id: "status", title: "status", value: (r) => r.status, cell: (r) => statusBadge(r.status) },
      { id: "result", title: "result", num: true,
        value: (r) => (typeof r.result === "number" ? r.result : r.result === null ? null : show(r.result)),
        cell: (r) => short(show(r.result), 40) },
    ];
    for (const name of metricNames()) {
      cols.push({ id: "metric:" + name, title: name, num: true,
        value: (r) => (r.finals || {})[name], cell: (r) => show((r.finals || {})[name]) });
    }
    cols.push(
      { id: "duration", title: "duration", num: true, value: (r) => r.duration, cell: (r) => seconds(r.duration) },
      { id: "start", title: "started", value: (r) => r.start, cell: (r) => when(r.start) },
      { id: "host", title: "host", value: (r) => r.host },
      { id: "git", title: "git", value: (r) => (r.git[0] ? r.git[0].commit + (r.git[0].dirty ? "*" : "") : null),
        cell: (r) => r.git.length ? [el("span", { title: r.git[0].url + " " + r.git[0].commit },
          String(r.git[0].commit || "").slice(0, 8)),
          r.git.some((g) => g.dirty) ? el("span", { class: "dirty", title: "uncommitted changes" }, "dirty") : null] : "" },
    );
    if (state.runs.some((r) => r.regression)) {
      cols.push({ id: "check", title: "check", value: (r) => (r.regression ? verdictOf(r.regression) : null),
        cell: (r) => (r.regression ? el("span", { class: "verdict " + verdictOf(r.regression) },
          verdictOf(r.regression)) : "") });
    }
    return cols;
  }

  function compareValues(a, b) {
    if (a === b) return 0;
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function renderTable() {
    const cols = columns();
    const table = document.getElementById("runs-table");
    const head = el("tr", {}, el("th", { title: "select for compare" },
      el("input", { type: "checkbox", "aria-label": "select every shown run", onclick: (e) => {
        e.stopPropagation();
        for (const run of shownRuns(cols)) {
          if (e.target.checked) state.selected.add(run.key); else state.selected.delete(run.key);
        }
        renderTable();
      } })));
    for (const col of cols) {
      const sorted = state.sort.col === col.id;
      head.append(el("th", { "data-col": col.id,
        class: sorted ? (state.sort.dir > 0 ? "sorted-asc" : "sorted-desc") : null,
        onclick: () => {
          state.sort = { col: col.id, dir: sorted ? -state.sort.dir : 1 };
          renderTable();
        } }, col.title));
    }
    table.tHead.replaceChildren(head);
    const rows = shownRuns(cols);
    const body = document.createDocumentFragment();
    for (const run of rows) {
      const tr = el("tr", { "data-key": run.key, class: state.selected.has(run.key) ? "selected" : null });
      tr.append(el("td", {}, el("input", { type: "checkbox", class: "select", "aria-label": "select run " + run.key,
        checked: state.selected.has(run.key), onchange: (e) => {
          if (e.target.checked) state.selected.add(run.key); else state.selected.delete(run.key);
          tr.classList.toggle("selected", e.target.checked);
          updateCounts();
        } })));
      for (const col of cols) {
        const content = col.cell ? col.cell(run) : show(col.value(run));
        const td = el("td", { class: [col.num ? "num" : "", col.cls || ""].join(" ").trim() || null }, content);
        if (col.id === "variant") td.title = content;
        tr.append(td);
      }
      body.append(tr);
    }
    table.tBodies[0].replaceChildren(body);
    const statuses = [...new Set(state.runs.map((r) => r.status))].sort();
    const select = document.getElementById("filter-status");
    const current = [...select.options].slice(1).map((o) => o.value).join("|");
    if (current !== statuses.join("|")) {
      select.replaceChildren(el("option", { value: "" }, "every status"),
        ...statuses.map((s) => el("option", { value: s }, s)));
      select.value = statuses.includes(state.status) ? state.status : "";
    }
    document.getElementById("shown-count").textContent = `${rows.length} of ${state.runs.length} runs`;
    updateCounts();
  }

  function shownRuns(cols) {
    const col = cols.find((c) => c.id === state.sort.col) || cols[0];
    const text = state.text.toLowerCase();
    let rows = state.runs.filter((r) => !state.status || r.status === state.status);
    if (text) {
      rows = rows.filter((r) => cols.some((c) => {
        const v = c.id === "start" ? when(r.start) : c.value(r);
        return v !== null && v !== undefined && show(v).toLowerCase().includes(text);
      }) || JSON.stringify(r.config).toLowerCase().includes(text));
    }
    const present = rows.filter((r) => col.value(r) !== null && col.value(r) !== undefined);
    const absent = rows.filter((r) => col.value(r) === null || col.value(r) === undefined);
    present.sort((a, b) => state.sort.dir * compareValues(col.value(a), col.value(b)) ||
      compareValues(a.id, b.id));
    return present.concat(absent);  // runs without the value last either way
  }

  function updateCounts() {
    document.getElementById("runs-count").textContent = `(${state.runs.length})`;
    document.getElementById("compare-count").textContent = state.selected.size ? `(${state.selected.size})` : "";
  }

  // -- compare: curves and config differences ---------------------------------------------------

  function labels(runs) {
    const experiments = new Set(runs.map((r) => r.experiment));
    let keys = differingKeys(runs.map((r) => r.config));
    if (keys.some((k) => k !== "seed")) keys = keys.filter((k) => k !== "seed");
    const out = new Map();
    for (const run of runs) {
      const flat = flatten(run.config, "", {});
      const parts = ["#" + run.id + (run.role === "baseline" ? " (baseline)" : "")];
      if (experiments.size > 1) parts.push(run.experiment);
      const what = keys.map((k) => `${k}=${k in flat ? short(show(flat[k]), 24) : "–"}`).join(", ");
      if (what) parts.push(what);
      out.set(run.key, parts.join(" "));
    }
    return out;
  }

  function smoothed(values, weight, log) {
    const out = new Array(values.length);
    let last = null;
    for (let i = 0; i < values.length; i++) {
      let v = values[i];
      if (v === null || (log && v <= 0)) { out[i] = null; continue; }
      last = last === null || weight === 0 ? v : last * weight + v * (1 - weight);
      out[i] = last;
    }
    return out;
  }

  function chartData(runs, name) {
    const log = document.getElementById("log-scale").checked;
    const weight = parseFloat(document.getElementById("smoothing").value);
    const having = runs.filter((r) => r.metrics && r.metrics[name]);
    const tables = having.map((r) => [r.metrics[name].steps, smoothed(r.metrics[name].values, weight, log)]);
    return { having, data: tables.length ? uPlot.join(tables) : [[]] };
  }

  function chartWidth(container) {
    return Math.max(320, container.clientWidth - 18);
  }

  function makeChart(container, name, runs, names) {
    const { having, data } = chartData(runs, name);
    const log = document.getElementById("log-scale").checked;
    const series = [{ label: "step" }].concat(having.map((r, i) => ({
      label: names.get(r.key), stroke: COLOURS[i % COLOURS.length], width: 1.5,
      dash: DASHES[Math.floor(i / COLOURS.length) % DASHES.length] || undefined,
      spanGaps: true, points: { show: data[0].length <= 60 },
    })));
    const opts = {
      width: chartWidth(container), height: 280, series,
      scales: { x: { time: false }, y: log ? { distr: 3, log: 10 } : {} },
      axes: [{ label: "step" }, { size: 60 }],
      legend: { live: true },
    };
    const plot = new uPlot(opts, data, container);
    return { plot, keys: having.map((r) => r.key).join("|"), log };
  }

  async function renderCompare() {
    const runs = state.runs.filter((r) => state.selected.has(r.key));
    document.getElementById("compare-empty").hidden = runs.length > 0;
    await Promise.all(runs.map(detailOf));
    const names = labels(runs);
    const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
    const holder = document.getElementById("charts");
    const log = document.getElementById("log-scale").checked;
    const wanted = new Set(metrics);
    for (const [name, chart] of state.charts) {
      if (!wanted.has(name)) { chart.plot.destroy(); chart.box.remove(); state.charts.delete(name); }
    }
    for (const name of metrics) {
      const having = runs.filter((r) => r.metrics && r.metrics[name]).map((r) => r.key).join("|");
      let chart = state.charts.get(name);
      if (chart && chart.keys === having && chart.log === log) {
        chart.plot.setData(chartData(runs, name).data);  // a live refresh: same series
        continue;
      }
      if (chart) { chart.plot.destroy(); chart.box.remove(); }
      const area = el("div", { class: "plot" });
      const box = el("div", { class: "chart", "data-metric": name },
        el("h3", {}, name, el("button", { type: "button", class: "small", title: "the points of these curves as CSV",
          onclick: () => downloadCSV(runs.filter((r) => r.metrics && r.metrics[name]), name) }, "CSV")),
        area);
      holder.append(box);
      chart = Object.assign(makeChart(area, name, runs, names), { box, area });
      state.charts.set(name, chart);
    }
    // keep the charts in metric order
    for (const name of metrics) holder.append(state.charts.get(name).box);
    const thinned = runs.some((r) => Object.values(r.metrics || {}).some((m) => !m.full));
    document.getElementById("points-note").textContent = thinned ?
      `curves thinned for display to at most ${DOC.points || "some"} points each (smallest and largest of each stretch); ` +
      (LIVE ? "CSV gives every stored point" : "CSV gives the points in this file; pytest-sacred serve gives every stored point") : "";
    renderDiff(runs, names);
  }

  function renderDiff(runs, names) {
    const box = document.getElementById("config-diff");
    document.getElementById("diff-title").hidden = runs.length < 2;
    if (runs.length < 2) { box.replaceChildren(); return; }
    const keys = differingKeys(runs.map((r) => r.config));
    const flats = runs.map((r) => flatten(r.config, "", {}));
    const all = new Set(flats.flatMap((f) => Object.keys(f)));
    const table = el("table", { class: "diff" },
      el("thead", {}, el("tr", {}, el("th", {}, "config key"), runs.map((r) => el("th", { title: names.get(r.key) }, "#" + r.id)))),
      el("tbody", {}, keys.map((k) => el("tr", { "data-key": k }, el("td", {}, k),
        flats.map((f) => el("td", { class: "value" }, k in f ? show(f[k]) : "—"))))));
    box.replaceChildren(keys.length ? table : el("p", { class: "note" }, "The configs are equal."),
      el("p", { class: "note" }, `${all.size - keys.length} entries equal in every selected run.`));
  }

  async function pointsOf(run, name) {
    if (LIVE) return getJSON(`api/points?key=${encodeURIComponent(run.key)}&name=${encodeURIComponent(name)}`);
    return run.metrics[name];
  }

  async function downloadCSV(runs, name) {
    const lines = ["run,metric,step,value"];
    for (const run of runs) {
      const points = await pointsOf(run, name);
      const quoted = '"' + name.replace(/"/g, '""') + '"';
      points.steps.forEach((step, i) => lines.push(`${run.id},${quoted},${step},${points.values[i] === null ? "" : points.values[i]}`));
    }
    const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `${name.replace(/[^\w.-]+/g, "_")}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // -- one run -------------------------------------------------------------------------------

  function tree(value, updates, path, marks) {
    const list = el("ul");
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    for (const [key, item] of entries) {
      const here = path ? path + "." + key : key;
      const updated = updates && updates[key] !== undefined;
      const nested = item && typeof item === "object" && Object.keys(item).length &&
        !(Array.isArray(item) && item.every((x) => x === null || typeof x !== "object"));
      const li = el("li", { class: [updated && (!nested || typeof updates[key] !== "object") ? "updated" : "",
        marks && failedEntry(marks, key, item) ? "fail" : ""].join(" ").trim() || null, "data-path": here },
        el("span", { class: "key" }, key), ": ");
      if (nested) li.append(tree(item, updated && typeof updates[key] === "object" ? updates[key] : null, here, marks));
      else li.append(el("span", { class: "value" }, JSON.stringify(item)));
      list.append(li);
    }
    return list;
  }

  // An entry that fails, or a dict (a rule) one of whose entries fails.
  function failedEntry(marks, key, item) {
    return marks(key, item) || (item !== null && typeof item === "object" && !Array.isArray(item) &&
      Object.entries(item).some(([k, v]) => marks(k, v)));
  }

  function treeBox(value, updates, marks) {
    if (value === null || value === undefined || (typeof value === "object" && !Object.keys(value).length))
      return el("p", { class: "muted" }, "none");
    if (typeof value !== "object") return el("div", { class: "tree" }, JSON.stringify(value));
    return el("div", { class: "tree" }, tree(value, updates, "", marks));
  }

  // Captured output as a terminal shows it: a carriage return rewrites its line, and
  // colour codes are not text.
  function terminal(text) {
    return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").split("\n")
      .map((line) => { const parts = line.replace(/\r+$/, "").split("\r"); return parts[parts.length - 1]; })
      .join("\n");
  }

  async function openRun(key) {
    state.current = key;
    const tab = document.getElementById("run-tab");
    tab.hidden = false;
    tab.textContent = "Run #" + state.byKey.get(key).id;
    await showView("run");
  }

  async function renderRun() {
    const box = document.getElementById("view-run");
    const run = state.byKey.get(state.current);
    if (!run) { box.replaceChildren(el("p", { class: "note" }, "This run is no longer listed.")); return; }
    await detailOf(run);
    const scroll = window.scrollY;
    const parts = [], later = [];
    parts.push(el("div", { class: "run-head" }, el("h2", {}, `Run #${run.id}: ${run.experiment}`),
      statusBadge(run.status), run.variant ? el("span", { class: "muted" }, run.variant) : null,
      el("span", { class: "muted" }, run.location || "")));
    const host = run.host_info || {};
    const facts = [["command", run.command], ["result", show(run.result)], ["started", when(run.start)],
      ["stopped", when(run.stop)], ["duration", seconds(run.duration)], ["last heartbeat", when(run.heartbeat)],
      ["host", [host.hostname, (host.os || []).join(" "), host.python_version && "Python " + host.python_version,
        host.cpu].filter(Boolean).join(" · ")]];
    for (const repo of run.git || []) facts.push(["git", `${repo.url || ""} ${repo.commit || ""}${repo.dirty ? " (dirty)" : ""}`]);
    parts.push(el("div", { class: "kv" }, facts.filter(([, v]) => v).flatMap(([k, v]) =>
      [el("div", { class: "k" }, k), el("div", {}, v)])));
    if (run.regression) {
      parts.push(el("h2", {}, "Regression check ", el("span", { class: "verdict " + verdictOf(run.regression) }, verdictOf(run.regression))),
        el("div", { id: "regression" }, treeBox(run.regression, null, failing)));
    }
    if (run.fail_trace) parts.push(el("h2", {}, "Failure"), el("pre", { class: "trace" }, run.fail_trace));
    const names = new Map([[run.key, "#" + run.id]]);
    const metricNames = Object.keys(run.metrics || {}).sort();
    parts.push(el("div", { class: "grid2" },
      el("div", {}, el("h2", {}, "Config"), el("div", { id: "run-config" }, treeBox(run.config, run.updates))),
      el("div", {}, el("h2", {}, "Info"), treeBox(run.info))));
    if (metricNames.length) {
      parts.push(el("h2", {}, "Metrics"), el("table", { class: "diff" },
        el("thead", {}, el("tr", {}, ["metric", "points", "last", "min", "max", ""].map((h) => el("th", {}, h)))),
        el("tbody", {}, metricNames.map((n) => { const m = run.metrics[n]; return el("tr", {}, el("td", {}, n),
          el("td", { class: "num" }, m.count), el("td", {}, show(m.last)), el("td", {}, show(m.min)), el("td", {}, show(m.max)),
          el("td", {}, el("button", { type: "button", class: "small", onclick: () => downloadCSV([run], n) }, "CSV"))); }))));
      const areas = metricNames.map((n) => [n, el("div", { class: "plot" })]);
      parts.push(el("div", { id: "run-charts", class: "grid2" },
        areas.map(([n, area]) => el("div", { class: "chart", "data-metric": n }, el("h3", {}, n), area))));
      // drawn once in the page, where their width is known
      later.push(() => { for (const [n, area] of areas) makeChart(area, n, [run], names); });
    }
    parts.push(el("h2", {}, "Captured output"), run.output ? el("pre", { id: "output" },
      (run.output_cut ? `[first ${run.output_cut} characters not shown]\n` : "") + terminal(run.output)) :
      el("p", { class: "muted" }, "none"));
    parts.push(el("h2", {}, "Artifacts"), artifactsBox(run));
    parts.push(el("div", { class: "grid2" },
      el("div", {}, el("h2", {}, "Sources"), listBox((run.sources || []).map((s) => Array.isArray(s) ? `${s[0]}  ${s[1] || ""}` : show(s)))),
      el("div", {}, el("h2", {}, "Dependencies"), listBox((run.dependencies || []).map(show)))));
    if ((run.resources || []).length) parts.push(el("h2", {}, "Resources"), listBox(run.resources.map((r) => Array.isArray(r) ? r.join("  ") : show(r))));
    parts.push(el("div", { class: "grid2" },
      el("div", {}, el("h2", {}, "Host"), treeBox(run.host_info)),
      el("div", {}, el("details", {}, el("summary", {}, el("h2", { class: "inline" }, "Meta")),
        treeBox(run.meta)))));
    box.replaceChildren(...parts);
    for (const draw of later) draw();
    window.scrollTo(0, scroll);
  }

  function listBox(items) {
    return items.length ? el("pre", {}, items.join("\n")) : el("p", { class: "muted" }, "none");
  }

  function artifactsBox(run) {
    const artifacts = run.artifacts || [];
    if (!artifacts.length) return el("p", { class: "muted" }, "none");
    const url = (a) => `api/artifact?key=${encodeURIComponent(run.key)}&name=${encodeURIComponent(a.name)}`;
    const table = el("table", { class: "diff" },
      el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "size"), el("th", {}, "content type"))),
      el("tbody", {}, artifacts.map((a) => el("tr", {}, el("td", {}, a.name), el("td", { class: "num" }, bytes(a.size)), el("td", {}, a.type)))));
    const shown = artifacts.filter((a) => a.show).map((a) => {
      const item = el("div", { class: "artifact", "data-name": a.name }, el("div", { class: "name" }, a.name));
      if (a.show === "image") item.append(el("img", { alt: a.name, src: LIVE ? url(a) : a.image }));
      else if (!LIVE) item.append(el("pre", {}, a.text));
      else {
        const pre = el("pre", {}, "…");
        fetch(url(a), { cache: "no-store" }).then((r) => r.text()).then((t) => { pre.textContent = t; });
        item.append(pre);
      }
      return item;
    });
    return el("div", {}, table, shown);
  }

  // -- views, live refresh -------------------------------------------------------------------

  async function showView(view) {
    state.view = view;
    for (const button of document.querySelectorAll("#tabs button"))
      button.classList.toggle("active", button.dataset.view === view);
    for (const name of ["runs", "compare", "run"])
      document.getElementById("view-" + name).hidden = name !== view;
    if (view === "runs") renderTable();
    else if (view === "compare") await renderCompare();
    else await renderRun();
  }

  async function refresh() {
    try {
      const doc = await getJSON("api/runs");
      setRuns(doc.runs);
      DOC.points = doc.points;
      const live = document.getElementById("live-state");
      live.textContent = "live · updated " + when(doc.generated);
      live.className = "live";
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      if (state.view === "runs") renderTable();
      else if (state.view === "compare") { updateCounts(); await renderCompare(); }
      else if (state.view === "run") {
        const run = state.byKey.get(state.current);
        if (run && !run.detail) await renderRun();
      }
    } catch (error) {
      const live = document.getElementById("live-state");
      live.textContent = "not updated: " + error.message;
      live.className = "";
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  function setup() {
    document.getElementById("where").textContent = (DOC.stores || []).join(" + ") +
      (DOC.generated && !LIVE ? " · written " + when(DOC.generated) : "");
    for (const button of document.querySelectorAll("#tabs button"))
      button.addEventListener("click", () => showView(button.dataset.view));
    document.getElementById("filter-text").addEventListener("input", (e) => { state.text = e.target.value; renderTable(); });
    document.getElementById("filter-status").addEventListener("change", (e) => { state.status = e.target.value; renderTable(); });
    document.getElementById("compare-selected").addEventListener("click", () => showView("compare"));
    document.getElementById("clear-selected").addEventListener("click", () => { state.selected.clear(); renderTable(); });
    const rebuild = () => { for (const c of state.charts.values()) { c.plot.destroy(); c.box.remove(); } state.charts.clear(); renderCompare(); };
    document.getElementById("log-scale").addEventListener("change", rebuild);
    document.getElementById("smoothing").addEventListener("input", (e) => {
      document.getElementById("smoothing-value").textContent = e.target.value;
      renderCompare();
    });
    window.addEventListener("resize", () => {
      for (const c of state.charts.values()) c.plot.setSize({ width: chartWidth(c.area), height: 280 });
    });
    if (DOC.title) document.getElementById("title").textContent = DOC.title;
    if (LIVE) {
      refresh().then(() => { document.body.dataset.ready = "1"; });
    } else {
      setRuns(DOC.runs);
      renderTable();
      document.body.dataset.ready = "1";
    }
  }

  setup();
})();
