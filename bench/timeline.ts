// Where one short iteration loses time against the C reference (issue 17, the 10,000-probe rows of
// `npm run bench`): `netprobify run --once` without capture, as the suite runs it, then its probe log
// read as a timeline of kernel timestamps: the iteration's start (the process's clock) to the first
// probe leaving, when each tenth of the probes had left and at what rate, the longest pauses between
// two probes leaving (and where), the last probe leaving to the last answer, and the matched rate
// beside the C reference's in the same lab, alternated. With --cpu-prof DIR, the netprobify processes
// also write V8 CPU profiles there.
// Run: npm run build && flock /tmp/npf-bench.lock sh src/lab/enter.sh node dist/bench/timeline.js
//      [--type tcp|icmp|udp] [--family ipv4|ipv6] [--size 100x100] [--nb-proc 2] [--runs 3] [--cpu-prof DIR]
//      [--env "A=0;A=1"] (netprobify's environment, the sets alternated run by run)
//      [--node-flags "--trace-opt --trace-gc" --trace DIR] (node's own flags for netprobify; what V8's
//      traces print goes to DIR/run-N.txt)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ProbeKind } from "../src/engine/plan.js";
import { intFlag, markdownTable, median, stringFlag, thousands } from "./lib/stats.js";
import { blocksFor, createBenchLab, type FamilyName } from "./lib/suite-lab.js";
import { matchedPps } from "./lib/suite-report.js";
import { runC, runNetprobify, type Scenario } from "./lib/suite-run.js";
import { timeline } from "./lib/timeline.js";

const argv = process.argv.slice(2);
const TYPES: Record<string, ProbeKind> = { tcp: "TCPsyn", icmp: "ICMPping", udp: "UDPunreachable" };
const type = TYPES[stringFlag(argv, "type", "tcp")];
const family = stringFlag(argv, "family", "ipv4") as FamilyName;
const size = /^(\d+)x(\d+)$/.exec(stringFlag(argv, "size", "100x100"));
const NB_PROC = intFlag(argv, "nb-proc", 2);
const RUNS = intFlag(argv, "runs", 3);
const PROF = stringFlag(argv, "cpu-prof", "");
const NODE_FLAGS = stringFlag(argv, "node-flags", "").split(" ").filter(Boolean);
const TRACE = stringFlag(argv, "trace", "");
/** Environment settings for netprobify, alternated run by run ("A=1,B=2;A=0"): before/after in one invocation. */
const ENVS = stringFlag(argv, "env", "")
  .split(";")
  .map((set) => set.trim());
if (!type || !size || (family !== "ipv4" && family !== "ipv6"))
  throw new Error("bad --type, --family or --size");

async function main(): Promise<void> {
  const targets = Number(size![1]);
  const s: Scenario = {
    type: type!,
    family,
    targets,
    packets: Number(size![2]),
    lossPct: 0,
    capture: false,
    probeLog: true,
  };
  const bl = await createBenchLab(targets);
  const dir = mkdtempSync(join(tmpdir(), "netprobify-bench-timeline-"));
  const rows: string[][] = [];
  const ratios: number[] = [];
  const bySet = new Map<string, number[]>();
  if (TRACE) mkdirSync(TRACE, { recursive: true });
  try {
    const blocks = blocksFor(bl, targets, family);
    for (let k = 0; k < RUNS; k++) {
      const env = ENVS[k % ENVS.length]!;
      const saved = { ...process.env };
      for (const kv of env.split(",").filter(Boolean)) {
        const [key, value] = kv.split("=");
        process.env[key!] = value ?? "";
      }
      const prof = PROF ? ["--cpu-prof", `--cpu-prof-dir=${resolve(PROF)}`, "--cpu-prof-interval=200"] : [];
      const r = await runNetprobify(bl, s, blocks, dir, 1, undefined, NB_PROC, [
        ...prof,
        ...NODE_FLAGS,
      ]).finally(() => {
        process.env = saved;
      });
      if (TRACE) writeFileSync(join(TRACE, `run-${k + 1}.txt`), r.trace);
      const t = timeline(readFileSync(join(dir, "probes.csv"), "utf8"), r.iterationStartedAtMs);
      const c = await runC(bl, { ...s, probeLog: false }, blocks, dir, 1);
      const np = matchedPps(r);
      ratios.push(np / c.matchedPps);
      bySet.set(env, [...(bySet.get(env) ?? []), np / c.matchedPps]);
      rows.push([
        String(k + 1),
        env || "-",
        thousands(np),
        thousands(c.matchedPps),
        (np / c.matchedPps).toFixed(2),
        t.startToFirstTxMs.toFixed(2),
        t.tenthsMs.map((x) => x.toFixed(1)).join(" "),
        t.tenthRates.map((x) => thousands(x / 1000)).join(" "),
        t.topGaps.map((g) => `${g.ms.toFixed(2)}@${g.at}`).join(" "),
        String(t.gapsOver500us),
        t.lastTxToLastRxMs.toFixed(2),
        r.clean ? "yes" : "NO",
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await bl.lab.destroy();
  }
  console.log(
    `${type} ${family} ${size![1]}×${size![2]}, nb_proc ${NB_PROC}, no capture; median ÷ C ${median(ratios).toFixed(2)}\n`,
  );
  if (bySet.size > 1)
    for (const [env, r] of bySet)
      console.log(
        `env ${env || "-"}: ${r.length} runs, median ÷ C ${median(r).toFixed(2)}, mean ${(r.reduce((a, b) => a + b, 0) / r.length).toFixed(2)}`,
      );
  console.log(
    markdownTable(
      [
        "run",
        "env",
        "matched/s",
        "C /s",
        "÷ C",
        "start→1st TX ms",
        "tenths left at ms",
        "k probes/s per tenth",
        "longest TX gaps ms@probe",
        "gaps > 0.5 ms",
        "last TX→last RX ms",
        "clean",
      ],
      rows,
    ),
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
