// RTT accuracy of the real engine against the wire: probes of every type and family go to lab
// targets (one direct, one behind an impairment stage adding delay and jitter) while tcpdump
// captures the test namespace's side of each link with nanosecond timestamps. For every answered
// probe, the RTT the engine reports (kernel TX timestamp from the error queue, kernel RX timestamp
// from recvmmsg) is compared with the wire RTT (capture time of the probe and of its first answer).
// The engine's absolute timestamps are also compared with the capture's, one side at a time, which
// says where an error comes from. Shared by bench/rtt-accuracy.ts and its integration test.
import type { EngineOptions } from "../../src/engine/engine.js";
import { ProbeState } from "../../src/engine/inflight.js";
import type { ProbeKind } from "../../src/engine/plan.js";
import type { Impairment, Lab, LabSpec, LabTarget, PcapRecord } from "../../src/lab/lab.js";
import { kernelSource } from "../../src/targets/source.js";
import {
  buildPlan,
  labEngine,
  type PlanTargetInput,
  type WireProbe,
  warmUp,
  wireProbes,
} from "../../test/integration/support.js";
import { captureInbound, mergeByTime } from "./capture.js";
import { markdownTable, sortedQuantile, thousands } from "./stats.js";

export const KINDS: readonly ProbeKind[] = ["TCPsyn", "ICMPping", "UDPunreachable"];
export const PATHS = ["direct", "delayed"] as const;
export type PathName = (typeof PATHS)[number];

/** The lab: a direct target and one behind an impairment stage, each with a range of addresses. */
export function accuracyLabSpec(addresses: number, delay: Impairment): LabSpec {
  return {
    targets: [
      { name: "direct", rangeSize: addresses },
      { name: "delayed", rangeSize: addresses, impair: { to: delay } },
    ],
  };
}

export const CAPTURE_MODES = ["host", "far", "ingress"] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

export interface AccuracyOptions {
  /** Addresses probed per target and per (type, family). */
  addresses: number;
  /** Packets per address. */
  packets: number;
  /** Engine pacing in packets per second (Infinity: as fast as it goes). */
  pps: number;
  /** Where the referee listens (see startCapture); default "host". */
  capture?: CaptureMode;
  engine?: Partial<EngineOptions>;
}

/** |reported − wire| statistics of one group of probes, in µs. */
export interface ErrorStats {
  group: string;
  compared: number;
  p50: number;
  p99: number;
  max: number;
  /** The same for the TX side alone (engine TX timestamp − capture time of the probe). */
  txP99: number;
  /** The same for the RX side alone (engine RX timestamp − capture time of the answer). */
  rxP99: number;
  /** Median wire RTT of the group, in µs (what was measured). */
  wireRttP50: number;
}

export interface AccuracyReport {
  probes: number;
  answered: number;
  /** Answered probes with both kernel timestamps. */
  timed: number;
  /** Timed probes whose probe and answer are both in the capture (the ones compared). */
  compared: number;
  /** Timed probes the capture did not see answered (should be 0). */
  missingOnWire: number;
  /** Of those: the probe itself is not in the capture / the probe is but no answer is. */
  missingProbe: number;
  missingAnswer: number;
  byTypeFamily: ErrorStats[];
  byPath: ErrorStats[];
  overall: ErrorStats;
  /**
   * Signed errors (engine − referee) in µs at SIGNED_QUANTILES: TX timestamps, RX timestamps and RTT.
   * Their signs say which clock is taken first.
   */
  signed: { tx: number[]; rx: number[]; rtt: number[] };
  durationMs: number;
  socketDrops: number;
}

interface Sample {
  group: string;
  path: PathName;
  err: number;
  tx: number;
  rx: number;
  wire: number;
}

/** Plan inputs for every path × type × family. */
async function planTargets(lab: Lab, o: AccuracyOptions): Promise<PlanTargetInput[]> {
  const out: PlanTargetInput[] = [];
  for (const path of PATHS) {
    const t = lab.target(path);
    for (const family of ["ipv4", "ipv6"] as const) {
      const addresses = family === "ipv4" ? t.range!.all4(o.addresses) : t.range!.all6(o.addresses);
      const src = await kernelSource(addresses[0]!, family);
      for (const type of KINDS) {
        out.push({
          name: `${path}/${type}/${family === "ipv4" ? "v4" : "v6"}`,
          type,
          family,
          addresses,
          dstPort: type === "TCPsyn" ? 81 : 33434,
          nbPackets: o.packets,
          dontFragment: true,
          payloadSize: type === "UDPunreachable" ? 12 : undefined,
          timeout: 1,
          groups: [{ name: "g", srcPortA: 61000, srcPortZ: 61063, dscp: 0, src }],
        });
      }
    }
  }
  return out;
}

/** The far end of a target's link from the test namespace: the target, or its impairment stage. */
function farEnd(t: LabTarget): { ns: string; iface: string } {
  return t.impairNs ? { ns: t.impairNs, iface: "tohost" } : { ns: t.ns, iface: t.targetIf };
}

/**
 * Starts the referee for one path; the returned function stops it and gives the records in time
 * order. "host": both directions on the test namespace's veth (lab.capture); "far": both
 * directions at the other end of that veth; "ingress": each direction where it enters a namespace
 * (probes at the far end, answers on the test namespace's veth), `tcpdump -Q in`.
 */
async function startCapture(lab: Lab, t: LabTarget, mode: CaptureMode): Promise<() => Promise<PcapRecord[]>> {
  if (mode === "ingress") {
    const far = farEnd(t);
    const caps = await Promise.all([
      captureInbound(lab, far.ns, far.iface),
      captureInbound(lab, undefined, t.hostIf),
    ]);
    return async () => mergeByTime(await Promise.all(caps.map((c) => c.stop())));
  }
  const cap = await lab.capture({ ...(mode === "host" ? { iface: t.hostIf } : farEnd(t)), bufferKiB: 65536 });
  return async () => (await cap.stop(50)).records;
}

/** Runs one iteration with captures on every path and compares the engine's RTTs with the wire's. */
export async function measureRttAccuracy(lab: Lab, o: AccuracyOptions): Promise<AccuracyReport> {
  const targets = await planTargets(lab, o);
  const engine = labEngine(targets, { pps: o.pps, ...o.engine });
  try {
    const noSource = () => {
      throw new Error("sources are fixed");
    };
    // Warm-up: the kernel switches RX timestamping on lazily; a first small iteration makes sure
    // the measured one starts with it on, and with the code paths compiled.
    await warmUp();
    await engine.run(
      buildPlan(
        targets.map((t) => ({ ...t, nbPackets: 1 })),
        noSource,
      ),
    );
    const caps = await Promise.all(PATHS.map((p) => startCapture(lab, lab.target(p), o.capture ?? "host")));
    const plan = buildPlan(targets, noSource);
    const r = await engine.run(plan);
    const wire = new Map<number, WireProbe>();
    for (const stop of caps) for (const [k, w] of wireProbes(await stop())) wire.set(k, w);

    const f = r.inflight;
    // The engine's timestamps are ns since a whole second it picked (CLOCK_REALTIME); recover that
    // second from any probe so that each side can be compared on its own.
    let epochNs: bigint | undefined;
    const samples: Sample[] = [];
    let answered = 0;
    let timed = 0;
    let missingProbe = 0;
    let missingAnswer = 0;
    for (let i = 0; i < plan.count; i++) {
      if (f.state[i] !== ProbeState.Answered) continue;
      answered++;
      const rtt = f.rttNs(i);
      if (!Number.isFinite(rtt)) continue;
      timed++;
      const w = wire.get(f.keyOf(i));
      if (!w || w.rxNs === undefined) {
        if (w) missingAnswer++;
        else missingProbe++;
        continue;
      }
      if (epochNs === undefined) {
        const d = Number(w.txNs - BigInt(Math.round(f.txAt(i))));
        epochNs = BigInt(Math.round(d / 1e9)) * 1_000_000_000n;
      }
      const wireRtt = Number(w.rxNs - w.txNs);
      const name = plan.series[plan.seriesOf[i]!]!.target;
      const [path, type, fam] = name.split("/") as [PathName, string, string];
      samples.push({
        group: `${type} ${fam}`,
        path,
        err: rtt - wireRtt,
        tx: f.txAt(i) - Number(w.txNs - epochNs),
        rx: f.rxAt(i) - Number(w.rxNs - epochNs),
        wire: wireRtt,
      });
    }
    const groups = (key: (s: Sample) => string, order: string[]) =>
      order.map((g) =>
        errorStats(
          g,
          samples.filter((s) => key(s) === g),
        ),
      );
    return {
      probes: plan.count,
      answered,
      timed,
      compared: samples.length,
      missingOnWire: missingProbe + missingAnswer,
      missingProbe,
      missingAnswer,
      byTypeFamily: groups(
        (s) => s.group,
        KINDS.flatMap((k) => [`${k} v4`, `${k} v6`]),
      ),
      byPath: groups((s) => s.path, [...PATHS]),
      overall: errorStats("overall", samples),
      signed: {
        tx: signedQuantiles(samples.map((x) => x.tx / 1000)),
        rx: signedQuantiles(samples.map((x) => x.rx / 1000)),
        rtt: signedQuantiles(samples.map((x) => x.err / 1000)),
      },
      durationMs: r.durationMs,
      socketDrops: r.socketDrops,
    };
  } finally {
    engine.close();
  }
}

export const SIGNED_QUANTILES = [0.001, 0.01, 0.5, 0.99, 0.999] as const;

function signedQuantiles(v: number[]): number[] {
  const s = Float64Array.from(v).sort();
  return SIGNED_QUANTILES.map((q) => sortedQuantile(s, q));
}

function errorStats(group: string, s: readonly Sample[]): ErrorStats {
  const abs = (pick: (x: Sample) => number) => Float64Array.from(s, (x) => Math.abs(pick(x)) / 1000).sort();
  const err = abs((x) => x.err);
  const wire = Float64Array.from(s, (x) => x.wire / 1000).sort();
  return {
    group,
    compared: s.length,
    p50: sortedQuantile(err, 0.5),
    p99: sortedQuantile(err, 0.99),
    max: err.length ? err[err.length - 1]! : Number.NaN,
    txP99: sortedQuantile(
      abs((x) => x.tx),
      0.99,
    ),
    rxP99: sortedQuantile(
      abs((x) => x.rx),
      0.99,
    ),
    wireRttP50: sortedQuantile(wire, 0.5),
  };
}

const us = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");

/** The report as a markdown table (µs), groups then paths then overall. */
export function accuracyTable(r: AccuracyReport): string {
  // The wire RTT median means something per path only (type rows mix a 5 µs and a 1 ms path).
  const row = (e: ErrorStats, showWire = false) => [
    e.group,
    thousands(e.compared),
    us(e.p50),
    us(e.p99),
    us(e.max),
    us(e.txP99),
    us(e.rxP99),
    showWire ? us(e.wireRttP50) : "",
  ];
  return markdownTable(
    [
      "probes",
      "compared",
      "abs err p50 µs",
      "abs err p99 µs",
      "abs err max µs",
      "TX p99 µs",
      "RX p99 µs",
      "path wire RTT p50 µs",
    ],
    [...r.byTypeFamily.map((e) => row(e)), ...r.byPath.map((e) => row(e, true)), row(r.overall)],
  );
}
