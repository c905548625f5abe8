// The probing engine on the real path (raw sockets, kernel timestamps, BPF) against lab targets, with
// the wire as the referee: what netprobify reports must be what happened. Which probes left and were
// answered comes from nftables sets in the kernel (exact under any load, kernel-referee.ts); the RTTs
// from tcpdump captures. Needs root (lab namespaces, raw sockets, nftables, tcpdump); runs inside
// src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { captureInbound, mergeByTime } from "../../bench/lib/capture.js";
import { type InFlight, ProbeState } from "../../src/engine/inflight.js";
import { percentile } from "../../src/engine/percentile.js";
import type { ProbeKind } from "../../src/engine/plan.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { kernelSources } from "../../src/targets/source.js";
import { kernelReferee } from "./kernel-referee.js";
import { buildPlan, labEngine, type PlanTargetInput, warmUp, wireProbes } from "./support.js";

const KINDS: ProbeKind[] = ["TCPsyn", "ICMPping", "UDPunreachable"];

async function targetsFor(addresses: { v4: string[]; v6: string[] }, nbPackets: number, timeout = 1) {
  const all: [string, "ipv4" | "ipv6"][] = [
    ...addresses.v4.map((a) => [a, "ipv4"] as [string, "ipv4"]),
    ...addresses.v6.map((a) => [a, "ipv6"] as [string, "ipv6"]),
  ];
  const src = await kernelSources(all.slice(0, 1).concat(all.filter((x) => x[1] === "ipv6").slice(0, 1)));
  const s4 = src.get(addresses.v4[0]!)!;
  const s6 = src.get(addresses.v6[0]!)!;
  const out: PlanTargetInput[] = [];
  for (const type of KINDS) {
    for (const family of ["ipv4", "ipv6"] as const) {
      out.push({
        name: `${type}-${family}`,
        type,
        family,
        addresses: family === "ipv4" ? addresses.v4 : addresses.v6,
        dstPort: type === "TCPsyn" ? 80 : 33434,
        nbPackets,
        dontFragment: true,
        payloadSize: type === "UDPunreachable" ? 12 : undefined,
        timeout,
        groups: [{ name: "g", srcPortA: 61000, srcPortZ: 61015, dscp: 0, src: family === "ipv4" ? s4 : s6 }],
      });
    }
  }
  return out;
}

/** The keys of the run's probes that `seen` lacks, in probe order. */
function missing(inflight: InFlight, seen: Set<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < inflight.count; i++) if (!seen.has(inflight.keyOf(i))) out.push(inflight.keyOf(i));
  return out;
}

describe("engine in the lab (needs root)", () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({
      targets: [
        { name: "many", rangeSize: 1024 },
        { name: "lossy", rangeSize: 64 },
        {
          name: "far",
          rangeSize: 64,
          impair: { to: { delayMs: 10, jitterMs: 2.5 }, from: { delayMs: 10, jitterMs: 2.5 } },
        },
      ],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("0 % loss: 1,000 targets × 10 packets, three types × two families, all answered, counts equal the wire", async () => {
    const t = lab.target("many");
    const targets = await targetsFor({ v4: t.range!.all4(1000), v6: t.range!.all6(1000) }, 10);
    // Paced like a daemon's iteration: the test is about counts, not speed.
    const engine = labEngine(targets, { pps: 10_000 });
    try {
      await warmUp();
      const referee = await kernelReferee(lab, t.ns, t.hostIf);
      const r = await engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
      const wire = await referee.stop();
      for (const s of r.series) {
        assert.deepEqual([s.target, s.sent, s.lost, s.failed], [s.target, 10_000, 0, 0]);
        assert.equal(s.rtts.length + s.untimed, 10_000, `${s.target}: every answer is a sample or untimed`);
      }
      assert.equal(r.socketDrops, 0);
      // The referee: every probe reached the target and its answer reached the test namespace.
      assert.deepEqual(missing(r.inflight, wire.left), [], "the wire saw every probe leave");
      assert.deepEqual(missing(r.inflight, wire.answered), [], "the wire saw every probe answered");
    } finally {
      engine.close();
    }
  });

  for (const pct of [5, 30]) {
    test(`${pct} % injected loss: reported lost equals the probes unanswered on the wire, exactly`, async () => {
      const t = lab.target("lossy");
      const targets = await targetsFor({ v4: t.range!.all4(50), v6: t.range!.all6(50) }, 20, 0.5);
      await lab.setLoss("lossy", pct, "to");
      const engine = labEngine(targets, { pps: 20_000 });
      try {
        await warmUp();
        const referee = await kernelReferee(lab, t.ns, t.hostIf);
        const r = await engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
        const wire = await referee.stop();
        const lost = r.series.reduce((n, s) => n + s.lost, 0);
        const sent = r.series.reduce((n, s) => n + s.sent, 0);
        assert.equal(sent, 6 * 50 * 20);
        assert.deepEqual(missing(r.inflight, wire.left), [], "the wire saw every probe leave");
        // Per probe: exactly the ones the wire saw unanswered are reported lost.
        const unanswered = missing(r.inflight, wire.answered);
        const reportedLost: number[] = [];
        for (let i = 0; i < r.inflight.count; i++)
          if (r.inflight.state[i] === ProbeState.TimedOut) reportedLost.push(r.inflight.keyOf(i));
        assert.deepEqual(reportedLost, unanswered, "exactly the probes the wire saw unanswered");
        assert.equal(lost, unanswered.length);
        // And the injected rate is roughly what was asked (binomial, 6000 probes).
        const expected = (sent * pct) / 100;
        assert.ok(
          Math.abs(lost - expected) < 6 * Math.sqrt(expected),
          `lost ${lost}, expected about ${expected}`,
        );
      } finally {
        engine.close();
        await lab.setLoss("lossy", 0, "to");
      }
    });
  }

  test("20 ms ± 5 ms injected delay: reported p50/p95 within 5 µs of the wire's", async () => {
    const t = lab.target("far");
    const targets = (await targetsFor({ v4: t.range!.all4(50), v6: t.range!.all6(50) }, 10, 2)).filter(
      (x) => x.type !== "UDPunreachable" || x.family === "ipv4",
    );
    const engine = labEngine(targets, { pps: 5000 });
    try {
      await warmUp();
      // The referee listens where each packet enters a namespace: probes at the far end of our veth,
      // answers on our veth (tcpdump -Q in). A capture on the sending side stamps a packet, copies it
      // to tcpdump and only then lets the driver take the TX timestamp: its own work would count as
      // error (bench/rtt-accuracy measures both; docs/performance.md).
      const caps = await Promise.all([
        captureInbound(lab, t.impairNs!, "tohost"),
        captureInbound(lab, undefined, t.hostIf),
      ]);
      const r = await engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
      const wire = wireProbes(mergeByTime(await Promise.all(caps.map((c) => c.stop()))));
      const reported: number[] = [];
      const onWire: number[] = [];
      for (let i = 0; i < r.inflight.count; i++) {
        const w = wire.get(r.inflight.keyOf(i));
        const rtt = r.inflight.rttNs(i);
        if (w?.rxNs === undefined || Number.isNaN(rtt)) continue;
        reported.push(rtt);
        onWire.push(Number(w.rxNs - w.txNs));
      }
      assert.ok(
        reported.length >= 0.99 * r.inflight.count,
        `compared ${reported.length} of ${r.inflight.count}`,
      );
      const pct = (xs: number[], p: number) => percentile(xs, p)!;
      // Per probe, the reported RTT is within 5 µs of the wire's for 99 % of probes.
      const errors = reported.map((x, k) => Math.abs(x - onWire[k]!)).sort((a, b) => a - b);
      assert.ok(pct(errors, 99) / 1000 <= 5, `per-probe error p99 ${(pct(errors, 99) / 1000).toFixed(2)} µs`);
      reported.sort((a, b) => a - b);
      onWire.sort((a, b) => a - b);
      // The distributions' p50 and p95 agree.
      for (const [p, boundUs] of [
        [50, 5],
        [95, 5],
      ] as const) {
        const diffUs = Math.abs(pct(reported, p) - pct(onWire, p)) / 1000;
        assert.ok(
          diffUs <= boundUs,
          `p${p}: reported ${(pct(reported, p) / 1e6).toFixed(4)} ms, wire ${(pct(onWire, p) / 1e6).toFixed(4)} ms, diff ${diffUs.toFixed(2)} µs`,
        );
      }
      // The delay was really injected: the median is near 20 ms and the spread near ±5 ms.
      assert.ok(Math.abs(pct(onWire, 50) / 1e6 - 20) < 2, `wire p50 ${pct(onWire, 50) / 1e6} ms`);
      for (const s of r.series) assert.equal(s.lost, 0, s.target);
    } finally {
      engine.close();
    }
  });
});
