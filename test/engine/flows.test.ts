// summarizeFlows (src/engine/flows.ts) against a recomputation flow by flow: seeded random
// iterations (answered with an RTT, untimed, lost, unreachable, refused by the host), flows with a
// few samples (the insertion sort) and with many (the built-in sort), per-flow counts, RTT min,
// median (the original's interpolation) and max, and the last answer's TTL.
import assert from "node:assert/strict";
import { test } from "node:test";
import { flowIndex, probeScratch, summarizeFlows } from "../../src/engine/flows.js";
import { InFlight, ProbeState } from "../../src/engine/inflight.js";
import { percentile } from "../../src/engine/percentile.js";
import { buildPlan } from "../../src/engine/plan.js";
import { SeriesCounters, summarize } from "../../src/engine/results.js";
import { rng } from "../support/rng.js";

test("summarizeFlows equals a recomputation per flow, over random iterations", () => {
  // Target a: 4 ports × 3 probes each (few samples); b: 1 port × 90 probes (many).
  const plan = buildPlan(
    [
      { name: "a", packets: 12, ports: 4 },
      { name: "b", packets: 90, ports: 1 },
    ].map((t, k) => ({
      name: t.name,
      type: "TCPsyn" as const,
      family: "ipv4" as const,
      addresses: [`198.18.1.${k + 1}`],
      dstPort: 80,
      nbPackets: t.packets,
      dontFragment: true,
      timeout: 1,
      groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1000 + t.ports - 1, dscp: 0 }],
    })),
    () => "198.18.0.2",
  );
  const { flows, flowOf } = flowIndex(plan);
  assert.equal(flows.length, 5);
  const r = rng(5);
  for (let run = 0; run < 50; run++) {
    const f = new InFlight(0, plan.count, () => 1000);
    for (let i = 0; i < plan.count; i++) {
      const fate = r();
      if (fate < 0.05) continue; // never sent (refused): not counted
      f.markSent(i, 0);
      if (fate < 0.15) continue; // lost
      if (fate < 0.2) {
        f.noteError(i, 3, 1);
        continue;
      }
      if (fate > 0.3) f.setTx(i, 1e9); // else untimed: an answer without its TX timestamp
      f.reply(i, 1e9 + Math.floor(r() * 5e6));
      f.replyTtl[i] = fate > 0.9 ? 0 : 1 + Math.floor(r() * 200);
    }
    f.expire(10_000);
    const got = summarizeFlows(plan, f);
    for (let fl = 0; fl < flows.length; fl++) {
      const mine = [...Array(plan.count).keys()].filter((i) => flowOf[i] === fl);
      const state = (s: number) => mine.filter((i) => f.state[i] === s).length;
      const answered = mine.filter((i) => f.state[i] === ProbeState.Answered);
      const rtts = Float64Array.from(
        answered.map((i) => f.rttNs(i)).filter((v) => v >= 0),
        (v) => v / 1e9,
      ).sort();
      const ttls = answered.map((i) => f.replyTtl[i]!).filter((t) => t !== 0);
      const at = `run ${run} flow ${fl}`;
      assert.equal(
        got.sent[fl],
        answered.length + state(ProbeState.TimedOut) + state(ProbeState.Unreachable),
        at,
      );
      assert.equal(got.lost[fl], state(ProbeState.TimedOut), at);
      assert.equal(got.unreachable[fl], state(ProbeState.Unreachable), at);
      assert.equal(got.samples[fl], rtts.length, at);
      assert.equal(got.replyTtl[fl], ttls.at(-1) ?? 0, at);
      assert.deepEqual(
        [got.rttMin[fl], got.rttP50[fl], got.rttMax[fl]],
        rtts.length === 0
          ? [Number.NaN, Number.NaN, Number.NaN]
          : [rtts[0], percentile(rtts, 50), rtts.at(-1)],
        at,
      );
    }
  }
});

test("summarize and summarizeFlows share one per-probe scratch, and the series' RTTs outlive it", () => {
  const plan = buildPlan(
    [
      {
        name: "t",
        type: "TCPsyn" as const,
        family: "ipv4" as const,
        addresses: ["198.18.1.1", "198.18.1.2"],
        dstPort: 80,
        nbPackets: 300,
        dontFragment: true,
        timeout: 1,
        groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1003, dscp: 0 }],
      },
    ],
    () => "198.18.0.2",
  );
  const f = new InFlight(0, plan.count, () => 1000);
  for (let i = 0; i < plan.count; i++) {
    f.markSent(i, 0);
    f.setTx(i, 1e9);
    f.reply(i, 1e9 + 1000 * (plan.count - i));
  }
  const scratch = probeScratch(plan.count);
  const series = summarize(plan, f, new SeriesCounters(plan.series.length));
  const rtts = Float64Array.from(series[0]!.rtts);
  assert.equal(rtts.length, plan.count);
  summarizeFlows(plan, f);
  // One array served both (no second per-probe array), and summarizeFlows' use of it left the
  // series' sorted RTTs as they were.
  assert.equal(probeScratch(plan.count), scratch);
  assert.deepEqual(series[0]!.rtts, rtts);
  assert.equal(series[0]!.rtts[0], 1000 / 1e9);
});

test("flowIndex over thousands of flows (the typed table's growth) equals a grouping by key; objects only when read", () => {
  const addresses = Array.from({ length: 700 }, (_, i) => `198.18.${2 + (i >> 8)}.${i & 255}`);
  const plan = buildPlan(
    ["a", "b"].map((name) => ({
      name,
      type: "TCPsyn" as const,
      family: "ipv4" as const,
      addresses,
      dstPort: 80,
      nbPackets: 7,
      dontFragment: true,
      timeout: 1,
      groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1004, dscp: 0 }],
    })),
    () => "198.18.0.2",
  );
  const idx = flowIndex(plan);
  const { flowOf, start } = idx;
  // A run --once: both summaries of an iteration, and no flow object built (8-9 MB at 160,000 flows).
  const f = new InFlight(0, plan.count, () => 1000);
  summarize(plan, f, new SeriesCounters(plan.series.length));
  const r = summarizeFlows(plan, f);
  assert.equal(r.sent.length, 2 * 700 * 5);
  assert.equal((idx as unknown as { built: boolean }).built, false, "no flow object until one is read");
  const flows = r.flows;
  assert.ok(flows === idx.flows, "then built once, the same for the index and every result");
  // First appearance order, by the same fields as a string key; each flow the fields of its probes.
  const ids = new Map<string, number>();
  for (let i = 0; i < plan.count; i++) {
    const key = `${plan.seriesOf[i]}|${plan.dst[i]}|${plan.src[i]}|${plan.srcPort[i]}`;
    if (!ids.has(key)) ids.set(key, ids.size);
    assert.equal(flowOf[i], ids.get(key));
    const fl = flows[flowOf[i]!]!;
    assert.deepEqual(
      [fl.series, fl.dst, fl.src, fl.srcPort, fl.flowLabel],
      [
        plan.seriesOf[i],
        plan.addresses[plan.dst[i]!],
        plan.addresses[plan.src[i]!],
        plan.srcPort[i],
        plan.flowLabel[i],
      ],
    );
  }
  assert.equal(idx.count, 2 * 700 * 5);
  assert.equal(flows.length, 2 * 700 * 5);
  assert.equal(flows.length, ids.size);
  assert.equal(start[flows.length], plan.count);
});
