// The history benchmark (bench/history.ts, `npm run bench:history`) at a small size, so that it cannot
// rot: 50 targets, one hour at 30 s. Asserts structure and memory (the measured bytes per target per
// hour match the computed ones), never timings.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { REPO } from "../support/paths.js";

test("npm run bench:history, small: memory as computed, every API call timed", () => {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", join(REPO, "dist/bench/history.js"), "--targets", "50", "--retention", "3600"],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const measured = /per target per hour, measured\s*\|\s+(\d+) B/.exec(r.stdout)?.[1];
  const computed = /per target per hour, computed\s*\|\s+(\d+) B/.exec(r.stdout)?.[1];
  assert.equal(computed, "2880");
  // Other ArrayBuffers the process makes meanwhile (few, small) may move the measured figure a little.
  assert.ok(Math.abs(Number(measured) - 2880) <= 2880 * 0.02, r.stdout);
  for (const call of [
    "/api/v1/status",
    "/api/v1/history, 200 ids, whole retention",
    "/api/v1/history, 200 ids, last hour",
  ])
    assert.match(r.stdout, new RegExp(`\\| ${call.replaceAll("/", "\\/")}[^|]*\\|\\s+[\\d.]+ ms`), call);
});
