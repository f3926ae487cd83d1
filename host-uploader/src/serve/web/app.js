// runlog's web page: the runs list (search, sort, experiment filter, params
// and metrics columns), the compare view, and a run's page, drawn from the
// MLflow REST API of the server that serves this file and its chart data
// endpoint. Plain JavaScript, no build step, works offline; charts are in
// charts.js (uPlot).
"use strict";

const API = "api/2.0/mlflow/";
const ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts/";
const LIVE = "api/2.0/runlog/runs/live";
const CHART = "api/2.0/runlog/metrics/chart";
// Points per line the server sends (it downsamples longer series to min/max per bucket).
const CHART_POINTS = 2000;
// Largest artifact previewed in the page (bigger ones: download).
const PREVIEW_TEXT_BYTES = 1 << 20;
const PREVIEW_IMAGE_BYTES = 20 << 20;

// The live feed of the run on screen, if it is running.
let live = null;
// Chart options shared by every chart on screen.
const chartOpts = { log: false, smoothing: 0 };

function token() { return sessionStorage.getItem("runlog_token"); }

// Calls the API; on 401 asks for the server's token once and retries.
async function api(method, path, body, raw) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = {};
    if (token()) headers["Authorization"] = "Bearer " + token();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401 && attempt === 0) {
      const t = window.prompt("This runlog server needs its access token:");
      if (!t) throw new Error("no token given");
      sessionStorage.setItem("runlog_token", t.trim());
      continue;
    }
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const e = await r.json(); msg = (e.error_code || "") + ": " + (e.message || msg); } catch (_) {}
      throw new Error(msg);
    }
    return raw ? r : r.json();
  }
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function fmtTime(ms) { return ms ? new Date(Number(ms)).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }
function fmtDur(a, b) {
  if (!a || !b) return "";
  const s = (Number(b) - Number(a)) / 1000;
  return s < 60 ? s.toFixed(1) + " s" : s < 3600 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h";
}
function runName(run) { return run.info.run_name || run.info.run_id; }
const q = encodeURIComponent;

function table(headers, rows, numeric) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))),
    el("tbody", {}, rows.map(r => el("tr", {}, r.map((c, i) => el("td", numeric && numeric[i] ? { class: "num" } : {}, c))))));
}

// ---- routes -------------------------------------------------------------

// The hash as {path, params}: `#/compare?runs=a,b` -> {path: "/compare", params}.
function route() {
  const h = location.hash.replace(/^#/, "") || "/";
  const i = h.indexOf("?");
  return { path: i < 0 ? h : h.slice(0, i), params: new URLSearchParams(i < 0 ? "" : h.slice(i + 1)) };
}

function listHash(state) {
  const p = new URLSearchParams();
  for (const k of ["filter", "exp", "sort", "dir"]) if (state[k]) p.set(k, state[k]);
  const s = p.toString();
  return "#/" + (s ? "?" + s : "");
}

// ---- runs list ----------------------------------------------------------

// A search box entry as an MLflow filter: a filter as typed when it has an
// operator, else a run-name search.
function toFilter(text) {
  const t = text.trim();
  if (!t) return "";
  if (/(=|<|>|\bLIKE\b|\bILIKE\b)/i.test(t)) return t;
  return "attributes.run_name ILIKE '%" + t.replace(/'/g, "") + "%'";
}

function cellValue(run, col) {
  const d = run.data || {};
  switch (col.kind) {
    case "name": return runName(run);
    case "exp": return col.names[run.info.experiment_id] || run.info.experiment_id;
    case "status": return run.info.status;
    case "start": return Number(run.info.start_time) || 0;
    case "dur": return run.info.end_time ? Number(run.info.end_time) - Number(run.info.start_time) : -1;
    case "param": { const p = (d.params || []).find(p => p.key === col.key); return p ? p.value : undefined; }
    case "metric": { const m = (d.metrics || []).find(m => m.key === col.key); return m ? m.value : undefined; }
  }
}

function compareValues(a, b) {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  const na = Number(a), nb = Number(b);
  if (a !== "" && b !== "" && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return String(a).localeCompare(String(b));
}

async function showRuns(main, params) {
  const state = { filter: params.get("filter") || "", exp: params.get("exp") || "", sort: params.get("sort") || "", dir: params.get("dir") || "" };
  const exps = (await api("POST", API + "experiments/search", { max_results: 50000 })).experiments || [];
  const names = Object.fromEntries(exps.map(e => [e.experiment_id, e.name]));
  const ids = state.exp ? [state.exp] : exps.map(e => e.experiment_id);
  let runs = [], searchError = null;
  try {
    const res = await api("POST", API + "runs/search", { experiment_ids: ids, filter: toFilter(state.filter), max_results: 1000 });
    runs = res.runs || [];
  } catch (e) { searchError = e.message; }

  const search = el("input", { type: "search", id: "search", size: 48, value: state.filter,
    placeholder: "params.lr = '0.01' AND metrics.loss < 0.5, or a run name" });
  const expSelect = el("select", { id: "experiment" }, el("option", { value: "" }, "All experiments"),
    exps.map(e => el("option", { value: e.experiment_id, selected: e.experiment_id === state.exp }, e.name)));
  const apply = () => { location.hash = listHash(Object.assign({}, state, { filter: search.value, exp: expSelect.value })); };
  search.addEventListener("keydown", e => { if (e.key === "Enter") apply(); });
  expSelect.addEventListener("change", apply);
  const compareBtn = el("button", { id: "compare", disabled: true }, "Compare");
  const bar = el("div", { class: "toolbar" }, search, el("button", { id: "search-go", onclick: apply }, "Search"), expSelect, compareBtn);
  main.replaceChildren(el("h1", {}, "Runs"), bar);
  if (state.exp && names[state.exp]) main.querySelector("h1").append(" in ", el("span", { id: "exp-name" }, names[state.exp]));
  if (searchError) main.append(el("p", { class: "error", id: "search-error" }, searchError));

  const paramKeys = [...new Set(runs.flatMap(r => ((r.data || {}).params || []).map(p => p.key)))].sort();
  const metricKeys = [...new Set(runs.flatMap(r => ((r.data || {}).metrics || []).map(m => m.key)))].sort();
  const cols = [
    { kind: "name", title: "Run" }, { kind: "exp", title: "Experiment", names }, { kind: "status", title: "Status" },
    { kind: "start", title: "Started" }, { kind: "dur", title: "Duration", num: true },
    ...paramKeys.map(k => ({ kind: "param", key: k, title: k, group: "param" })),
    ...metricKeys.map(k => ({ kind: "metric", key: k, title: k, group: "metric", num: true })),
  ];
  cols.forEach((c, i) => { c.id = c.kind + (c.key !== undefined ? ":" + c.key : ""); c.index = i; });
  const hidden = new Set(JSON.parse(localStorage.getItem("runlog_hidden_cols") || "[]"));
  const sortCol = cols.find(c => c.id === state.sort);
  if (sortCol) {
    const sign = state.dir === "desc" ? -1 : 1;
    runs.sort((a, b) => sign * compareValues(cellValue(a, sortCol), cellValue(b, sortCol)));
  }

  if (paramKeys.length + metricKeys.length) {
    const picker = el("details", { class: "columns", id: "columns" }, el("summary", {}, "Columns"),
      cols.filter(c => c.group).map(c => el("label", {},
        el("input", { type: "checkbox", checked: !hidden.has(c.id), "data-col": c.id, onchange: e => {
          if (e.target.checked) hidden.delete(c.id); else hidden.add(c.id);
          localStorage.setItem("runlog_hidden_cols", JSON.stringify([...hidden]));
          render();
        } }), (c.group === "param" ? "params." : "metrics.") + c.key)));
    main.append(picker);
  }
  if (!runs.length) {
    main.append(el("p", { class: "muted", id: "no-runs" }, state.filter || state.exp ? "No runs match." : "No runs yet."));
    return;
  }
  const shown = cols.filter(c => !hidden.has(c.id));
  const head = el("tr", {}, el("th", {}, ""), shown.map(c => {
    const dir = state.sort === c.id && state.dir !== "desc" ? "desc" : "asc";
    const mark = state.sort === c.id ? (state.dir === "desc" ? " ▼" : " ▲") : "";
    return el("th", { class: c.group ? "col-" + c.group : "", "data-col": c.id },
      el("a", { href: listHash(Object.assign({}, state, { sort: c.id, dir })), class: "sort" },
        c.group ? el("span", { class: "muted" }, c.group === "param" ? "params." : "metrics.") : null, c.title, mark));
  }));
  const selected = new Set();
  const updateCompare = () => {
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = "Compare" + (selected.size ? " (" + selected.size + ")" : "");
  };
  compareBtn.addEventListener("click", () => { location.hash = "#/compare?runs=" + [...selected].map(q).join(","); });
  const body = el("tbody", {}, runs.map(r => el("tr", { "data-run": r.info.run_id },
    el("td", {}, el("input", { type: "checkbox", class: "select", "data-run": r.info.run_id, onchange: e => {
      if (e.target.checked) selected.add(r.info.run_id); else selected.delete(r.info.run_id);
      updateCompare();
    } })),
    shown.map(c => {
      const v = cellValue(r, c);
      switch (c.kind) {
        case "name": return el("td", {}, el("a", { href: "#/run/" + q(r.info.run_id), class: "run-link" }, v));
        case "status": return el("td", {}, el("span", { class: "status-" + v }, v));
        case "start": return el("td", {}, fmtTime(v));
        case "dur": return el("td", { class: "num" }, fmtDur(r.info.start_time, r.info.end_time));
        case "metric": return el("td", { class: "num" }, v === undefined ? "" : fmtNum(v));
        default: return el("td", {}, v === undefined ? "" : v);
      }
    }))));
  main.append(el("table", { id: "runs", "data-count": runs.length }, el("thead", {}, head), body));
}

// ---- charts -------------------------------------------------------------

// One metric's chart data for one run: {name, lines}. The server answers for
// any series of a metric with every rank's series (name: the metric as
// logged; each series its stored key and rank), so a metric of several
// ranks is one chart with a line per rank; the page never parses names.
// Lines are labelled `label` ("" for the rank alone), plus "rank R" when the
// metric has ranks.
async function chartGroup(runId, key, label) {
  const res = await api("GET", CHART + "?run_id=" + q(runId) + "&metric_key=" + q(key) + "&max_points=" + CHART_POINTS);
  const series = res.series || [];
  const ranked = series.length > 1 || series.some(s => s.rank > 0);
  const lines = series.map(s => ({
    label: ranked ? (label ? label + " " : "") + "rank " + s.rank : (label || s.metric_key),
    key: s.metric_key, rank: s.rank, steps: s.steps, values: s.values, downsampled: s.downsampled,
  }));
  return { name: res.logged_name || key, lines };
}

// Every chart group of one run's metric keys: one request per group (the
// keys an answer covered are not asked again). Returns [name, lines] sorted by name.
async function chartGroups(runId, keys, label) {
  const covered = new Set(), groups = new Map();
  for (const key of keys) {
    if (covered.has(key)) continue;
    const g = await chartGroup(runId, key, label);
    covered.add(key);
    g.lines.forEach(l => covered.add(l.key));
    groups.set(g.name, g.lines);
  }
  return [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

// A chart figure; redraw(fig) (re)draws it from fig.lines with the shared options.
function chartFigure(key, lines, width) {
  const host = el("div", { class: "plot" });
  const fig = el("figure", { class: "chart", "data-metric": key },
    el("figcaption", {}, key, " ", el("span", { class: "muted count" })), host);
  fig.lines = lines;
  fig.width = width || 520;
  redraw(fig);
  return fig;
}

function redraw(fig) {
  const lines = fig.lines;
  const points = lines.reduce((n, l) => n + l.values.length, 0);
  fig.dataset.lines = String(lines.length);
  fig.dataset.points = String(points);
  fig.querySelector(".count").textContent = "(" + points + " points" +
    (lines.some(l => l.downsampled) ? ", min/max per bucket" : "") + (lines.length > 1 ? ", " + lines.length + " lines" : "") + ")";
  if (fig.plot) fig.plot.destroy();
  fig.plot = drawChart(fig.querySelector(".plot"), lines, { log: chartOpts.log, smoothing: chartOpts.smoothing, width: fig.width });
}

// Log-scale and smoothing controls for every chart inside `scope`.
function chartControls(scope) {
  const redrawAll = () => scope.querySelectorAll("figure.chart").forEach(redraw);
  const smoothLabel = el("span", { class: "muted" }, String(chartOpts.smoothing));
  return el("div", { class: "toolbar chart-controls" },
    el("label", {}, el("input", { type: "checkbox", id: "log-scale", checked: chartOpts.log, onchange: e => { chartOpts.log = e.target.checked; redrawAll(); } }),
      " log scale (y)"),
    el("label", {}, " smoothing ", el("input", { type: "range", id: "smoothing", min: 0, max: 0.99, step: 0.01, value: chartOpts.smoothing,
      oninput: e => { chartOpts.smoothing = Number(e.target.value); smoothLabel.textContent = e.target.value; redrawAll(); } }), " ", smoothLabel));
}

// ---- compare view -------------------------------------------------------

async function showCompare(main, params) {
  const ids = (params.get("runs") || "").split(",").filter(Boolean).map(decodeURIComponent);
  const runs = await Promise.all(ids.map(id => api("GET", API + "runs/get?run_id=" + q(id)).then(r => r.run)));
  main.replaceChildren(el("p", {}, el("a", { href: "#/" }, "← all runs")),
    el("h1", {}, "Compare ", String(runs.length), " runs"),
    el("p", {}, runs.map((r, i) => [i ? ", " : "", el("a", { href: "#/run/" + q(r.info.run_id) }, runName(r))])));
  // Params (and latest metrics) side by side; rows whose values differ marked.
  const keys = [...new Set(runs.flatMap(r => ((r.data || {}).params || []).map(p => p.key)))].sort();
  const paramOf = (r, k) => { const p = ((r.data || {}).params || []).find(p => p.key === k); return p ? p.value : undefined; };
  main.append(el("h2", {}, "Parameters"));
  const onlyDiff = el("input", { type: "checkbox", id: "only-diff" });
  main.append(el("label", {}, onlyDiff, " only parameters that differ"));
  const rows = keys.map(k => {
    const vals = runs.map(r => paramOf(r, k));
    const differs = new Set(vals.map(v => v === undefined ? "\u0000" : v)).size > 1;
    return el("tr", { class: differs ? "differs" : "same", "data-param": k },
      el("th", {}, k), vals.map(v => el("td", {}, v === undefined ? el("span", { class: "muted" }, "—") : v)));
  });
  const diff = el("table", { id: "params-diff" },
    el("thead", {}, el("tr", {}, el("th", {}, "Parameter"), runs.map(r => el("th", {}, runName(r))))),
    el("tbody", {}, rows));
  onlyDiff.addEventListener("change", () => diff.classList.toggle("only-diff", onlyDiff.checked));
  main.append(keys.length ? diff : el("p", { class: "muted" }, "No parameters."));

  // One chart per metric, one line per run (and per rank).
  main.append(el("h2", {}, "Metrics"));
  const charts = el("div", { class: "charts", id: "charts" });
  main.append(chartControls(charts), charts);
  const perRun = await Promise.all(runs.map(r =>
    chartGroups(r.info.run_id, ((r.data || {}).metrics || []).map(m => m.key).sort(), runName(r))));
  const perMetric = new Map();
  for (const groups of perRun) {
    for (const [name, lines] of groups) perMetric.set(name, (perMetric.get(name) || []).concat(lines));
  }
  for (const name of [...perMetric.keys()].sort()) charts.append(chartFigure(name, perMetric.get(name), 560));
}

// ---- run page -----------------------------------------------------------

async function listArtifacts(runId, path, out) {
  const res = await api("GET", API + "artifacts/list?run_id=" + q(runId) + (path ? "&path=" + q(path) : ""));
  for (const f of res.files || []) {
    if (f.is_dir) await listArtifacts(runId, f.path, out); else out.push(f);
  }
  return out;
}

function download(url, name) {
  return async ev => {
    if (!token()) return; // the plain link works
    ev.preventDefault();
    const r = await api("GET", url, undefined, true);
    const a = el("a", { href: URL.createObjectURL(await r.blob()), download: name });
    document.body.append(a); a.click(); a.remove();
  };
}

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg)$/i;
const TEXT = /\.(txt|log|md|csv|tsv|json|jsonl|ya?ml|toml|ini|cfg|conf|py|c|h|cc|cpp|hpp|rs|sh|xml|html?)$/i;

// Shows an artifact in the page: text in a <pre> (as text, never as HTML),
// images in an <img> (an image cannot run script), from a blob of the file.
async function preview(box, url, f) {
  box.replaceChildren(el("p", { class: "muted" }, "Loading " + f.path + "…"));
  const isImage = IMAGE.test(f.path);
  const limit = isImage ? PREVIEW_IMAGE_BYTES : PREVIEW_TEXT_BYTES;
  if (Number(f.file_size) > limit) {
    box.replaceChildren(el("p", { class: "muted" }, f.path + " is too large to preview; download it."));
    return;
  }
  const blob = await (await api("GET", url, undefined, true)).blob();
  const title = el("h3", {}, f.path);
  if (isImage) {
    const typed = new Blob([blob], { type: /\.svg$/i.test(f.path) ? "image/svg+xml" : "image/" + f.path.split(".").pop().toLowerCase() });
    box.replaceChildren(title, el("img", { class: "preview-image", src: URL.createObjectURL(typed), alt: f.path }));
  } else {
    box.replaceChildren(title, el("pre", { class: "preview-text" }, await blob.text()));
  }
  box.dataset.path = f.path;
}

// Follows the live feed of a running run (Server-Sent Events, read through
// fetch so the token can go in a header); calls onEvent(name, data) per event.
function follow(runId, onEvent) {
  const ctrl = new AbortController();
  const headers = { Accept: "text/event-stream" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  (async () => {
    const r = await fetch(LIVE + "?run_id=" + q(runId), { headers, signal: ctrl.signal });
    if (!r.ok || !r.body) return;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (data) onEvent(name, JSON.parse(data));
      }
    }
  })().catch(() => {});
  return ctrl;
}

async function showRun(main, runId) {
  const run = (await api("GET", API + "runs/get?run_id=" + q(runId))).run;
  const info = run.info, data = run.data || {};
  // Open the feed before reading the charts, so no point falls between the
  // two; a point that arrives through both is drawn once (by its step: a
  // live point at or before a line's last step is already there).
  const early = [];
  let onLive = (name, d) => early.push([name, d]);
  if (info.status === "RUNNING") live = follow(info.run_id, (name, d) => onLive(name, d));
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← all runs"), " · ",
      el("a", { href: "#/?exp=" + q(info.experiment_id), id: "experiment-link" }, "experiment " + info.experiment_id)),
    el("h1", {}, "Run ", el("code", { id: "run-id" }, runName(run))),
    table(["Run id", "Status", "Started", "Ended", "Duration"], [[
      el("code", {}, info.run_id), el("span", { class: "status-" + info.status, id: "run-status" }, info.status),
      fmtTime(info.start_time), fmtTime(info.end_time), fmtDur(info.start_time, info.end_time)]]));

  const metrics = data.metrics || [];
  const latest = new Map(metrics.map(m => [m.key, m]));
  const groups = await chartGroups(info.run_id, metrics.map(m => m.key).sort(), "");
  const charts = el("div", { class: "charts", id: "charts" });
  const scalars = [];
  for (const [name, l] of groups) {
    if (l.some(x => x.values.length > 1)) charts.append(chartFigure(name, l));
    else {
      for (const x of l) {
        const m = latest.get(x.key);
        if (m) scalars.push([m.key, fmtNum(m.value), String(m.step || 0), fmtTime(m.timestamp)]);
      }
    }
  }
  main.append(el("h2", {}, "Charts"), chartControls(charts));
  if (!charts.childElementCount) main.append(el("p", { class: "muted", id: "no-charts" }, "No list or repeated metrics."));
  main.append(charts);
  // Live points, per series, into their metric's chart. A series the page has
  // not seen yet (a new metric, or a new rank) is asked of the server, which
  // says which chart it belongs to.
  const groupLines = new Map(groups);  // metric as logged -> lines
  const lineOf = new Map();            // series key -> [metric, line]
  for (const [name, l] of groups) l.forEach(x => lineOf.set(x.key, [name, x]));
  const asking = new Map();             // series key -> live points that came meanwhile
  // Adds a live point to its line (once: a point at or before the line's
  // last step is already there); returns its metric, or null.
  const add = p => {
    const [group, line] = lineOf.get(p.key);
    const last = line.steps.length ? line.steps[line.steps.length - 1] : -Infinity;
    if (p.step < last || (p.step === last && line.values[line.values.length - 1] === p.v)) return null;
    line.steps = line.steps.concat([p.step]);
    line.values = line.values.concat([p.v]);
    return group;
  };
  const show = name => {
    const l = groupLines.get(name);
    if (!l.some(x => x.values.length > 1)) return;
    let fig = [...charts.children].find(f => f.dataset.metric === name);
    if (fig) { fig.lines = l; redraw(fig); } else { fig = chartFigure(name, l); charts.append(fig); }
    fig.dataset.liveAt = String(Date.now());
    const none = document.getElementById("no-charts");
    if (none) none.remove();
  };
  const learn = p => {
    if (asking.has(p.key)) { asking.get(p.key).push(p); return; }
    asking.set(p.key, []);
    chartGroup(info.run_id, p.key, "").then(g => {
      // The answer holds every point stored so far, this one included.
      groupLines.set(g.name, g.lines);
      g.lines.forEach(x => lineOf.set(x.key, [g.name, x]));
      for (const w of asking.get(p.key)) if (lineOf.has(w.key)) add(w);
      show(g.name);
    }).catch(() => {}).finally(() => asking.delete(p.key));
  };
  onLive = (name, d) => {
    if (name === "status") {
      const s = document.getElementById("run-status");
      if (s) { s.textContent = d.status; s.className = "status-" + d.status; }
      return;
    }
    const touched = new Set();
    for (const p of d.metrics || []) {
      const v = typeof p.value === "number" ? p.value : Number(p.value);
      const step = Number(p.step);
      if (!Number.isFinite(v) || !Number.isFinite(step)) continue;
      const point = { key: p.key, step, v };
      if (!lineOf.has(p.key)) { learn(point); continue; }
      const group = add(point);
      if (group !== null) touched.add(group);
    }
    for (const group of touched) show(group);
  };
  early.splice(0).forEach(([name, d]) => onLive(name, d));
  if (scalars.length) {
    main.append(el("h2", {}, "Metrics"));
    const t = table(["Name", "Value", "Step", "Time"], scalars, [false, true, true, false]);
    t.id = "metrics"; main.append(t);
  }
  const strings = (data.tags || []).filter(t => !t.key.startsWith("mlflow."));
  if (strings.length) {
    main.append(el("h2", {}, "Values"));
    const t = table(["Name", "Value"], strings.map(t => [t.key, t.value])); t.id = "values"; main.append(t);
  }
  if ((data.params || []).length) {
    main.append(el("h2", {}, "Parameters"));
    const t = table(["Name", "Value"], data.params.map(p => [p.key, p.value])); t.id = "params"; main.append(t);
  }
  const files = await listArtifacts(info.run_id, "", []);
  main.append(el("h2", {}, "Artifacts"));
  if (!files.length) { main.append(el("p", { class: "muted" }, "No artifacts.")); return; }
  const base = ARTIFACTS + q(info.experiment_id) + "/" + q(info.run_id) + "/artifacts/";
  const box = el("div", { id: "preview" });
  const t = table(["Path", "Size", ""], files.map(f => {
    const url = base + f.path.split("/").map(q).join("/");
    const name = f.path.split("/").pop();
    const previewable = IMAGE.test(f.path) || TEXT.test(f.path);
    return [el("a", { href: url, download: name, class: "artifact", onclick: download(url, name) }, f.path), String(f.file_size) + " B",
      previewable ? el("button", { class: "preview", "data-path": f.path, onclick: () => preview(box, url, f).catch(e => {
        box.replaceChildren(el("p", { class: "error" }, "Preview failed: " + e.message));
      }) }, "preview") : ""];
  }), [false, true, false]);
  t.id = "artifacts"; main.append(t, box);
  // The first text or image artifact is shown without a click.
  const first = files.find(f => IMAGE.test(f.path) || TEXT.test(f.path));
  if (first) await preview(box, base + first.path.split("/").map(q).join("/"), first).catch(() => {});
}

// ---- dispatch -----------------------------------------------------------

async function render() {
  const main = document.getElementById("main");
  document.body.dataset.state = "loading";
  if (live) { live.abort(); live = null; }
  try {
    const { path, params } = route();
    let m;
    if ((m = path.match(/^\/run\/(.+)$/))) await showRun(main, decodeURIComponent(m[1]));
    // MLflow's deep links: #/experiments/<id>/runs/<run>[/...] and #/experiments/<id>.
    else if ((m = path.match(/^\/experiments\/[^/]+\/runs\/([^/]+)/))) await showRun(main, decodeURIComponent(m[1]));
    else if ((m = path.match(/^\/experiments\/([^/]+)\/?$/))) await showRuns(main, new URLSearchParams({ exp: decodeURIComponent(m[1]) }));
    else if (path === "/compare") await showCompare(main, params);
    else await showRuns(main, params);
    document.body.dataset.state = "ready";
  } catch (e) {
    main.replaceChildren(el("p", { class: "error" }, "Error: " + e.message));
    document.body.dataset.state = "error";
  }
}

window.addEventListener("hashchange", render);
render();
