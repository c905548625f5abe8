// The nb_proc table of `npm run bench` (bench/lib/suite-report.ts): each compared nb_proc's matched
// rate beside the C reference of the same row, and their ratio; the targets judged on the rows.
// Pure: built from hand-made results.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DaemonRow } from "../../bench/lib/daemon-run.js";
import { configYaml } from "../../bench/lib/suite-lab.js";
import { checkTargets, nbProcTable, type ScenarioResult } from "../../bench/lib/suite-report.js";
import type { NetprobifyRun, RefRun } from "../../bench/lib/suite-run.js";

const run = (nbProc: number, activeSeconds: number, clean = true) =>
  ({ nbProc, sent: 10_000, lost: 0, activeSeconds, iterationSeconds: 1, wire: null, clean }) as NetprobifyRun;
const c = (matchedPps: number) => ({ matchedPps }) as RefRun;
const row = (nbProcRuns: NetprobifyRun[], cPps: number): ScenarioResult =>
  ({
    scenario: { type: "TCPsyn", family: "ipv4", targets: 100, packets: 100, lossPct: 0 },
    nbProcRuns,
    cFree: c(cPps),
  }) as unknown as ScenarioResult;

test("nbProcTable: each nb_proc's rate and ratio to C, and 2 ÷ 1", () => {
  const md = nbProcTable([row([run(1, 0.2), run(2, 0.1, false)], 125_000), row([], 1)]);
  const lines = md.split("\n");
  assert.equal(lines.length, 3, "header, separator, one row (a row comparing nothing is left out)");
  assert.deepEqual(
    lines[0]!
      .split("|")
      .map((x) => x.trim())
      .filter(Boolean),
    [
      "type",
      "fam",
      "targets×pkts",
      "loss",
      "probes",
      "nb_proc 1 /s",
      "÷ C",
      "nb_proc 2 /s",
      "÷ C",
      "C /s, no capture",
      "nb_proc 2 ÷ 1",
    ],
  );
  assert.deepEqual(
    lines[2]!
      .split("|")
      .map((x) => x.trim())
      .filter(Boolean),
    ["TCPsyn", "v4", "100×100", "0 %", "10,000", "50,000", "0.40", "100,000 (!)", "0.80", "125,000", "2.00"],
  );
});

test("configYaml: nb_proc as asked, else the bench's default", () => {
  const base = { type: "TCPsyn" as const, family: "ipv4" as const, blocks: [], packets: 1, timeout: 1 };
  assert.match(configYaml({ ...base, nbProc: 1 }), /^ {2}nb_proc: 1$/m);
  assert.match(configYaml(base), /^ {2}nb_proc: 2$/m);
});

test("checkTargets: 0.9 × C at 100,000 probes and more, 0.8 below; the daemon's CPU against fping's", () => {
  const free = (targets: number, activeSeconds: number, cPps: number) =>
    ({
      scenario: { type: "ICMPping", family: "ipv6", targets, packets: 100, lossPct: 0 },
      netprobify: { sent: targets * 100, lost: 0, activeSeconds, iterationSeconds: 1 },
      netprobifyFree: { sent: targets * 100, lost: 0, activeSeconds, iterationSeconds: 1, wire: null },
      cFree: c(cPps),
    }) as unknown as ScenarioResult;
  // 10,000 probes at 0.85 × C, 100,000 at 0.85 × C: the first passes 0.8, the second misses 0.9.
  const rows = [free(100, 10_000 / 85_000, 100_000), free(1000, 100_000 / 85_000, 100_000)];
  const daemon = (us: number) =>
    ({
      scenario: { type: "ICMPping", targets: 500, packets: 20 },
      daemonUsPerProbe: us,
      ref: { tool: "fping", usPerProbe: 10 },
    }) as unknown as DaemonRow;
  const checks = checkTargets(rows, 1, [daemon(9.5), daemon(10.5)]);
  const find = (prefix: string) => checks.filter((x) => x.target.startsWith(prefix));
  assert.deepEqual(
    find("matched probes/s ≥ 80 %").map((x) => [x.measured, x.pass]),
    [["worst 0.85 (0.85, 0.85)", true]],
  );
  assert.deepEqual(
    find("matched probes/s ≥ 90 %").map((x) => [x.target, x.measured, x.pass]),
    [
      [
        "matched probes/s ≥ 90 % of the C limit at ≥ 100,000 probes (no capture): ICMPping ipv6",
        "worst 0.85 (0.85)",
        false,
      ],
    ],
  );
  assert.deepEqual(
    find("daemon CPU").map((x) => [x.measured, x.pass]),
    [
      ["9.50 ÷ 10.00 µs = 0.95", true],
      ["10.50 ÷ 10.00 µs = 1.05", false],
    ],
  );
});
