// Benchmark: a run page over a long series. A C program logs STEPS (default
// 1,000,000) steps of `loss` and `acc` under the real `runlog run`; then,
// against the real `runlog serve`, in one run and side by side:
//   - the chart endpoint (what the page reads, max_points=2000) for `loss`;
//   - the whole history through `metrics/get-history` pages of 25,000 (what
//     the page read before the chart endpoint, and what MLflow's UI reads);
//   - the run page in headless Chromium: time until drawn, and the time one
//     hover takes to update the legend (responsiveness).
// Prints medians with min and max. Usage: node bench-chart.mjs [STEPS] [REPS]
import { performance } from "node:perf_hooks";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { cpus, loadavg } from "node:os";
import * as h from "./lib.mjs";

const STEPS = Number(process.argv[2] || 1000000);
const REPS = Number(process.argv[3] || 15);
const why = h.missing();
if (why) { console.error("cannot run: " + why); process.exit(1); }

const stats = xs => {
  const s = [...xs].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { med, min: s[0], max: s[s.length - 1] };
};
const show = (name, xs, unit = "ms") => {
  const { med, min, max } = stats(xs);
  const f = x => (x < 1 ? x.toFixed(3) : x.toFixed(1));
  console.log(`${name}: median ${f(med)} ${unit} (min ${f(min)}, max ${f(max)}; ${xs.length} runs)`);
  return med;
};

const dir = h.tempDir();
const store = join(dir, "store");
let server, browser;
try {
  const exe = h.buildTrain(dir);
  let t = performance.now();
  h.runlogRun(store, "bench", [exe, "0.000001", String(STEPS)], dir);
  console.log(`logged and stored ${STEPS} steps of 2 metrics in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  server = await h.serve(store);
  const search = await h.call(server.url, "api/2.0/mlflow/runs/search", { experiment_ids: [] });
  const run = search.json.runs[0].info.run_id;
  const chartUrl = `${server.url}api/2.0/runlog/metrics/chart?run_id=${run}&metric_key=loss&max_points=2000`;
  const chartTimes = [], historyTimes = [];
  let drawn = 0, all = 0;
  for (let i = 0; i < REPS; i++) {
    t = performance.now();
    const c = await (await fetch(chartUrl)).json();
    chartTimes.push(performance.now() - t);
    drawn = c.series[0].steps.length;
    if (i < 3) { // the whole history is slow: three runs, interleaved
      t = performance.now();
      let token = "", n = 0;
      do {
        const r = await (await fetch(`${server.url}api/2.0/mlflow/metrics/get-history?run_id=${run}&metric_key=loss&max_results=25000${token ? "&page_token=" + token : ""}`)).json();
        n += r.metrics.length;
        token = r.next_page_token || "";
      } while (token);
      historyTimes.push(performance.now() - t);
      all = n;
    }
  }
  console.log(`machine: ${cpus().length} cores (${cpus()[0].model}), load average ${loadavg().map(x => x.toFixed(1)).join(" ")}`);
  const c = show(`chart endpoint, ${STEPS}-point series -> ${drawn} points`, chartTimes);
  const g = show(`get-history, all ${all} points in pages of 25,000`, historyTimes);
  console.log(`ratio: the chart endpoint is ${(g / c).toFixed(0)}x faster than reading the whole history`);

  browser = await h.launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const loads = [], hovers = [];
  for (let i = 0; i < 5; i++) {
    t = performance.now();
    await page.goto(`${server.url}?r=${i}#/run/${run}`);
    await h.ready(page);
    loads.push(performance.now() - t);
  }
  show("run page drawn (2 charts of the series, from navigation)", loads);
  // Hover: mouse moves across the chart, each until uPlot has updated the legend.
  const per = await page.evaluate(() => {
    const f = document.querySelector('figure.chart[data-metric="loss"]');
    const over = f.querySelector(".u-over"), r = over.getBoundingClientRect();
    const out = [], seen = new Set();
    for (let b = 0; b < 10; b++) { // 10 batches of 100 moves: per move, the batch's time / 100
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) {
        over.dispatchEvent(new MouseEvent("mousemove", { clientX: r.left + 5 + ((b * 100 + i) * 7) % (r.width - 10), clientY: r.top + r.height / 2, bubbles: true }));
        seen.add(f.querySelector(".u-legend .u-series td.u-value").textContent);
      }
      out.push((performance.now() - t0) / 100);
    }
    if (seen.size < 50) throw new Error("the legend did not follow the cursor: " + seen.size + " distinct steps");
    return out;
  });
  show("one hover (cursor moved, legend updated; mean of 100 per batch)", per);
  await h.screenshot(page, "bench-run-page-1M.png");
} finally {
  if (browser) await browser.close();
  if (server) server.stop();
  rmSync(dir, { recursive: true, force: true });
}
