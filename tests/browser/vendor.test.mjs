// The charting library the page ships (host-uploader/src/serve/web/vendor/)
// is byte for byte the file of the npm package that package-lock.json pins:
// updating one without the other fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "../../host-uploader/src/serve/web/vendor");
const pkg = dirname(createRequire(import.meta.url).resolve("uplot/package.json"));

test("vendored uPlot equals the pinned npm package", () => {
  const lock = JSON.parse(readFileSync(join(here, "package-lock.json"), "utf8"));
  const pinned = lock.packages["node_modules/uplot"].version;
  assert.equal(JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version, pinned);
  for (const [ours, theirs] of [
    ["uPlot.iife.min.js", "dist/uPlot.iife.min.js"],
    ["uPlot.min.css", "dist/uPlot.min.css"],
    ["LICENSE", "LICENSE"],
  ]) {
    assert.ok(readFileSync(join(vendor, ours)).equals(readFileSync(join(pkg, theirs))), `${ours} differs from uplot@${pinned} ${theirs}`);
  }
  assert.match(readFileSync(join(vendor, "uPlot.iife.min.js"), "utf8"), new RegExp(`\\(v${pinned.replace(/\./g, "\\.")}\\)`));
});
