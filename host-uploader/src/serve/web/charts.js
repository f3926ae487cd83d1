// Charts of metric series on uPlot (vendored: /vendor/uPlot.iife.min.js).
// A chart is a list of lines, each {label, steps, values}: one per run on
// the compare view, one per rank when a metric has several, so more lines
// are a change of data only. The x axis is the step (integer ticks); hover
// shows every line's value at the step under the cursor (uPlot's legend);
// the y axis can be logarithmic, and lines smoothed (exponential moving
// average, as TensorBoard does, the raw line kept faint underneath).
"use strict";

const COLORS = ["#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#8d6e00", "#ad1457", "#37474f", "#4e342e"];

// Numbers for people: at most 6 significant digits, no float noise
// (0.0567804 stays 0.0567804, 0.30000000000000004 becomes 0.3), exponents
// only for very large or very small magnitudes.
function fmtNum(v) {
  if (typeof v === "string") return v;
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-4)) return v.toExponential(3).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(6)));
}

// Tick increments for the step axis: integers only (1, 2, 5, 10, 20, 50, ...).
const STEP_INCRS = (() => {
  const out = [];
  for (let m = 1; m <= 1e15; m *= 10) out.push(m, 2 * m, 5 * m);
  return out;
})();

// Exponential moving average with TensorBoard's debiasing; `w` in [0, 1).
function smooth(values, w) {
  if (!w) return values;
  let last = 0, n = 0;
  return values.map(v => {
    if (v === null || !Number.isFinite(v)) return v;
    n++;
    last = last * w + (1 - w) * v;
    return last / (1 - Math.pow(w, n));
  });
}

// Whether every value of every line is positive (a log axis needs it).
function allPositive(lines) {
  return lines.every(l => l.values.every(v => v > 0));
}

// Tick labels; the last ones drawn are kept on the chart's element
// (data-xticks, data-yticks) for tests and tools.
function labels(u, which, ticks) {
  const out = ticks.map(t => fmtNum(t));
  u.root.dataset[which] = out.join(" ");
  return out;
}

// Draws `lines` into `host` (replacing what was there); options: {log,
// smoothing, width, height}. Returns the uPlot instance.
function drawChart(host, lines, opts) {
  const o = Object.assign({ log: false, smoothing: 0, width: 520, height: 240 }, opts);
  host.replaceChildren();
  const log = o.log && allPositive(lines);
  const data = uPlot.join(lines.map(l => [Float64Array.from(l.steps), Float64Array.from(l.values)]));
  const series = [{ label: "step", value: (u, v) => (v === null || v === undefined ? "" : fmtNum(v)) }];
  const smoothed = o.smoothing > 0;
  lines.forEach((l, i) => {
    const color = COLORS[i % COLORS.length];
    series.push({
      label: l.label, stroke: smoothed ? color + "40" : color, width: smoothed ? 1 : 1.5,
      spanGaps: true, points: { show: false }, value: (u, v) => fmtNum(v),
    });
  });
  if (smoothed) {
    lines.forEach((l, i) => {
      data.push(smooth(Array.from(data[1 + i]), o.smoothing));
      series.push({
        label: l.label + " (smoothed)", stroke: COLORS[i % COLORS.length], width: 2,
        spanGaps: true, points: { show: false }, value: (u, v) => fmtNum(v),
      });
    });
  }
  const plot = new uPlot({
    width: o.width, height: o.height,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: false }, y: { distr: log ? 3 : 1 } },
    axes: [
      { label: "step", incrs: STEP_INCRS, values: (u, ticks) => labels(u, "xticks", ticks), size: 36 },
      { values: (u, ticks) => labels(u, "yticks", ticks), size: 64 },
    ],
    legend: { live: true },
    series,
  }, data, host);
  plot.root.dataset.log = String(log);
  return plot;
}
