// Property test of the loader on configurations edited key by key (test/support/config-structured.ts:
// any key of the schema set to edge values, keys and entries deleted, entries copied under odd names),
// so that most cases parse and reach the schema, the cross-key rules and the build of the Config.
// Each must end as a Config or a ConfigError whose every error names a line and a key path (never the
// loader's "internal" rule, never another exception); an accepted Config must then work in what the
// daemon does with it: engine options, resolution, the probe plan, the metrics and their rendering.
// FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> changes its size.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { type Config, loadConfigText } from "../../src/config/load.js";
import { Engine, type IterationResult } from "../../src/engine/engine.js";
import { answerEverySend } from "../../src/engine/fake-answers.js";
import { engineOptions } from "../../src/engine/from-config.js";
import type { ProbePlan } from "../../src/engine/plan.js";
import type { SeriesResult } from "../../src/engine/results.js";
import { ConfigError } from "../../src/errors.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import { answerApi, WebState } from "../../src/web/api.js";
import { fuzzSeeds } from "../support/config-mutations.js";
import { buildStructured, structuredCases } from "../support/config-structured.js";
import { planConfig } from "../support/plan-config.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 800);
const FILE = "/etc/netprobify/netprobify.yaml";

/**
 * One iteration of the plan on fake sockets that answer every probe (timeouts raised: no race with
 * the machine's load): every probe sent, each answered exactly once, nothing refused or faulted, and
 * every packet the engine built parses.
 */
async function runPlan(config: Config, plan: ProbePlan): Promise<IterationResult> {
  const fake = new FakeBinding();
  const engine = new Engine({
    ...engineOptions(config),
    pps: Infinity,
    intervalPacketsMs: 0,
    iterationLimitMs: 120_000,
    sockets: new RawSockets(fake),
  });
  let unparsed = 0;
  const net = answerEverySend(fake, 50_000n, () => unparsed++);
  try {
    const r = await engine.run(plan);
    assert.deepEqual([...r.faults], []);
    assert.deepEqual([...r.sendErrors], []);
    const sum = (f: (s: SeriesResult) => number) => r.series.reduce((n, s) => n + f(s), 0);
    assert.equal(
      sum((s) => s.sent),
      plan.count,
      "every probe sent",
    );
    assert.equal(
      sum((s) => s.sent - s.lost - s.unreachable),
      plan.count,
      "every probe answered",
    );
    assert.equal(
      sum((s) => s.failed + s.duplicates),
      0,
    );
    assert.equal(unparsed, 0, "every packet the engine built parses");
    return r;
  } finally {
    net.stop();
    engine.close();
  }
}

describe(`structured config fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  test(`${RUNS} configurations edited key by key: a Config the daemon can use, or a ConfigError naming line and key`, async (t) => {
    console.log(`structured config fuzz: FUZZ_SEED=${SEED}`);
    const { valid } = fuzzSeeds();
    const rules = new Map<string, number>();
    let accepted = 0;
    let planned = 0;
    await fc.assert(
      fc.asyncProperty(structuredCases(valid.length), async (c) => {
        const text = buildStructured(valid, c);
        let config: Config;
        try {
          config = loadConfigText(FILE, text);
        } catch (err) {
          assert.ok(err instanceof ConfigError, `not a ConfigError: ${(err as Error)?.stack ?? err}`);
          assert.equal(err.file, FILE);
          const errors = err.diagnostics.filter((d) => d.severity === "error");
          assert.ok(errors.length > 0, "refused without an error");
          for (const d of errors) {
            assert.notEqual(d.rule, "internal", `${d.message}\n--- the file:\n${text}`);
            assert.ok(d.pos !== undefined && d.pos.line >= 1 && d.pos.col >= 1, `no position: ${d.message}`);
            rules.set(d.rule, (rules.get(d.rule) ?? 0) + 1);
          }
          return;
        }
        accepted++;
        const metrics = new Metrics({ version: "fuzz", processMetrics: false });
        const page = new WebState("fuzz");
        metrics.applyConfig(config);
        page.applyConfig(config);
        const plan = await planConfig(config, { most: 5000, minTimeout: 60 });
        if (plan) {
          // The iteration's results through the metrics (percentiles, histograms) and the status page.
          const r = await runPlan(config, plan);
          metrics.recordIteration(config, r);
          page.recordIteration(config, r);
          assert.equal(answerApi(page, "/api/v1/status", new URLSearchParams())?.status, 200);
          planned++;
        }
        for (const format of ["text", "openmetrics"] as const) {
          const body = (await metrics.snapshot(format)).body.toString();
          assert.match(body, /^netprobify_info\{/m);
          assert.doesNotMatch(body, /\bNaN\b.*_ratio|undefined/, "no undefined or NaN ratio rendered");
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(
      `seed ${SEED}: ${accepted} accepted (${planned} planned), refusals by rule ${JSON.stringify(Object.fromEntries(rules))}`,
    );
    assert.ok(accepted > RUNS / 10, `only ${accepted} accepted: the edits reach no deep check`);
  });
});
