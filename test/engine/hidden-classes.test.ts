// What the daemon hands from one iteration to the next keeps one hidden class, so the code V8
// compiled for the ledger and the metrics stays valid (docs/performance.md, the daemon's steady
// state). Checked with V8's own %HaveSameMap in a child Node run with --allow-natives-syntax (the
// test process has no natives syntax): each iteration's FlowResults (it had a new class every
// iteration: an object literal with a spread and a fresh getter), and summarize()'s series objects
// from its interpreted and its optimized code.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const src = (p: string) => new URL(`../../src/${p}`, import.meta.url).href;

const CHILD = `
const { buildPlan } = await import(${JSON.stringify(src("engine/plan.js"))});
const { InFlight } = await import(${JSON.stringify(src("engine/inflight.js"))});
const { summarizeFlows } = await import(${JSON.stringify(src("engine/flows.js"))});
const { SeriesCounters, summarize } = await import(${JSON.stringify(src("engine/results.js"))});
const plan = buildPlan(
  ["198.18.1.1", "198.18.1.2", "198.18.1.3"].map((a, k) => ({
    name: "t" + k, type: "TCPsyn", family: "ipv4", addresses: [a], dstPort: 80, nbPackets: 6,
    dontFragment: true, timeout: 1,
    groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1002, dscp: 0 }],
  })),
  () => "198.18.0.2",
);
function iteration(k) {
  const f = new InFlight(0, plan.count, () => 1000);
  for (let i = 0; i < plan.count; i++) {
    f.markSent(i, 0);
    if ((i + k) % 5 === 0) continue;
    f.setTx(i, 1e9);
    f.reply(i, 1e9 + 1000 * (i + k));
  }
  f.expire(10_000);
  return f;
}
const counters = () => new SeriesCounters(plan.series.length);
const flowsA = summarizeFlows(plan, iteration(0));
const flowsB = summarizeFlows(plan, iteration(1));
flowsB.flows;
const flowsC = summarizeFlows(plan, iteration(2));
%PrepareFunctionForOptimization(summarize);
const seriesA = summarize(plan, iteration(0), counters());
summarize(plan, iteration(1), counters());
%OptimizeFunctionOnNextCall(summarize);
const seriesB = summarize(plan, iteration(2), counters());
console.log(JSON.stringify({
  flowResults: %HaveSameMap(flowsA, flowsB) && %HaveSameMap(flowsB, flowsC),
  seriesItem: %HaveSameMap(seriesA[0], seriesB[0]),
  optimized: (%GetOptimizationStatus(summarize) & 16) !== 0,
}));
`;

test("each iteration's flow results and series keep one hidden class", () => {
  const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", CHILD], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.equal(got.optimized, true, "summarize ran as optimized code the second time");
  assert.deepEqual(got, { flowResults: true, seriesItem: true, optimized: true });
});
