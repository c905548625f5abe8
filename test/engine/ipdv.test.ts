// RFC 3393 IPDV in the iteration results (src/engine/results.ts): pairs of consecutive probes of the
// same flow in send order, a lost probe breaking the chain, and no pair across flows or series; then
// random iterations against a recomputation flow by flow.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { flowIndex } from "../../src/engine/flows.js";
import { InFlight, ProbeState } from "../../src/engine/inflight.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import { SeriesCounters, summarize } from "../../src/engine/results.js";
import { rng } from "../support/rng.js";

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

  test("random iterations over several targets and flows: IPDV and counts as recomputed flow by flow", () => {
    const r = rng(23);
    for (let round = 0; round < 40; round++) {
      const plan = buildPlan(
        ["a", "b", "c"].map((name) =>
          target({
            name,
            type: "TCPsyn",
            dstPort: 443,
            nbPackets: 2 + Math.floor(r() * 60),
            groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65000 + Math.floor(r() * 4), dscp: 0 }],
          }),
        ),
        () => "198.18.0.2",
      );
      const f = new InFlight(0, plan.count, () => 1000);
      for (let i = 0; i < plan.count; i++) {
        const x = r();
        if (x < 0.05) continue; // never sent
        f.markSent(i, 0);
        if (x < 0.15) continue; // lost
        if (x > 0.2) f.setTx(i, 1e9 + (x > 0.97 ? 1e7 : 0)); // else untimed; a few negative RTTs
        f.reply(i, 1e9 + Math.floor(r() * 5e6));
      }
      f.expire(10_000);
      const got = summarize(plan, f, new SeriesCounters(plan.series.length));
      const { flowOf } = flowIndex(plan);
      for (let s = 0; s < plan.series.length; s++) {
        const diffs: number[] = [];
        const last = new Map<number, number>();
        for (let i = 0; i < plan.count; i++) {
          if (plan.seriesOf[i] !== s) continue;
          const rtt = f.rttNs(i);
          const now = rtt >= 0 ? rtt / 1e9 : Number.NaN;
          const before = last.get(flowOf[i]!) ?? Number.NaN;
          if (!Number.isNaN(now) && !Number.isNaN(before)) diffs.push(Math.abs(now - before));
          last.set(flowOf[i]!, now);
        }
        const at = `round ${round} series ${s}`;
        assert.equal(got[s]!.ipdvPairs, diffs.length, at);
        assert.equal(
          got[s]!.ipdvMeanAbs,
          diffs.length === 0 ? undefined : diffs.reduce((a, b) => a + b, 0) / diffs.length,
          at,
        );
        assert.equal(got[s]!.ipdvMaxAbs, diffs.length === 0 ? undefined : Math.max(...diffs), at);
        const mine = [...Array(plan.count).keys()].filter((i) => plan.seriesOf[i] === s);
        const rtts = mine.map((i) => f.rttNs(i)).filter((v) => v >= 0);
        assert.deepEqual(got[s]!.rtts, Float64Array.from(rtts, (v) => v / 1e9).sort(), at);
        assert.equal(
          got[s]!.untimed,
          mine.filter((i) => f.state[i] === ProbeState.Answered && Number.isNaN(f.rttNs(i))).length,
          at,
        );
        assert.equal(got[s]!.negativeRtt, mine.filter((i) => f.rttNs(i) < 0).length, at);
        assert.equal(got[s]!.failed, mine.filter((i) => f.state[i] === ProbeState.SendFailed).length, at);
      }
    }
  });
});
