// Fuzz of the daemon's reload path: a daemon (fake sockets, the real metrics and status-page state,
// a stub resolver: nothing leaves the process) runs a valid configuration; mutated files
// (test/support/config-mutations.ts, seeded from the fixtures and the shipped example) and files
// edited key by key (test/support/config-structured.ts) are written over it and reloaded one after another. Each reload must agree with loadConfig: a file it
// refuses keeps the running configuration object, raises the failure gauge and logs `file:line:col`;
// a file it accepts becomes the running configuration, renders as metrics and plans as probes. No
// reload may throw, hang or count an internal error. FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n>
// changes its size.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { DaemonReports } from "../../src/cli/daemon-reports.js";
import { loadConfig } from "../../src/config/load.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { Engine } from "../../src/engine/engine.js";
import { engineOptions } from "../../src/engine/from-config.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import { WebState } from "../../src/web/api.js";
import { buildCase, fuzzSeeds, mutatedCases } from "../support/config-mutations.js";
import { buildStructured, structuredCases } from "../support/config-structured.js";
import { capturedLogger } from "../support/log-capture.js";
import { planConfig, stubLookup } from "../support/plan-config.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

const dir = mkdtempSync(join(tmpdir(), "npf-reload-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const { valid, seeds } = fuzzSeeds();

/** Half mutated bytes and lines (mostly refused), half edited key by key (often accepted). */
const files = fc.oneof(
  mutatedCases(valid.length, seeds.length).map((c) => buildCase(seeds, c)),
  structuredCases(valid.length, 2).map((c) => buildStructured(valid, c)),
);

describe(`reload fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  test(`${RUNS} mutated files reloaded one after another: refused ones keep the running configuration, accepted ones run`, async (t) => {
    console.log(`reload fuzz: FUZZ_SEED=${SEED}`);
    const file = join(dir, "netprobify.yaml");
    writeFileSync(file, valid[0]!);
    const metrics = new Metrics({ version: "fuzz", processMetrics: false });
    const internal: string[] = [];
    const gauge: boolean[] = [];
    const reports = new DaemonReports(metrics, new WebState("fuzz"), (err) => internal.push(`page: ${err}`));
    const counted = Object.assign(Object.create(reports) as DaemonReports, {
      countInternalError: (where: string) => internal.push(where),
      setReloadConfFailed: (failed: boolean) => {
        gauge.push(failed);
        reports.setReloadConfFailed(failed);
      },
    });
    const { log, lines } = capturedLogger("DEBUG");
    const fake = new FakeBinding();
    const d = new Daemon({
      file,
      log,
      metrics: counted,
      lookup: stubLookup,
      openEngine: (c) => new Engine({ ...engineOptions(c), sockets: new RawSockets(fake) }),
    });
    await d.init();
    const outcomes = { applied: 0, refused: 0, probes: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(files, async (content) => {
          writeFileSync(file, content);
          const expected = await loadConfig(file).then(
            (config) => ({ config, error: undefined }),
            (error: unknown) => ({ config: undefined, error }),
          );
          const before = d.config;
          const logged = lines.length;
          gauge.length = 0;
          const ok = await d.reload();
          assert.deepEqual(internal, [], "no internal error");
          assert.equal(ok, expected.config !== undefined, `reload ${ok}, loadConfig: ${expected.error}`);
          assert.deepEqual(gauge, [!ok], "the failure gauge says how the reload went");
          if (!ok) {
            assert.equal(d.config, before, "a refused file keeps the running configuration");
            const said = lines.slice(logged).join("\n");
            assert.ok(said.includes(`${file}:`) && /:\d+:\d+ /.test(said), `no file:line:col in\n${said}`);
            assert.match(said, /reload refused/);
            outcomes.refused++;
          } else {
            assert.deepEqual([...d.config.targets.keys()], [...expected.config!.targets.keys()]);
            assert.equal(d.config.global.probe_name, expected.config!.global.probe_name);
            outcomes.probes += (await planConfig(d.config))?.count ?? 0;
            outcomes.applied++;
          }
          const text = (await metrics.snapshot("text")).body.toString();
          assert.match(text, /^netprobify_info\{/m, "the metrics still render");
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
      );
    } finally {
      await d.stop();
    }
    t.diagnostic(`seed ${SEED}: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.applied > 0 && outcomes.refused > 0, "both applied and refused reloads");
  });
});
