// RFC 3393 IPDV in the iteration results (src/engine/results.ts): pairs of consecutive probes of the
// same flow in send order, a lost probe breaking the chain, and no pair across flows or series.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InFlight } from "../../src/engine/inflight.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import { SeriesCounters, summarize } from "../../src/engine/results.js";

const target = (over: Partial<PlanTargetInput>): PlanTargetInput => ({
  name: "t",
  type: "ICMPping",
  family: "ipv4",
  addresses: ["198.18.1.1"],
  nbPackets: 4,
  dontFragment: true,
  timeout: 1,
  groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65000, dscp: 0 }],
  ...over,
});

/** Runs the in-flight table by hand: probe i answered after rttMs[i] ms (undefined: lost). */
function run(plan: ReturnType<typeof buildPlan>, rttMs: (number | undefined)[]) {
  const f = new InFlight(0, plan.count, () => 1000);
  for (let i = 0; i < plan.count; i++) {
    f.markSent(i, 0);
    f.setTx(i, i * 1e9);
    const r = rttMs[i];
    if (r !== undefined) f.reply(i, i * 1e9 + r * 1e6);
  }
  return summarize(plan, f, new SeriesCounters(plan.series.length));
}

describe("IPDV (RFC 3393)", () => {
  test("one flow: mean and max of |rtt[k+1] - rtt[k]|", () => {
    const plan = buildPlan([target({})], () => "198.18.0.2");
    const [r] = run(plan, [10, 13, 11, 11]);
    assert.equal(r!.ipdvPairs, 3);
    assert.ok(Math.abs(r!.ipdvMeanAbs! - 0.005 / 3) < 1e-12);
    assert.ok(Math.abs(r!.ipdvMaxAbs! - 0.003) < 1e-12);
  });

  test("a lost probe leaves both pairs around it undefined", () => {
    const plan = buildPlan([target({ nbPackets: 5 })], () => "198.18.0.2");
    const [r] = run(plan, [10, 20, undefined, 50, 51]);
    assert.equal(r!.ipdvPairs, 2); // (10, 20) and (50, 51)
    assert.ok(Math.abs(r!.ipdvMaxAbs! - 0.01) < 1e-12);
  });

  test("pairs never cross flows: two TCP source ports alternate (ICMP's flow is the address pair)", () => {
    // ports 65000, 65001, 65000, 65001: flows A = probes 0, 2 and B = probes 1, 3
    const plan = buildPlan(
      [
        target({
          type: "TCPsyn",
          dstPort: 443,
          groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65001, dscp: 0 }],
        }),
      ],
      () => "198.18.0.2",
    );
    const [r] = run(plan, [10, 100, 12, 104]);
    assert.equal(r!.ipdvPairs, 2);
    assert.ok(Math.abs(r!.ipdvMeanAbs! - 0.003) < 1e-12); // (2 + 4) / 2 ms, not |100 - 10|
    assert.ok(Math.abs(r!.ipdvMaxAbs! - 0.004) < 1e-12);
  });

  test("no pair, no value", () => {
    const plan = buildPlan([target({ nbPackets: 1 })], () => "198.18.0.2");
    const [r] = run(plan, [10]);
    assert.equal(r!.ipdvPairs, 0);
    assert.equal(r!.ipdvMeanAbs, undefined);
    assert.equal(r!.ipdvMaxAbs, undefined);
  });
});
