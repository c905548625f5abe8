// bench/first-iteration.ts (`npm run bench:first-iteration`) at a tiny size, so that it cannot rot:
// fresh processes with and without the warm-up, each running the plan in the lab and reporting every
// iteration. Structure only, never timings. Needs root (the lab).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { REPO } from "../support/paths.js";

describe("npm run bench:first-iteration, tiny size (needs root)", () => {
  const dir = mkdtempSync(join(tmpdir(), "npf-bench-first-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("each setting's trials ran every iteration of the whole plan, nothing lost", () => {
    const args = ["--sizes", "16x2", "--warmup", "0,8", "--trials", "2", "--iterations", "2", "--out", dir];
    const r = spawnSync(process.execPath, [join(REPO, "dist/bench/first-iteration.js"), ...args], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const j = JSON.parse(readFileSync(join(dir, "first-iteration.json"), "utf8")) as {
      trials: { warmUp: number; probes: number; iterations: { cpuUsPerProbe: number; lost: number }[] }[];
    };
    assert.deepEqual(
      j.trials.map((t) => t.warmUp),
      [0, 8, 0, 8],
      "settings alternate trial by trial",
    );
    for (const t of j.trials) {
      assert.equal(t.probes, 32);
      assert.equal(t.iterations.length, 2);
      for (const it of t.iterations) {
        assert.equal(it.lost, 0);
        assert.ok(it.cpuUsPerProbe > 0);
      }
    }
    assert.match(r.stdout, /\| warm-up probes \|/);
  });
});
