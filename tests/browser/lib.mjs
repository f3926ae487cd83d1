// What the browser tests share: the real `runlog` binary and librunlog from
// target/release, a C training program compiled against include/runlog.h,
// a real `runlog serve` on loopback, and headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core. A missing component skips a
// test locally and fails it under CI=true.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const RUNLOG = process.env.RUNLOG_BIN || join(ROOT, "target/release/runlog");
export const LIBDIR = process.env.RUNLOG_LIB_DIR || join(ROOT, "target/release");
export const CHROMIUM = process.env.RUNLOG_CHROMIUM || "/usr/bin/chromium";
/// Where screenshots go (kept by CI as test artifacts).
export const ARTIFACTS = process.env.RUNLOG_BROWSER_ARTIFACTS || join(ROOT, "target/browser-artifacts");

/// Why the tests cannot run here, or null. Under CI a reason fails instead.
export function missing() {
  for (const [path, what] of [[RUNLOG, "the runlog binary (cargo build --release -p runlog-uploader)"],
    [join(LIBDIR, "librunlog.a"), "librunlog.a (cargo build --release -p runlog-ffi)"], [CHROMIUM, "chromium (Debian package)"]]) {
    if (!existsSync(path)) {
      if (process.env.CI) throw new Error(`CI: ${path} is missing: ${what}`);
      return `${path} is missing: ${what}`;
    }
  }
  return null;
}

export function tempDir() { return mkdtempSync(join(tmpdir(), "runlog-browser-")); }

/// Compiles tests/browser/train.c against the header and librunlog.a.
export function buildTrain(dir) {
  const exe = join(dir, "train");
  execFileSync("cc", ["-std=c11", "-Wall", "-Werror", "-I", join(ROOT, "include"), join(ROOT, "tests/browser/train.c"),
    join(LIBDIR, "librunlog.a"), "-lpthread", "-ldl", "-lm", "-o", exe], { stdio: "inherit" });
  return exe;
}

/// Runs `runlog --tracking-uri STORE run --experiment EXP -- ARGS` to the end.
export function runlogRun(store, exp, args, cwd) {
  execFileSync(RUNLOG, ["--tracking-uri", store, "run", "--experiment", exp, "--", ...args],
    { cwd, stdio: ["ignore", "ignore", "inherit"], timeout: 60000 });
}

/// Starts `runlog run` with the program's stdin and stdout as pipes.
export function runlogRunLive(store, exp, args, cwd) {
  return spawn(RUNLOG, ["--tracking-uri", store, "run", "--experiment", exp, "--", ...args],
    { cwd, stdio: ["pipe", "pipe", "inherit"] });
}

/// Waits (bounded) until `child`'s stdout has printed a line matching `re`.
export function waitLine(child, re, ms = 30000) {
  return new Promise((ok, fail) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`no line matching ${re} within ${ms} ms: ${buf}`)), ms);
    const on = d => {
      buf += d;
      if (re.test(buf)) { clearTimeout(timer); child.stdout.off("data", on); ok(buf); }
    };
    child.stdout.on("data", on);
  });
}

/// Starts `runlog serve` on a free loopback port; resolves to {url, stop}.
export function serve(store) {
  const child = spawn(RUNLOG, ["--tracking-uri", store, "serve", "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((ok, fail) => {
    let err = "";
    const timer = setTimeout(() => { child.kill(); fail(new Error("runlog serve did not start: " + err)); }, 30000);
    child.stderr.on("data", d => {
      err += d;
      const m = err.match(/http:\/\/(127\.0\.0\.1:\d+)\//);
      if (m) { clearTimeout(timer); ok({ url: `http://${m[1]}/`, stop: () => child.kill() }); }
    });
    child.on("exit", c => { clearTimeout(timer); fail(new Error(`runlog serve exited (${c}): ${err}`)); });
  });
}

/// Calls serve's JSON API from the test (not the page).
export async function call(base, path, body) {
  const r = await fetch(base + path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

export async function launch() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
}

/// Waits until the page has drawn (body[data-state] ready) and returns it.
export async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.state === "ready" || document.body.dataset.state === "error", null, { timeout: 30000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "ready") throw new Error("page error: " + await page.textContent("#main"));
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}
