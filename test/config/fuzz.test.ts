// Fuzzing `netprobify check` with mutated configurations: every fixture (valid and invalid) and the
// shipped examples/netprobify.yaml is a seed; mutations (test/support/config-mutations.ts) flip
// bytes, delete or duplicate lines, insert aliases, anchors, merge keys, tags (`!!python/object`),
// deep nesting, huge repetitions, invalid UTF-8, NUL bytes and CRLF. Each case must end in exit 0,
// or 65 with `file:line:col` on the refusal, never a stack trace, another code, an "internal error"
// diagnostic or a long run. Thousands of cases go in-process through main() (the function
// bin/netprobify.js runs), a few dozen through the real command. The seed is printed;
// FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> changes its size.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { main } from "../../src/cli/main.js";
import { buildCase, fuzzSeeds, type MutatedCase, mutatedCases } from "../support/config-mutations.js";
import { BIN } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
/**
 * Far above a real check (a few ms; 3-6 s for a 3 MB file with 37,000 errors on a loaded machine); a
 * case that expands or recurses without bound takes far longer.
 */
const CASE_MS = 15_000;
/** Where the last failing case is copied. */
const FAILED = join(tmpdir(), "netprobify-fuzz-failure.yaml");

const { valid, seeds } = fuzzSeeds();
const cases = mutatedCases(valid.length, seeds.length);
const build = (c: MutatedCase): Buffer => buildCase(seeds, c);

/** What a case must satisfy, whichever way `check` was run. */
function assertOutcome(file: string, code: number | null, err: string, ms: number): void {
  const lines = err.split("\n");
  assert.ok(code === 0 || code === 65, `exit ${code}:\n${err.slice(0, 2000)}`);
  assert.doesNotMatch(
    err,
    /internal error|^\s+at .+:\d+:\d+\)?$/m,
    `a stack trace or an internal error:\n${err.slice(0, 2000)}`,
  );
  if (code === 65) {
    const at = `${file}:`;
    assert.ok(
      lines.some((l) => l.startsWith(at) && /^:\d+:\d+ /.test(l.slice(file.length))),
      `refused without file:line:col:\n${err.slice(0, 2000)}`,
    );
    assert.match(err, /configuration refused \[NPF_CONFIG_INVALID\]\n$/);
  }
  assert.ok(ms < CASE_MS, `took ${Math.round(ms)} ms`);
}

describe(`config fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  test(`${RUNS} mutated configurations through check, in-process`, async (t) => {
    t.diagnostic(`seed ${SEED}, ${RUNS} runs, ${seeds.length} seed files`);
    console.log(`config fuzz: FUZZ_SEED=${SEED}`);
    const file = join(dir, "case.yaml");
    const codes = new Map<number, number>();
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        writeFileSync(file, build(c));
        let err = "";
        const t0 = performance.now();
        const code = await main(["check", file], {
          out: () => {},
          err: (l) => {
            err += `${l}\n`;
          },
        });
        try {
          const ms = performance.now() - t0;
          slowest = Math.max(slowest, ms);
          assertOutcome(file, code, err, ms);
        } catch (e) {
          copyFileSync(file, FAILED); // kept for a look: the temporary directory goes
          throw e;
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(
      `exit codes: ${JSON.stringify(Object.fromEntries(codes))}, slowest case ${Math.round(slowest)} ms`,
    );
    assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(65) ?? 0) > 0, "both valid and refused cases");
  });

  test("huge documents: 5,000 targets, valid, with a bad indentation, with an unknown key at the end", async () => {
    const lines = [
      "global: {probe_name: p, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9000, dns_update_interval: 0}",
      "groups: {g: {}}",
      "targets:",
    ];
    for (let i = 0; i < 5_000; i++)
      lines.push(
        `  t${i}:`,
        "    type: TCPsyn",
        `    destination: 198.18.${i >> 8}.${i & 255}`,
        "    dst_port: 443",
        "    nb_packets: 10",
      );
    const variants: [string, string[]][] = [
      ["valid", lines],
      ["bad indentation", lines.map((l, i) => (i === 300 ? ` ${l.trimStart()}` : l))],
      ["unknown key", [...lines, "    dst_prot: 80"]],
    ];
    for (const [what, text] of variants) {
      const file = join(dir, "huge.yaml");
      writeFileSync(file, `${text.join("\n")}\n`);
      let err = "";
      const t0 = performance.now();
      const code = await main(["check", file], { out: () => {}, err: (l) => (err += `${l}\n`) });
      assertOutcome(file, code, err, performance.now() - t0);
      assert.equal(code, what === "valid" ? 0 : 65, `${what}: ${err.slice(0, 500)}`);
    }
  });

  test("a few dozen through the real netprobify check", async (t) => {
    const samples = fc.sample(cases, { seed: SEED + 1, numRuns: 24 });
    for (const [k, c] of samples.entries()) {
      const file = join(dir, `sub-${k}.yaml`);
      writeFileSync(file, build(c));
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [BIN, "check", file], {
        encoding: "utf8",
        timeout: 30_000,
        maxBuffer: 1 << 28, // 20,000 duplicated lines are 20,000 diagnostics
      });
      // A process start costs ~0.3 s (more on a loaded machine): the bound is the spawn timeout.
      assertOutcome(file, r.status, r.stderr, 0);
      t.diagnostic(`case ${k}: exit ${r.status}, ${Math.round(performance.now() - t0)} ms`);
    }
  });
});
