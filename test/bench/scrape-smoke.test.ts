// The scrape benchmark (bench/scrape.ts, `npm run bench:scrape`) in its smoke size, so that it cannot
// rot: 50 targets, 0 and 2 scrapers, 3 s each, the real daemon in the lab. Asserts structure only —
// both phases present, iterations counted, scrapes answered in full (gzip, decompressed), both reloads
// applied — never timings or ratios. Needs root (the lab).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { REPO } from "../support/paths.js";

describe("npm run bench:scrape, smoke size (needs root)", () => {
  const dir = mkdtempSync(join(tmpdir(), "npf-bench-scrape-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("both phases measured, scrapes whole, reloads applied", () => {
    const r = spawnSync(process.execPath, [join(REPO, "dist/bench/scrape.js"), "--smoke", "--out", dir], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stdout, /\| scrapers \| iterations \|/);
    assert.match(r.stdout, /ratio to the rate without scrapers/);
    const j = JSON.parse(readFileSync(join(dir, "scrape.json"), "utf8")) as {
      targets: number;
      phases: {
        scrapers: number;
        iterations: number;
        rate: number;
        scrapes: number;
        bytes: number;
        wire: number;
        scrapeErrors: number;
        non200: number;
      }[];
      reloadIdleMs: number;
      reloadLoadedMs: number;
    };
    assert.equal(j.targets, 50);
    assert.deepEqual(
      j.phases.map((p) => p.scrapers),
      [0, 2],
    );
    for (const p of j.phases) {
      assert.ok(p.iterations >= 2, `${p.scrapers} scrapers: ${p.iterations} iterations`);
      assert.ok(p.rate > 0);
    }
    const loaded = j.phases[1]!;
    assert.ok(loaded.scrapes > 0);
    assert.equal(loaded.scrapeErrors + loaded.non200, 0);
    assert.ok(loaded.bytes > loaded.wire, "gzip on the wire, the exposition decompressed");
    assert.ok(Number.isFinite(j.reloadIdleMs) && Number.isFinite(j.reloadLoadedMs));
  });
});
