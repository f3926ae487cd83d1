// runlog's web page: the runs list and a run's page, drawn from the MLflow
// REST API of the server that serves this file. Plain JavaScript, no
// dependencies, works offline.
"use strict";

const API = "api/2.0/mlflow/";
const ARTIFACTS = "api/2.0/mlflow-artifacts/artifacts/";
const LIVE = "api/2.0/runlog/runs/live";

// The live feed of the run on screen, if it is running.
let live = null;

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
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function fmtTime(ms) { return ms ? new Date(Number(ms)).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }
function fmtDur(a, b) {
  if (!a || !b) return "";
  const s = (Number(b) - Number(a)) / 1000;
  return s < 60 ? s.toFixed(1) + " s" : s < 3600 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h";
}
function fmtNum(v) {
  if (typeof v === "string") return v;
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(4) : String(Number(v.toPrecision(6)));
}
function runName(run) { return run.info.run_name || run.info.run_id; }

function table(headers, rows, numeric) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))),
    el("tbody", {}, rows.map(r => el("tr", {}, r.map((c, i) => el("td", numeric && numeric[i] ? { class: "num" } : {}, c))))));
}

async function showRuns(main) {
  const exps = (await api("POST", API + "experiments/search", { max_results: 50000 })).experiments || [];
  const names = Object.fromEntries(exps.map(e => [e.experiment_id, e.name]));
  const res = await api("POST", API + "runs/search", { experiment_ids: exps.map(e => e.experiment_id), max_results: 1000 });
  const runs = res.runs || [];
  main.replaceChildren(el("h1", {}, "Runs"));
  if (!runs.length) { main.append(el("p", { class: "muted" }, "No runs yet.")); return; }
  main.append(table(["Run", "Experiment", "Status", "Started", "Duration", "Metrics"], runs.map(r => [
    el("a", { href: "#/run/" + encodeURIComponent(r.info.run_id), class: "run-link" }, runName(r)),
    names[r.info.experiment_id] || r.info.experiment_id,
    el("span", { class: "status-" + r.info.status }, r.info.status),
    fmtTime(r.info.start_time), fmtDur(r.info.start_time, r.info.end_time),
    String(((r.data && r.data.metrics) || []).length),
  ]), [false, false, false, false, true, true]));
  main.querySelector("table").id = "runs";
}

// A line chart of one metric's history as inline SVG. `xr`: the step range
// every chart of the run shares, so series logged at different steps line up.
function chart(key, points, xr = [Infinity, -Infinity]) {
  const W = 520, H = 220, L = 58, R = 12, T = 10, B = 28;
  const pts = points.map(p => [Number(p.step), typeof p.value === "number" ? p.value : Number(p.value)])
    .filter(p => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  const xs = pts.map(p => p[0]), ys = pts.map(p => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs, xr[0]), Math.max(...xs, xr[1]), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("width", W); svg.setAttribute("height", H);
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e); return e;
  };
  add("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fbfcfd", stroke: "#d5dae0" });
  for (const f of [0, 0.5, 1]) {
    const y = y0 + f * (y1 - y0);
    add("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#e6e9ed" });
    add("text", { x: L - 6, y: sy(y) + 4, "text-anchor": "end" }, fmtNum(y));
  }
  add("text", { x: L, y: H - 8, "text-anchor": "start" }, "step " + fmtNum(x0));
  add("text", { x: W - R, y: H - 8, "text-anchor": "end" }, "step " + fmtNum(x1));
  const line = add("polyline", {
    points: pts.map(p => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" "),
    fill: "none", stroke: "#1565c0", "stroke-width": 2, class: "series",
  });
  line.dataset.points = String(pts.length);
  return el("figure", { class: "chart", "data-metric": key }, el("figcaption", {}, key + " ", el("span", { class: "muted" }, `(${pts.length} points)`)), svg);
}

async function listArtifacts(runId, path, out) {
  const q = "run_id=" + encodeURIComponent(runId) + (path ? "&path=" + encodeURIComponent(path) : "");
  const res = await api("GET", API + "artifacts/list?" + q);
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

// Follows the live feed of a running run (Server-Sent Events, read through
// fetch so the token can go in a header); calls onEvent(name, data) per event.
function follow(runId, onEvent) {
  const ctrl = new AbortController();
  const headers = { Accept: "text/event-stream" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  (async () => {
    const r = await fetch(LIVE + "?run_id=" + encodeURIComponent(runId), { headers, signal: ctrl.signal });
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

const pointId = p => p.step + "|" + p.timestamp + "|" + p.value;

async function showRun(main, runId) {
  const run = (await api("GET", API + "runs/get?run_id=" + encodeURIComponent(runId))).run;
  const info = run.info, data = run.data || {};
  // Open the feed before reading the histories, so no point falls between
  // the two; points that arrive through both are drawn once.
  const early = [];
  let onLive = (name, d) => early.push([name, d]);
  if (info.status === "RUNNING") live = follow(runId, (name, d) => onLive(name, d));
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← all runs")),
    el("h1", {}, "Run ", el("code", { id: "run-id" }, runName(run))),
    table(["Run id", "Status", "Started", "Ended", "Duration"], [[
      el("code", {}, info.run_id), el("span", { class: "status-" + info.status, id: "run-status" }, info.status),
      fmtTime(info.start_time), fmtTime(info.end_time), fmtDur(info.start_time, info.end_time)]]));

  const metrics = data.metrics || [];
  const histories = await Promise.all(metrics.map(m =>
    api("GET", API + "metrics/get-history?run_id=" + encodeURIComponent(runId) + "&metric_key=" + encodeURIComponent(m.key))
      .then(h => [m, h.metrics || []])));
  const charts = el("div", { class: "charts", id: "charts" });
  const scalars = [];
  const steps = histories.filter(([, h]) => h.length > 1).flatMap(([, h]) => h.map(p => Number(p.step)))
    .filter(Number.isFinite);
  const xr = [steps.reduce((a, b) => Math.min(a, b), Infinity), steps.reduce((a, b) => Math.max(a, b), -Infinity)];
  for (const [m, h] of histories) {
    if (h.length > 1) charts.append(chart(m.key, h, xr));
    else scalars.push([m.key, fmtNum(m.value), String(m.step || 0), fmtTime(m.timestamp)]);
  }
  main.append(el("h2", {}, "Charts"));
  if (!charts.childElementCount) main.append(el("p", { class: "muted", id: "no-charts" }, "No list or repeated metrics."));
  main.append(charts);
  const series = new Map(histories.map(([m, h]) => [m.key, h]));
  const seen = new Map(histories.map(([m, h]) => [m.key, new Set(h.map(pointId))]));
  onLive = (name, d) => {
    if (name === "status") {
      const s = document.getElementById("run-status");
      if (s) { s.textContent = d.status; s.className = "status-" + d.status; }
      return;
    }
    const touched = new Set();
    for (const p of d.metrics || []) {
      if (!series.has(p.key)) { series.set(p.key, []); seen.set(p.key, new Set()); }
      const id = pointId(p);
      if (seen.get(p.key).has(id)) continue;
      seen.get(p.key).add(id);
      series.get(p.key).push(p);
      touched.add(p.key);
    }
    for (const key of touched) {
      const pts = series.get(key);
      if (pts.length < 2) continue;
      const fig = chart(key, pts, xr);
      fig.dataset.liveAt = String(Date.now());
      const old = [...charts.children].find(f => f.dataset.metric === key);
      if (old) old.replaceWith(fig); else charts.append(fig);
      const none = document.getElementById("no-charts");
      if (none) none.remove();
    }
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
  const files = await listArtifacts(runId, "", []);
  main.append(el("h2", {}, "Artifacts"));
  if (!files.length) { main.append(el("p", { class: "muted" }, "No artifacts.")); return; }
  const base = ARTIFACTS + encodeURIComponent(info.experiment_id) + "/" + encodeURIComponent(info.run_id) + "/artifacts/";
  const t = table(["Path", "Size"], files.map(f => {
    const url = base + f.path.split("/").map(encodeURIComponent).join("/");
    const name = f.path.split("/").pop();
    return [el("a", { href: url, download: name, class: "artifact", onclick: download(url, name) }, f.path), String(f.file_size) + " B"];
  }), [false, true]);
  t.id = "artifacts"; main.append(t);
}

async function render() {
  const main = document.getElementById("main");
  document.body.dataset.state = "loading";
  if (live) { live.abort(); live = null; }
  try {
    const m = location.hash.match(/^#\/run\/(.+)$/);
    if (m) await showRun(main, decodeURIComponent(m[1])); else await showRuns(main);
    document.body.dataset.state = "ready";
  } catch (e) {
    main.replaceChildren(el("p", { class: "error" }, "Error: " + e.message));
    document.body.dataset.state = "error";
  }
}

window.addEventListener("hashchange", render);
render();
