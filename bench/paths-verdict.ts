// How often the trace verdict names the faulty link, on the seeded leaf-spine simulation
// (test/paths/fabric-sim.ts), with the recommended trace budget (src/paths/budget.ts). Pure
// computation: no packets. Prints one line per scenario and the totals the issue asks for.
// Run: npx tsc -p tsconfig.json && node dist/bench/paths-verdict.js [runs per scenario, default 100]
import {
  TRACE_BUDGET,
  TRACE_FLAGGED_PROBES_PER_TTL,
  TRACE_FLOWS,
  TRACE_PROBES_PER_TTL,
  TRACE_TTLS,
} from "../src/paths/budget.js";
import { analyzeIncident } from "../src/paths/verdict.js";
import { faultScenarios, runScenario, type Tally } from "../test/paths/fabric-sim.js";

const runs = Number(process.argv[2] ?? 100);
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
