// `npm run bench:ledger`: what the per-flow ledger (src/paths/ledger.ts) costs per flow and iteration,
// as the daemon uses it: record() one iteration's per-flow results, then flows() twice (the anomaly
// source and the path metrics). No network, no lab: synthetic results for one target × group.
//
// Run: npm run bench:ledger [-- --flows 8500] [--iterations 60]
import type { Flow, FlowResults } from "../src/engine/flows.js";
import { Ledger } from "../src/paths/ledger.js";
import { intFlag } from "./lib/stats.js";

const argv = process.argv.slice(2);
const FLOWS = intFlag(argv, "flows", 8500);
const ITERATIONS = intFlag(argv, "iterations", 60);
/** Iterations left out of the figures (the JIT's warm-up, the window filling). */
const SKIP = 20;

const flows: Flow[] = Array.from({ length: FLOWS }, (_, i) => ({
  series: 0,
  dst: `198.19.${i >> 8}.${i & 255}`,
  src: "198.18.0.2",
  srcPort: 0,
  flowLabel: i,
}));
const r: FlowResults = {
  flows,
  sent: new Uint32Array(FLOWS).fill(2),
  lost: new Uint32Array(FLOWS),
  unreachable: new Uint32Array(FLOWS),
  samples: new Uint32Array(FLOWS).fill(2),
  rttMin: new Float64Array(FLOWS).fill(1e-4),
  rttP50: new Float64Array(FLOWS).fill(2e-4),
  rttMax: new Float64Array(FLOWS).fill(3e-4),
  replyTtl: new Uint8Array(FLOWS).fill(60),
};
const series = [{ target: "t", group: "g" }];
const ledger = new Ledger();
let recordMs = 0;
let flowsMs = 0;
for (let it = 0; it < ITERATIONS; it++) {
  const a = performance.now();
  ledger.record(series, r);
  const b = performance.now();
  ledger.flows("t", "g");
  ledger.flows("t", "g");
  const c = performance.now();
  if (it < SKIP) continue;
  recordMs += b - a;
  flowsMs += c - b;
}
const per = (ms: number) => ((ms * 1e6) / (ITERATIONS - SKIP) / FLOWS).toFixed(0);
console.log(
  `${FLOWS} flows, ns per flow and iteration: record ${per(recordMs)}, flows() twice ${per(flowsMs)}`,
);
