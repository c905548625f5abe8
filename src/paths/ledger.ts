// The per-flow ledger: for every target × group × flow (destination, source address, source port,
// IPv6 flow label), what the last WINDOW iterations measured. Fed from each iteration's per-flow
// results (src/engine/flows.ts); the engine does not know it. Always kept, whether or not the flows
// are exported: the anomaly detector (anomaly.ts) and the traces read it.
//
// Window: the last WINDOW iterations of the target × group (a ring of one slot per iteration), so a
// fault that starts weighs fully after WINDOW iterations and one that ends is forgotten after as
// many. The long window (sent and lost only, for the concentration test of anomaly.ts) sums
// LONG_BLOCKS blocks of WINDOW iterations: the current block and the LONG_BLOCKS - 1 before it, so
// the last 49 to 64 iterations. Memory per flow: 5 × WINDOW slots of 4 bytes (sent, lost, RTT min,
// median, max) = 320 B, 3 × LONG_BLOCKS of 4 bytes (sent, lost, block number) = 48 B, plus the
// entry's object and key: 921 B per flow measured (docs/paths.md). Flows absent for WINDOW iterations
// (a port range that changed) and every flow of a target or group the configuration dropped
// (retain()) go.
//
// Cost per iteration (the daemon records every iteration and reads every bucket's flows twice: the
// anomaly source and the path metrics): record() finds the entries of a plan's flows by position
// while the plan stays the same (no key string per flow), and flows() computes a bucket's figures
// once per recorded iteration (later calls copy the array of the same FlowStats objects).
import type { Flow, FlowResults } from "../engine/flows.js";
import { percentile } from "../engine/percentile.js";

/** Iterations a flow's figures are kept over. */
export const WINDOW = 16;
/** Blocks of WINDOW iterations the long window sums (the current one included). */
export const LONG_BLOCKS = 4;
const LONG = 2 * WINDOW; // offset of the long window's blocks in Entry.counts

/** What the ledger knows of one flow over the window. */
export interface FlowStats {
  dst: string;
  src: string;
  srcPort: number;
  flowLabel: number;
  /** Over the window: probes sent, lost (no answer, no ICMP error), and lost / sent (0 when none). */
  sent: number;
  lost: number;
  lossRatio: number;
  /** Over the long window (the last 49 to 64 iterations): probes sent and lost. */
  sentLong: number;
  lostLong: number;
  /** Since the flow was first seen (for counters). */
  sentTotal: number;
  lostTotal: number;
  /** Over the window, in seconds: smallest, median of the iterations' medians, largest; NaN when none. */
  rttMin: number;
  rttP50: number;
  rttMax: number;
  /** Reply TTL / hop limit of the last answer; 0 when unknown. */
  replyTtl: number;
}

class Entry {
  /** The window's ring (sent, lost per slot), then per long block: sent, lost, block number + 1. */
  readonly counts = new Uint32Array(2 * WINDOW + 3 * LONG_BLOCKS);
  readonly rtts = new Float32Array(3 * WINDOW).fill(Number.NaN);
  lastTick = -1;
  sentTotal = 0;
  lostTotal = 0;
  replyTtl = 0;
  /** Removed from its bucket (absent for WINDOW iterations, or the bucket dropped). */
  gone = false;
  constructor(
    readonly flow: Flow,
    readonly bucket: Bucket,
  ) {}
}

/** The flows of one target × group. */
interface Bucket {
  target: string;
  group: string;
  /** Iterations recorded for this target × group. */
  tick: number;
  flows: Map<string, Entry>;
  /** flows() as of `statsTick` (computed once per recorded iteration). */
  stats: FlowStats[] | undefined;
  statsTick: number;
}

const flowKey = (f: Flow) => `${f.dst}|${f.src}|${f.srcPort}|${f.flowLabel}`;
const bucketKey = (target: string, group: string) => `${target}\u0000${group}`;

export class Ledger {
  private readonly buckets = new Map<string, Bucket>();
  /** The entries of the last recorded FlowResults.flows, by position (a plan's flows are one array for its life). */
  private last: { flows: readonly Flow[]; entries: (Entry | undefined)[] } | undefined;

  /**
   * Adds one iteration. `series[i]` names plan series i (the iteration's SeriesResult list is in
   * plan order); every target × group in it advances one iteration, flows that sent nothing included.
   */
  record(series: readonly { target: string; group: string }[], r: FlowResults): void {
    const touched = new Set<Bucket>();
    const bucketOf: Bucket[] = [];
    for (const s of series) {
      const b = this.bucket(s.target, s.group);
      bucketOf.push(b);
      if (touched.has(b)) continue;
      b.tick++;
      b.stats = undefined;
      touched.add(b);
    }
    if (this.last?.flows !== r.flows) this.last = { flows: r.flows, entries: [] };
    const known = this.last.entries;
    for (let i = 0; i < r.flows.length; i++) {
      const flow = r.flows[i]!;
      const b = bucketOf[flow.series];
      if (!b) continue;
      let e = known[i];
      if (e === undefined || e.gone || e.bucket !== b) {
        const k = flowKey(flow);
        e = b.flows.get(k);
        if (!e) {
          e = new Entry(flow, b);
          b.flows.set(k, e);
        }
        known[i] = e;
      }
      // Slots of the iterations this flow missed hold older data: cleared before reuse.
      for (let t = Math.max(e.lastTick + 1, b.tick - WINDOW + 1); t < b.tick; t++) clearSlot(e, t % WINDOW);
      const slot = b.tick % WINDOW;
      e.counts[2 * slot] = r.sent[i]!;
      e.counts[2 * slot + 1] = r.lost[i]!;
      e.rtts[3 * slot] = r.rttMin[i]!;
      e.rtts[3 * slot + 1] = r.rttP50[i]!;
      e.rtts[3 * slot + 2] = r.rttMax[i]!;
      const block = Math.floor(b.tick / WINDOW);
      const at = LONG + 3 * (block % LONG_BLOCKS);
      if (e.counts[at + 2] !== block + 1) {
        e.counts[at] = 0;
        e.counts[at + 1] = 0;
        e.counts[at + 2] = block + 1;
      }
      e.counts[at]! += r.sent[i]!;
      e.counts[at + 1]! += r.lost[i]!;
      e.lastTick = b.tick;
      e.sentTotal += r.sent[i]!;
      e.lostTotal += r.lost[i]!;
      if (r.replyTtl[i] !== 0) e.replyTtl = r.replyTtl[i]!;
    }
    for (const b of touched) {
      for (const [k, e] of b.flows)
        if (b.tick - e.lastTick >= WINDOW) {
          e.gone = true;
          b.flows.delete(k);
        }
    }
  }

  private bucket(target: string, group: string): Bucket {
    const k = bucketKey(target, group);
    let b = this.buckets.get(k);
    if (!b) {
      b = { target, group, tick: -1, flows: new Map(), stats: undefined, statsTick: -1 };
      this.buckets.set(k, b);
    }
    return b;
  }

  /** Drops every target × group for which keep() is false (on reload). */
  retain(keep: (target: string, group: string) => boolean): void {
    for (const [k, b] of this.buckets) {
      if (keep(b.target, b.group)) continue;
      for (const e of b.flows.values()) e.gone = true;
      this.buckets.delete(k);
    }
  }

  /** The target × group pairs known. */
  series(): { target: string; group: string }[] {
    return [...this.buckets.values()].map((b) => ({ target: b.target, group: b.group }));
  }

  /**
   * The flows of a target × group over the window, in no particular order: a new array (callers may
   * sort it) of FlowStats shared by the calls of one iteration (read-only).
   */
  flows(target: string, group: string): FlowStats[] {
    const b = this.buckets.get(bucketKey(target, group));
    if (!b) return [];
    if (b.stats === undefined || b.statsTick !== b.tick) {
      b.stats = [];
      for (const e of b.flows.values()) b.stats.push(stats(e, b.tick));
      b.statsTick = b.tick;
    }
    return b.stats.slice();
  }

  /** Flows held, over every target × group. */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.flows.size;
    return n;
  }
}

function clearSlot(e: Entry, slot: number): void {
  e.counts[2 * slot] = 0;
  e.counts[2 * slot + 1] = 0;
  e.rtts.fill(Number.NaN, 3 * slot, 3 * slot + 3);
}

/** The iterations' medians of one flow, kept sorted (scratch of stats(): one flow at a time). */
const MEDIANS = new Float64Array(WINDOW);
/** Views of its first n cells, made once (a view per flow and iteration was most of stats()' garbage). */
const MEDIAN_VIEWS = Array.from({ length: WINDOW + 1 }, (_, n) => MEDIANS.subarray(0, n));

function stats(e: Entry, tick: number): FlowStats {
  let sent = 0;
  let lost = 0;
  let min = Number.NaN;
  let max = Number.NaN;
  const medians = MEDIANS;
  let n = 0;
  for (let t = Math.max(0, tick - WINDOW + 1); t <= e.lastTick; t++) {
    const slot = t % WINDOW;
    sent += e.counts[2 * slot]!;
    lost += e.counts[2 * slot + 1]!;
    const lo = e.rtts[3 * slot]!;
    if (Number.isNaN(lo)) continue;
    if (!(lo >= min)) min = lo;
    const hi = e.rtts[3 * slot + 2]!;
    if (!(hi <= max)) max = hi;
    // insertion into the sorted scratch (at most WINDOW values)
    const v = e.rtts[3 * slot + 1]!;
    let j = n++;
    for (; j > 0 && medians[j - 1]! > v; j--) medians[j] = medians[j - 1]!;
    medians[j] = v;
  }
  const p50 = percentile(MEDIAN_VIEWS[n]!, 50) ?? Number.NaN;
  let sentLong = 0;
  let lostLong = 0;
  const block = Math.floor(tick / WINDOW);
  for (let at = LONG; at < e.counts.length; at += 3) {
    const b = e.counts[at + 2]! - 1;
    if (b < 0 || b <= block - LONG_BLOCKS) continue;
    sentLong += e.counts[at]!;
    lostLong += e.counts[at + 1]!;
  }
  const f = e.flow;
  return {
    dst: f.dst,
    src: f.src,
    srcPort: f.srcPort,
    flowLabel: f.flowLabel,
    sent,
    lost,
    lossRatio: sent === 0 ? 0 : lost / sent,
    sentLong,
    lostLong,
    sentTotal: e.sentTotal,
    lostTotal: e.lostTotal,
    rttMin: min,
    rttP50: p50,
    rttMax: max,
    replyTtl: e.replyTtl,
  };
}

/** Worst first: highest loss ratio, then most lost, then a stable order by flow. */
export function worstFirst(a: FlowStats, b: FlowStats): number {
  return (
    b.lossRatio - a.lossRatio ||
    b.lost - a.lost ||
    (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0) ||
    (a.src < b.src ? -1 : a.src > b.src ? 1 : 0) ||
    a.srcPort - b.srcPort ||
    a.flowLabel - b.flowLabel
  );
}
