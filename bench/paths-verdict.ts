// How often the trace verdict names the faulty link, on the seeded leaf-spine simulation
// (test/paths/fabric-sim.ts), with the recommended trace budget (src/paths/budget.ts); then how soon
// the anomaly detector flags the faulty flows (test/paths/detect-sim.ts: 2/4/8/16 ways, 8 source
// ports per way, 8 probes per flow and 1 s iteration as bench/paths.ts, loss 1/5/100 % on one way)
// and how often it flags anything under uniform loss. Pure computation: no packets. Prints one line
// per scenario and the totals the issue asks for.
// Run: npx tsc -p tsconfig.json && node dist/bench/paths-verdict.js [runs per scenario, default 100]
//   [detection runs per cell, default 200]
import {
  TRACE_BUDGET,
  TRACE_FLAGGED_PROBES_PER_TTL,
  TRACE_FLOWS,
  TRACE_PROBES_PER_TTL,
  TRACE_TTLS,
} from "../src/paths/budget.js";
import { analyzeIncident } from "../src/paths/verdict.js";
import { simulateDetection } from "../test/paths/detect-sim.js";
import { faultScenarios, runScenario, type Tally } from "../test/paths/fabric-sim.js";

const runs = Number(process.argv[2] ?? 100);
const detectRuns = Number(process.argv[3] ?? 200);
const analyze = (t: Parameters<typeof analyzeIncident>[0]) => analyzeIncident(t).verdict;
const pct = (t: Tally[]) =>
  ((100 * t.reduce((n, x) => n + x.correct, 0)) / t.reduce((n, x) => n + x.runs, 0)).toFixed(1);

console.log(
  `budget: ${TRACE_FLOWS} flows x ${TRACE_TTLS} TTLs x ${TRACE_PROBES_PER_TTL} probes = ${TRACE_BUDGET} per incident; ` +
    `flagged flows share ${TRACE_FLAGGED_PROBES_PER_TTL} probes per TTL (splitBudget)`,
);
const faulty: Tally[] = [];
for (const rl of [[], ["leaf1"]] as const) {
  for (const sc of faultScenarios([...rl])) {
    const t = runScenario(sc, runs, analyze);
    faulty.push(t);
    console.log(`${t.scenario.padEnd(48)} ${t.correct}/${t.runs} named, ${t.maxProbes} probes`);
  }
}
for (const loss of ["1%", "5%", "100%"]) {
  console.log(
    `loss ${loss}: correct link in ${pct(faulty.filter((t) => t.scenario.includes(` ${loss} `)))} %`,
  );
}
const healthy: Tally[] = [];
for (const width of [2, 4, 8, 16]) {
  for (const rateLimited of [[], ["leaf1"], ["leaf1", "spines", "leaf2"]] as const) {
    for (const background of [5e-5, 2e-4]) {
      healthy.push(runScenario({ width, rateLimited: [...rateLimited], background }, runs, analyze));
    }
  }
}
console.log(`healthy fabrics: no suspect link in ${pct(healthy)} % of ${healthy.length * runs}`);
// Uniform loss: the same loss on every leaf1 -> spine member (no member worse than its siblings), a
// few flows falsely flagged: right when no link is named.
for (const loss of [0.01, 0.05]) {
  const uniform: Tally[] = [];
  for (const width of [2, 4, 8, 16]) {
    for (const direction of ["forward", "reverse"] as const) {
      for (const rateLimited of [[], ["leaf1"]] as const) {
        const t = runScenario(
          { width, uniform: { loss, direction }, rateLimited: [...rateLimited] },
          runs,
          analyze,
        );
        uniform.push(t);
        console.log(`${t.scenario.padEnd(64)} ${t.correct}/${t.runs} without a suspect link`);
      }
    }
  }
  console.log(
    `uniform ${loss * 100} % on every member: no suspect link in ${pct(uniform)} % of ${uniform.length * runs}`,
  );
}

// Time to detection: iterations (seconds at interval 1) from the loss starting to the first flag of
// a flow on the faulty way, within 60; p50/p95 over the runs detected, and which test flagged.
const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;
console.log("detection (8 ports per way, 8 probes per flow per 1 s iteration, loss on one way):");
for (const loss of [0.01, 0.05, 1]) {
  for (const ways of [2, 4, 8, 16]) {
    const times: number[] = [];
    const by = { flow: 0, concentration: 0 };
    let wrong = 0;
    for (let r = 0; r < detectRuns; r++) {
      const run = simulateDetection({ ways, loss, seed: 1 + r * 104729 + ways * 7 + loss * 1000 });
      if (run.detectedAfter === undefined) continue;
      times.push(run.detectedAfter);
      if (run.by) by[run.by]++;
      wrong += run.wrongInTop4;
    }
    times.sort((a, b) => a - b);
    console.log(
      `  ${String(ways).padStart(2)}-way ${String(loss * 100).padStart(3)} %: flagged within 60 s in ${times.length}/${detectRuns}, ` +
        `p50 ${q(times, 0.5)} s, p95 ${q(times, 0.95)} s (Fisher ${by.flow}, concentration ${by.concentration}); ` +
        `healthy flows among the 4 worst flagged: ${wrong}`,
    );
  }
}
// False flags under uniform loss: evaluations (one per iteration, sliding windows) that flag anything.
let flaggedEvaluations = 0;
let evaluations = 0;
for (const uniform of [0.001, 0.01, 0.05, 0.2, 0.5]) {
  let f = 0;
  let n = 0;
  for (const ways of [2, 4, 8, 16]) {
    for (let r = 0; r < Math.ceil(detectRuns / 10); r++) {
      const run = simulateDetection({
        ways,
        loss: 0,
        uniform,
        seed: 7 + r * 15485863 + ways,
        warm: 0,
        horizon: 200,
      });
      f += run.flaggedEvaluations;
      n += run.evaluations;
    }
  }
  flaggedEvaluations += f;
  evaluations += n;
  console.log(
    `uniform loss ${uniform * 100} % on every flow (2/4/8/16 ways): ${f} of ${n} evaluations flag something`,
  );
}
console.log(
  `uniform loss: false flags in ${((100 * flaggedEvaluations) / evaluations).toFixed(3)} % of ${evaluations} evaluations`,
);
