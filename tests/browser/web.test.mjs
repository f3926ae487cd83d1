// The web page of `runlog serve` in headless Chromium (playwright-core),
// over a real store written by a real C program under the real `runlog run`:
// search, the compare view, a run page (axes, hover, log scale, smoothing,
// previews, MLflow deep links) and a run page following a program that is
// still logging. Screenshots go to target/browser-artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import * as h from "./lib.mjs";

const why = h.missing();
const opts = why ? { skip: why } : {};
let dir, store, exe, server, browser;
const ids = {}; // lr -> run id
let sweepExp;

async function runId(lr) {
  const r = await h.call(server.url, "api/2.0/mlflow/runs/search", { experiment_ids: [], filter: `params.lr = '${lr}'` });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.runs.length, 1, `runs with lr ${lr}: ${JSON.stringify(r.json)}`);
  return r.json.runs[0].info;
}

before(async () => {
  if (why) return;
  dir = h.tempDir();
  store = join(dir, "store");
  exe = h.buildTrain(dir);
  for (const lr of ["0.1", "0.01", "0.001"]) h.runlogRun(store, "sweep", [exe, lr, "40"], dir);
  h.runlogRun(store, "other", [exe, "0.5", "10"], dir);
  server = await h.serve(store);
  for (const lr of ["0.1", "0.01", "0.001", "0.5"]) {
    const info = await runId(lr);
    ids[lr] = info.run_id;
    if (lr === "0.1") sweepExp = info.experiment_id;
  }
  browser = await h.launch();
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(hash) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", e => { throw e; });
  await page.goto(server.url + hash);
  await h.ready(page);
  return page;
}

const rowsShown = page => page.$$eval("#runs tbody tr", rows => rows.map(r => r.dataset.run));

test("the search box filters runs by a param", opts, async () => {
  const page = await open("#/");
  assert.deepEqual(new Set(await rowsShown(page)), new Set(Object.values(ids)));
  // Columns for params and latest metrics.
  for (const col of ["param:lr", "param:optimizer", "metric:loss", "metric:acc"]) {
    assert.ok(await page.$(`#runs th[data-col="${col}"]`), `no column ${col}`);
  }
  await page.fill("#search", "params.lr = '0.01'");
  await page.press("#search", "Enter");
  await page.waitForFunction(() => document.body.dataset.state === "ready" && location.hash.includes("filter"));
  assert.deepEqual(await rowsShown(page), [ids["0.01"]]);
  await h.screenshot(page, "runs-search.png");
  // A metric filter and a sort by a param column (descending) work the same way.
  await page.fill("#search", "metrics.acc > 0");
  await page.press("#search", "Enter");
  await page.waitForFunction(() => location.hash.includes("metrics.acc"));
  await h.ready(page);
  await page.click('#runs th[data-col="param:lr"] a');
  await page.waitForFunction(() => location.hash.includes("sort=param"));
  await h.ready(page);
  await page.click('#runs th[data-col="param:lr"] a');
  await page.waitForFunction(() => location.hash.includes("dir=desc"));
  await h.ready(page);
  assert.deepEqual(await rowsShown(page), ["0.5", "0.1", "0.01", "0.001"].map(lr => ids[lr]));
  // A filter the server refuses is said on the page, not a blank list.
  await page.fill("#search", "params.lr = '0.1' OR params.lr = '0.5'");
  await page.press("#search", "Enter");
  await page.waitForSelector("#search-error");
  assert.match(await page.textContent("#search-error"), /OR/);
  await page.close();
});

test("the compare view of 3 runs draws 3 lines per shared metric and the params diff", opts, async () => {
  const page = await open(`#/experiments/${sweepExp}`);
  assert.equal(await page.textContent("#exp-name"), "sweep");
  const sweep = ["0.1", "0.01", "0.001"].map(lr => ids[lr]);
  assert.deepEqual(new Set(await rowsShown(page)), new Set(sweep));
  for (const id of sweep) await page.check(`input.select[data-run="${id}"]`);
  await page.click("#compare");
  await page.waitForFunction(() => location.hash.startsWith("#/compare"));
  await h.ready(page);
  for (const metric of ["loss", "acc"]) {
    const fig = `figure.chart[data-metric="${metric}"]`;
    const drawn = await page.$eval(fig, f => ({
      lines: Number(f.dataset.lines),
      series: f.plot.series.length - 1,
      points: f.plot.data.slice(1).map(s => s.filter(v => v !== null && v !== undefined).length),
      labels: [...f.querySelectorAll(".u-legend .u-series th")].slice(1).map(t => t.textContent),
    }));
    assert.equal(drawn.lines, 3, JSON.stringify(drawn));
    assert.equal(drawn.series, 3, JSON.stringify(drawn));
    assert.deepEqual(drawn.points, [40, 40, 40], JSON.stringify(drawn));
    // Each line's color is on the canvas.
    const colors = await page.$eval(fig + " canvas", c => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const want = [[0x15, 0x65, 0xc0], [0xe6, 0x51, 0x00], [0x2e, 0x7d, 0x32]];
      const n = want.map(() => 0);
      for (let i = 0; i < d.length; i += 4) {
        want.forEach((w, k) => { if (Math.abs(d[i] - w[0]) + Math.abs(d[i + 1] - w[1]) + Math.abs(d[i + 2] - w[2]) < 40 && d[i + 3] > 200) n[k]++; });
      }
      return n;
    });
    assert.ok(colors.every(n => n > 30), `${metric}: pixels per line color ${colors}`);
  }
  // The params diff: lr differs (three values), optimizer is the same.
  const diff = await page.$$eval("#params-diff tbody tr", rows => rows.map(r => ({
    key: r.dataset.param, differs: r.classList.contains("differs"), values: [...r.querySelectorAll("td")].map(td => td.textContent) })));
  const lr = diff.find(r => r.key === "lr"), opt = diff.find(r => r.key === "optimizer");
  assert.ok(lr && lr.differs, JSON.stringify(diff));
  assert.deepEqual(new Set(lr.values), new Set(["0.1", "0.01", "0.001"]));
  assert.ok(opt && !opt.differs && opt.values.every(v => v === "sgd"), JSON.stringify(diff));
  await page.check("#only-diff");
  assert.equal(await page.isVisible('#params-diff tr[data-param="optimizer"]'), false);
  await h.screenshot(page, "compare.png");
  await page.close();
});

test("a run page: step axis, hover values, log scale, smoothing, artifact previews, MLflow deep links", opts, async () => {
  const id = ids["0.1"];
  // The link MLflow's client prints lands on the run.
  const page = await open(`#/experiments/${sweepExp}/runs/${id}`);
  assert.equal(await page.textContent("#run-status"), "FINISHED");
  const fig = 'figure.chart[data-metric="loss"]';
  const axes = await page.$eval(fig, f => ({ x: f.querySelector(".uplot").dataset.xticks, y: f.querySelector(".uplot").dataset.yticks }));
  const xs = axes.x.split(" ");
  assert.ok(xs.length >= 3, `x ticks: ${axes.x}`);
  assert.ok(xs.every(t => /^-?\d+$/.test(t)), `x ticks not integer steps: ${axes.x}`);
  assert.ok(axes.y.split(" ").every(t => t.length <= 8 && !t.startsWith(".")), `y labels: ${axes.y}`);
  // Hover: the legend shows the value at the step under the cursor.
  const over = await page.$(fig + " .u-over");
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const hover = await page.$eval(fig, f => [...f.querySelectorAll(".u-legend .u-series td.u-value")].map(t => t.textContent));
  assert.match(hover[0], /^\d+$/, `step under the cursor: ${hover}`);
  assert.ok(Number.isFinite(Number(hover[1])) && hover[1] !== "", `value under the cursor: ${hover}`);
  // Log scale and smoothing.
  await page.check("#log-scale");
  assert.equal(await page.$eval(fig, f => f.plot.scales.y.distr), 3);
  await page.$eval("#smoothing", e => { e.value = "0.8"; e.dispatchEvent(new Event("input")); });
  const smoothed = await page.$eval(fig, f => f.plot.series.map(s => s.label));
  assert.deepEqual(smoothed.slice(1), ["loss", "loss (smoothed)"]);
  // The text artifact is shown in the page; the image on a click.
  await page.waitForSelector("#preview pre");
  assert.match(await page.textContent("#preview pre"), /learning rate 0\.1, 40 steps/);
  await page.click('button.preview[data-path="plots/curve.svg"]');
  await page.waitForFunction(() => { const i = document.querySelector("#preview img"); return i && i.complete && i.naturalWidth === 120; });
  await h.screenshot(page, "run-page.png");
  await page.close();
});

test("a run page shows new points while a C program is still logging, within 2 s", opts, async () => {
  const child = h.runlogRunLive(store, "live", [exe, "0.2", "3", "live"], dir);
  try {
    await h.waitLine(child, /ready/);
    const info = await runId("0.2");
    const page = await open(`#/run/${info.run_id}`);
    assert.equal(await page.textContent("#run-status"), "RUNNING");
    const points = () => page.$eval('figure.chart[data-metric="loss"]', f => Number(f.dataset.points));
    assert.equal(await points(), 3);
    await page.waitForTimeout(1000); // the page's live feed connects
    const lags = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      child.stdin.write("\n");
      await page.waitForFunction(n => Number(document.querySelector('figure.chart[data-metric="loss"]').dataset.points) === n, 4 + i, { timeout: 10000 });
      lags.push(Date.now() - t0);
      assert.equal(child.exitCode, null, "the program is still running");
    }
    console.log(`new points drawn ${lags.join(", ")} ms after the program was told to log them`);
    assert.ok(lags.every(ms => ms < 2000), `lags ${lags}`);
    assert.equal(await page.$eval('figure.chart[data-metric="acc"]', f => Number(f.dataset.points)), 6);
    await h.screenshot(page, "live-run.png");
    child.stdin.end();
    await page.waitForFunction(() => document.getElementById("run-status").textContent === "FINISHED", null, { timeout: 15000 });
    await page.close();
  } finally {
    if (child.exitCode === null) child.kill();
  }
});

test("a run of 3 ranks: one chart per metric with a line per rank, labelled by rank", opts, async () => {
  // Its own store and server: the other tests count the runs of theirs.
  const rdir = h.tempDir();
  const rstore = join(rdir, "store");
  const rserver = { stop() {} };
  try {
    // Three ranks of one run, each under its own `runlog run` (as torchrun
    // or srun wrap each process); rank r logs 10 + 5r steps.
    for (const rank of [0, 1, 2]) {
      execFileSync(h.RUNLOG, ["--tracking-uri", rstore, "run", "--experiment", "ranks", "--no-system-metrics", "--", exe, "0.3", String(10 + 5 * rank)], {
        cwd: rdir, stdio: ["ignore", "ignore", "inherit"], timeout: 60000,
        env: { ...process.env, RUNLOG_RUN_ID: "ranks-run", RUNLOG_RANK: String(rank), RUNLOG_WORLD_SIZE: "3", RUNLOG_NODE: "nodeA" },
      });
    }
    Object.assign(rserver, await h.serve(rstore));
    // The chart data endpoint gives every rank's series, with its rank.
    const api = await h.call(rserver.url, "api/2.0/runlog/metrics/chart?run_id=ranks-run&metric_key=loss%2Frank1");
    assert.equal(api.status, 200, JSON.stringify(api.json));
    assert.equal(api.json.logged_name, "loss");
    assert.deepEqual(api.json.series.map(s => [s.metric_key, s.rank, s.values.length]),
      [["loss", 0, 10], ["loss/rank1", 1, 15], ["loss/rank2", 2, 20]]);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", e => { throw e; });
    await page.goto(rserver.url + "#/run/ranks-run");
    await h.ready(page);
    assert.equal(await page.textContent("#run-status"), "FINISHED");
    const figures = await page.$$eval("figure.chart", fs => fs.map(f => f.dataset.metric));
    assert.deepEqual(figures.sort(), ["acc", "loss"], "one chart per metric, none per rank");
    for (const metric of ["loss", "acc"]) {
      const drawn = await page.$eval(`figure.chart[data-metric="${metric}"]`, f => ({
        lines: Number(f.dataset.lines),
        labels: f.plot.series.slice(1).map(s => s.label),
        points: f.plot.data.slice(1).map(s => s.filter(v => v !== null && v !== undefined).length),
      }));
      assert.equal(drawn.lines, 3, JSON.stringify(drawn));
      assert.deepEqual(drawn.labels, ["rank 0", "rank 1", "rank 2"], JSON.stringify(drawn));
      assert.deepEqual(drawn.points, [10, 15, 20], JSON.stringify(drawn));
    }
    await h.screenshot(page, "ranks-run.png");
    await page.close();
  } finally {
    rserver.stop();
    rmSync(rdir, { recursive: true, force: true });
  }
});

test("a rank that starts logging while its run's page is open gets a line in the same chart", opts, async () => {
  const rdir = h.tempDir();
  const rstore = join(rdir, "store");
  const env = rank => ({ ...process.env, RUNLOG_RUN_ID: "live-ranks", RUNLOG_RANK: String(rank), RUNLOG_WORLD_SIZE: "2", RUNLOG_NODE: "nodeA" });
  const args = steps => ["--tracking-uri", rstore, "run", "--experiment", "ranks", "--no-system-metrics", "--", exe, "0.3", steps];
  // Rank 0 logs 3 steps, then waits (live mode) while the page is open.
  const child = spawn(h.RUNLOG, [...args("3"), "live"], { cwd: rdir, stdio: ["pipe", "pipe", "inherit"], env: env(0) });
  const rserver = { stop() {} };
  try {
    await h.waitLine(child, /ready/);
    Object.assign(rserver, await h.serve(rstore));
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", e => { throw e; });
    await page.goto(rserver.url + "#/run/live-ranks");
    await h.ready(page);
    const fig = 'figure.chart[data-metric="loss"]';
    assert.equal(await page.$eval(fig, f => f.dataset.lines), "1");
    await page.waitForTimeout(1000); // the page's live feed connects
    // Rank 1 logs 5 steps and ends: its series is new to the page.
    execFileSync(h.RUNLOG, args("5"), { cwd: rdir, stdio: ["ignore", "ignore", "inherit"], timeout: 60000, env: env(1) });
    await page.waitForFunction(f => document.querySelector(f).dataset.lines === "2", fig, { timeout: 15000 });
    const drawn = await page.$eval(fig, f => ({
      labels: f.plot.series.slice(1).map(s => s.label),
      points: f.plot.data.slice(1).map(s => s.filter(v => v !== null && v !== undefined).length),
    }));
    assert.deepEqual(drawn, { labels: ["rank 0", "rank 1"], points: [3, 5] }, JSON.stringify(drawn));
    const figures = await page.$$eval("figure.chart", fs => fs.map(f => f.dataset.metric).sort());
    assert.deepEqual(figures, ["acc", "loss"], "no chart of its own for a rank");
    child.stdin.end();
    await page.close();
  } finally {
    if (child.exitCode === null) child.kill();
    rserver.stop();
    rmSync(rdir, { recursive: true, force: true });
  }
});
