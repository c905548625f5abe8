// What one iteration measured, per series (target × group): the numbers the metrics layer exports.
// Built once at the end of an iteration from the in-flight table, plus the counters the receive path
// keeps while the iteration runs (late, duplicates, ICMP errors by type/code, foreign replies).
import { flowIndex, probeScratch } from "./flows.js";
import { type InFlight, ProbeState } from "./inflight.js";
import { percentile } from "./percentile.js";
import type { ProbePlan } from "./plan.js";
import { Rotation } from "./rotation.js";
import { sortedSeconds } from "./rtt-sort.js";

export interface SeriesResult {
  target: string;
  group: string;
  /** Probes handed to the kernel. */
  sent: number;
  /**
   * Sent probes that got nothing back within their timeout: lost in the network. answered + lost +
   * unreachable = sent. The compat *_loss_total / *_loss_ratio count lost + unreachable, as the
   * original did (see lossRatio).
   */
  lost: number;
  /** Sent probes that got no answer but an ICMP error from something other than the destination. */
  unreachable: number;
  /** The unreachable probes by the "type/code" of the error they drew (sums to `unreachable`). */
  unreachableBy: Map<string, number>;
  /** Probes refused on this host (by the kernel, errno, or never tried): not network loss. */
  failed: number;
  /** Answers that came after their probe timed out (the probe stays lost). */
  late: number;
  /** Second and later answers to the same probe. */
  duplicates: number;
  /** Answers whose RX timestamp preceded the TX timestamp (counted, not used as samples). */
  negativeRtt: number;
  /** Answers without both kernel timestamps (no RTT sample). */
  untimed: number;
  /** RTT samples in seconds, sorted. */
  rtts: Float64Array;
  /** ICMP errors from the destination that answered a probe, by "type/code" (e.g. "3/3" port unreachable). */
  icmpErrors: Map<string, number>;
  /**
   * RFC 3393 IP packet delay variation: over each pair of consecutive probes (in send order) of the
   * same flow (source address and port, destination) that were both answered with a timed RTT, the
   * difference of their RTTs. Count of such pairs, mean of their absolute values and largest absolute
   * value, in seconds (undefined without a pair).
   */
  ipdvPairs: number;
  ipdvMeanAbs: number | undefined;
  ipdvMaxAbs: number | undefined;
}

/** Per-series counters the receive path updates during the iteration. */
export class SeriesCounters {
  late: Uint32Array;
  duplicates: Uint32Array;
  icmpErrors: Map<string, number>[];
  constructor(n: number) {
    this.late = new Uint32Array(n);
    this.duplicates = new Uint32Array(n);
    this.icmpErrors = Array.from({ length: n }, () => new Map());
  }
}

/** Replies that matched no probe, per destination address (the original's per-target gauges). */
export interface ForeignCounters {
  /** TCP replies whose acknowledgement matched no SYN we sent (tcpsyn_match_ack_fail_count). */
  tcpAckMismatch: Map<string, number>;
  /** Replies whose key matched a probe but whose ports did not (tcpsyn/udp_unreachable_port_mismatch_count). */
  portMismatch: Map<string, number>;
  /** Replies whose key matched a probe sent to another address or of another type. */
  addressMismatch: number;
  /** Echo replies and ICMP errors whose key matched no probe of the recent iterations. */
  unknownKey: number;
  /** Packets the filters let through that answer no probe type (e.g. a RST without ACK) or do not parse. */
  notAReply: number;
  /** ICMP errors from elsewhere for a probe already answered or timed out. */
  settledError: number;
  /** ICMP errors from elsewhere that made a probe unreachable, by the sender's address (for the log). */
  unreachableFrom: Map<string, number>;
}

export function newForeignCounters(): ForeignCounters {
  return {
    tcpAckMismatch: new Map(),
    portMismatch: new Map(),
    addressMismatch: 0,
    unknownKey: 0,
    notAReply: 0,
    settledError: 0,
    unreachableFrom: new Map(),
  };
}

/** "type/code" of an ICMP error given as (type << 8 | code), built once per pair (not per packet). */
const ICMP_LABELS: string[] = [];
export function icmpLabel(typeCode: number): string {
  const k = typeCode & 0xffff;
  let label = ICMP_LABELS[k];
  if (label === undefined) {
    label = `${k >> 8}/${k & 0xff}`;
    ICMP_LABELS[k] = label;
  }
  return label;
}

export function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/** Each flow's last RTT (one iteration at a time; grown, never shrunk). The RTTs in ns go to probeScratch. */
let prevScratch = new Float64Array(0);

const runsOf = new WeakMap<ProbePlan, Uint32Array>();

/** Per series, where its run starts in a per-probe array: the plan's probes of the series before it. */
function seriesRuns(plan: ProbePlan): Uint32Array {
  let runs = runsOf.get(plan);
  if (runs) return runs;
  runs = new Uint32Array(plan.series.length + 1);
  for (let i = 0; i < plan.count; i++) runs[plan.seriesOf[i]! + 1]!++;
  for (let s = 0; s < plan.series.length; s++) runs[s + 1]! += runs[s]!;
  runsOf.set(plan, runs);
  return runs;
}

export function summarize(
  plan: ProbePlan,
  f: InFlight,
  c: SeriesCounters,
  rotation = Rotation.none,
): SeriesResult[] {
  const n = plan.series.length;
  const sent = new Uint32Array(n);
  const lost = new Uint32Array(n);
  const unreachable = new Uint32Array(n);
  const unreachableBy = Array.from({ length: n }, () => new Map<string, number>());
  const failed = new Uint32Array(n);
  const negative = new Uint32Array(n);
  const untimed = new Uint32Array(n);
  const timed = new Uint32Array(n);
  // One pass over the probes, in index order (the send order): the counts; each timed RTT into its
  // series' run of a per-probe scratch array (sorted into seconds after: rtt-sort.ts); and IPDV
  // (RFC 3393), over each pair of consecutive probes of a flow both answered with a timed RTT (a
  // lost or untimed probe breaks the chain: the RFC leaves the variation of a lost packet undefined).
  const runs = seriesRuns(plan);
  const ns = probeScratch(plan.count);
  // The flows are the ledger's (src/engine/flows.ts: built once per plan); one cell per flow.
  const { flowOf, count: flows } = flowIndex(plan);
  if (prevScratch.length < flows) prevScratch = new Float64Array(flows);
  const prev = prevScratch.fill(Number.NaN, 0, flows);
  const pairs = new Uint32Array(n);
  const sumAbs = new Float64Array(n);
  const maxAbs = new Float64Array(n);
  for (let i = 0; i < plan.count; i++) {
    const s = plan.seriesOf[i]!;
    let now = Number.NaN;
    switch (f.state[i]) {
      case ProbeState.SendFailed:
        failed[s]!++;
        break;
      case ProbeState.TimedOut:
      case ProbeState.Pending:
        sent[s]!++;
        lost[s]!++;
        break;
      case ProbeState.Unreachable:
        sent[s]!++;
        unreachable[s]!++;
        bump(unreachableBy[s]!, icmpLabel(f.errorOf(i)));
        break;
      case ProbeState.Answered: {
        sent[s]!++;
        const rtt = f.rttNs(i);
        if (Number.isNaN(rtt)) untimed[s]!++;
        else if (rtt < 0) negative[s]!++;
        else {
          ns[runs[s]! + timed[s]!++] = rtt;
          now = rtt / 1e9;
        }
        break;
      }
    }
    const flow = flowOf[rotation.of(i)]!;
    const before = prev[flow]!;
    if (!Number.isNaN(now) && !Number.isNaN(before)) {
      const d = Math.abs(now - before);
      pairs[s]!++;
      sumAbs[s]! += d;
      if (d > maxAbs[s]!) maxAbs[s] = d;
    }
    prev[flow] = now;
  }
  const samples = Array.from({ length: n }, (_, s) =>
    sortedSeconds(ns.subarray(runs[s]!, runs[s]! + timed[s]!)),
  );
  const ipdv = { pairs, sumAbs, maxAbs };
  return plan.series.map((series, s) => ({
    target: series.target,
    group: series.group,
    sent: sent[s]!,
    lost: lost[s]!,
    unreachable: unreachable[s]!,
    unreachableBy: unreachableBy[s]!,
    failed: failed[s]!,
    late: c.late[s]!,
    duplicates: c.duplicates[s]!,
    negativeRtt: negative[s]!,
    untimed: untimed[s]!,
    rtts: samples[s]!,
    icmpErrors: c.icmpErrors[s]!,
    ipdvPairs: ipdv.pairs[s]!,
    ipdvMeanAbs: ipdv.pairs[s]! === 0 ? undefined : ipdv.sumAbs[s]! / ipdv.pairs[s]!,
    ipdvMaxAbs: ipdv.pairs[s]! === 0 ? undefined : ipdv.maxAbs[s]!,
  }));
}

/**
 * Probes the compat metrics count as lost: no answer from the destination, whether the network was
 * silent or a router sent an ICMP error (the original's capture filter never let those in).
 */
export function compatLost(r: SeriesResult): number {
  return r.lost + r.unreachable;
}

/** Loss ratio (0..1) of a series in this iteration, unreachable probes included; 0 when nothing was sent. */
export function lossRatio(r: SeriesResult): number {
  return r.sent === 0 ? 0 : compatLost(r) / r.sent;
}

/** RTT percentile in seconds, undefined when the iteration has no sample (no fake 0). */
export function rttPercentile(r: SeriesResult, p: number): number | undefined {
  return percentile(r.rtts, p);
}
