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
// median, max) = 320 B and 3 × LONG_BLOCKS of 4 bytes (sent, lost, block number) = 48 B, in rows of
// two ledger-wide typed arrays, plus the entry's object and key: 928 B per flow measured
// (docs/paths.md). Flows absent for WINDOW iterations (a port range that changed) and every flow of
// a target or group the configuration dropped (retain()) go.
//
// Cost per iteration (the daemon records every iteration and reads every bucket's flows twice: the
// anomaly source and the path metrics, for thousands of flows): each entry is its flow's FlowStats.
// record() keeps the window's and the long window's sums as running sums (a slot's old figures are
// subtracted when the slot is reused or an iteration leaves the window), so reading the counts costs
// nothing and makes no object per flow. The RTT figures (a median of the iterations' medians needs a
// sort) are computed only when read: for the flows exported as path metrics or shown by the status
// page, not for the thousands the anomaly test only counts. record() finds the entries of a plan's
// flows by position while the plan stays the same (no key string per flow).
import type { Flow, FlowResults } from "../engine/flows.js";
import { percentileOf } from "../engine/percentile.js";

/** Iterations a flow's figures are kept over. */
export const WINDOW = 16;
/** Blocks of WINDOW iterations the long window sums (the current one included). */
export const LONG_BLOCKS = 4;
const LONG = 2 * WINDOW; // offset of the long window's blocks in Entry.counts

/**
 * What the ledger knows of one flow over the window. The ledger's FlowStats are live: their figures
 * are those of the last record() (read them before the next one, or copy them).
 */
export interface FlowStats {
  readonly dst: string;
  readonly src: string;
  readonly srcPort: number;
  readonly flowLabel: number;
  /** Over the window: probes sent, lost (no answer, no ICMP error), and lost / sent (0 when none). */
  readonly sent: number;
  readonly lost: number;
  readonly lossRatio: number;
  /** Over the long window (the last 49 to 64 iterations): probes sent and lost. */
  readonly sentLong: number;
  readonly lostLong: number;
  /** Since the flow was first seen (for counters). */
  readonly sentTotal: number;
  readonly lostTotal: number;
  /** Over the window, in seconds: smallest, median of the iterations' medians, largest; NaN when none. */
  readonly rttMin: number;
  readonly rttP50: number;
  readonly rttMax: number;
  /** Reply TTL / hop limit of the last answer; 0 when unknown. */
  readonly replyTtl: number;
}

/** Cells per flow: the window's ring (sent, lost per slot), then per long block: sent, lost, block number + 1. */
const COUNTS = 2 * WINDOW + 3 * LONG_BLOCKS;
/** Cells per flow: RTT min, median, max per slot of the ring (NaN: no sample). */
const RTTS = 3 * WINDOW;

/**
 * The rings of every flow of a ledger, one row per flow in two typed arrays (not two typed arrays
 * per flow: those are six objects and allocations per flow, scattered in memory, which record()
 * touches every iteration). Rows of flows that went are reused; the arrays only grow.
 */
class Rows {
  counts = new Uint32Array(64 * COUNTS);
  rtts = new Float32Array(64 * RTTS);
  private readonly free: number[] = [];
  private used = 0;

  /** A cleared row. */
  take(): number {
    const row = this.free.pop() ?? this.used++;
    if ((row + 1) * COUNTS > this.counts.length) {
      const counts = new Uint32Array(2 * this.counts.length);
      counts.set(this.counts);
      this.counts = counts;
      const rtts = new Float32Array(2 * this.rtts.length);
      rtts.set(this.rtts);
      this.rtts = rtts;
    }
    this.counts.fill(0, row * COUNTS, (row + 1) * COUNTS);
    this.rtts.fill(Number.NaN, row * RTTS, (row + 1) * RTTS);
    return row;
  }

  give(row: number): void {
    this.free.push(row);
  }
}

class Entry implements FlowStats {
  readonly dst: string;
  readonly src: string;
  readonly srcPort: number;
  readonly flowLabel: number;
  sent = 0;
  lost = 0;
  lossRatio = 0;
  sentLong = 0;
  lostLong = 0;
  sentTotal = 0;
  lostTotal = 0;
  replyTtl = 0;
  /** Last iteration with figures. */
  lastTick = -1;
  /** Iteration the sums are at: the bucket's, once record() has passed over the entry. */
  at: number;
  /** The RTT figures as of iteration `rttTick` (computed when first read). */
  private rttTick = -1;
  private min = Number.NaN;
  private p50 = Number.NaN;
  private max = Number.NaN;
  /** Removed from its bucket (absent for WINDOW iterations, or the bucket dropped): its row is another's. */
  gone = false;
  /** Its row in `rows` (until it goes). */
  readonly row: number;
  constructor(
    readonly flow: Flow,
    readonly bucket: Bucket,
    readonly key: string,
    private readonly rows: Rows,
  ) {
    this.dst = flow.dst;
    this.src = flow.src;
    this.srcPort = flow.srcPort;
    this.flowLabel = flow.flowLabel;
    this.at = bucket.tick - 1;
    this.row = rows.take();
  }

  get rttMin(): number {
    this.rtt();
    return this.min;
  }
  get rttP50(): number {
    this.rtt();
    return this.p50;
  }
  get rttMax(): number {
    this.rtt();
    return this.max;
  }

  /** Leaves the ledger: the row goes back (the figures stay as they were). */
  drop(): void {
    this.rtt();
    this.gone = true;
    this.rows.give(this.row);
  }

  /** Brings the sums to iteration `tick`: the iterations that left the window and the long window go. */
  advance(tick: number): void {
    if (this.at >= tick) return;
    const c = this.rows.counts;
    const rtts = this.rows.rtts;
    const o = this.row * COUNTS;
    const q = this.row * RTTS;
    for (let t = Math.max(this.at + 1, tick - WINDOW + 1); t <= tick; t++) {
      const slot = t % WINDOW;
      this.sent -= c[o + 2 * slot]!;
      this.lost -= c[o + 2 * slot + 1]!;
      c[o + 2 * slot] = 0;
      c[o + 2 * slot + 1] = 0;
      rtts[q + 3 * slot] = Number.NaN;
      rtts[q + 3 * slot + 1] = Number.NaN;
      rtts[q + 3 * slot + 2] = Number.NaN;
    }
    this.enterBlock(c, o, tick);
    this.lossRatio = this.sent === 0 ? 0 : this.lost / this.sent;
    this.at = tick;
  }

  /** A new block replaces the one LONG_BLOCKS before it (or an older one) at its position. */
  private enterBlock(c: Uint32Array, o: number, tick: number): number {
    // A whole quotient: V8 speculated on the first ticks' whole one and deoptimized at tick 1 (lost precision).
    const block = (tick - (tick % WINDOW)) / WINDOW;
    const pos = o + LONG + 3 * (block % LONG_BLOCKS);
    if (c[pos + 2] !== block + 1) {
      this.sentLong -= c[pos]!;
      this.lostLong -= c[pos + 1]!;
      c[pos] = 0;
      c[pos + 1] = 0;
      c[pos + 2] = block + 1;
    }
    return pos;
  }

  /**
   * Sets iteration `tick`'s figures, the entry being at `tick` - 1 or `tick` (advance() first): the
   * slot's (its old figures, those of `tick` - WINDOW, subtracted), the block's and the totals.
   */
  set(tick: number, r: FlowResults, i: number): void {
    const c = this.rows.counts;
    const rtts = this.rows.rtts;
    const o = this.row * COUNTS;
    const q = this.row * RTTS;
    const slot = tick % WINDOW;
    const sent = r.sent[i]!;
    const lost = r.lost[i]!;
    this.sent += sent - c[o + 2 * slot]!;
    this.lost += lost - c[o + 2 * slot + 1]!;
    c[o + 2 * slot] = sent;
    c[o + 2 * slot + 1] = lost;
    this.lossRatio = this.sent === 0 ? 0 : this.lost / this.sent;
    rtts[q + 3 * slot] = r.rttMin[i]!;
    rtts[q + 3 * slot + 1] = r.rttP50[i]!;
    rtts[q + 3 * slot + 2] = r.rttMax[i]!;
    const pos = this.enterBlock(c, o, tick);
    c[pos]! += sent;
    c[pos + 1]! += lost;
    this.sentLong += sent;
    this.lostLong += lost;
    this.sentTotal += sent;
    this.lostTotal += lost;
    if (r.replyTtl[i] !== 0) this.replyTtl = r.replyTtl[i]!;
    this.lastTick = tick;
    this.at = tick;
    this.rttTick = -1;
  }

  /** The RTT figures over the window's slots (those outside it were cleared by advance()). */
  private rtt(): void {
    if (this.rttTick === this.at || this.gone) return;
    let min = Number.NaN;
    let max = Number.NaN;
    const medians = MEDIANS;
    const rtts = this.rows.rtts;
    const q = this.row * RTTS;
    let n = 0;
    for (let slot = 0; slot < WINDOW; slot++) {
      const lo = rtts[q + 3 * slot]!;
      if (Number.isNaN(lo)) continue;
      if (!(lo >= min)) min = lo;
      const hi = rtts[q + 3 * slot + 2]!;
      if (!(hi <= max)) max = hi;
      // insertion into the sorted scratch (at most WINDOW values)
      const v = rtts[q + 3 * slot + 1]!;
      let j = n++;
      for (; j > 0 && medians[j - 1]! > v; j--) medians[j] = medians[j - 1]!;
      medians[j] = v;
    }
    this.min = min;
    this.max = max;
    this.p50 = percentileOf(medians, 0, n, 50) ?? Number.NaN;
    this.rttTick = this.at;
  }
}

/** The flows of one target × group. */
interface Bucket {
  target: string;
  group: string;
  /** Iterations recorded for this target × group. */
  tick: number;
  flows: Map<string, Entry>;
  /** The entries of `flows`, in its order (made again when a flow comes or goes). */
  list: Entry[] | undefined;
  /** Entries record() brought to `tick` with figures (when all of them, no other needs advancing). */
  recorded: number;
  /** The ledger's version when record() last advanced it. */
  advancedAt: number;
  /** Dropped by retain(). */
  dropped: boolean;
}

const flowKey = (f: Flow) => `${f.dst}|${f.src}|${f.srcPort}|${f.flowLabel}`;
const bucketKey = (target: string, group: string) => `${target}\u0000${group}`;

export class Ledger {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rows = new Rows();
  /** The entries of the last recorded FlowResults.flows, by position (a plan's flows are one array for its life). */
  private last: { flows: readonly Flow[]; entries: (Entry | undefined)[] } | undefined;
  /** Changes with every record() and retain(): what was computed from the flows before is stale. */
  version = 0;
  /** The buckets of the last record()'s series, by position. */
  private bucketOf: Bucket[] = [];
  /** series(), made again when a target × group comes or goes. */
  private pairs: { target: string; group: string }[] | undefined;

  /**
   * Adds one iteration. `series[i]` names plan series i (the iteration's SeriesResult list is in
   * plan order); every target × group in it advances one iteration, flows that sent nothing included.
   */
  record(series: readonly { target: string; group: string }[], r: FlowResults): void {
    this.version++;
    const touched: Bucket[] = [];
    // The series' buckets: those of the last record() while the series are the same (no key string
    // and map look-up per target × group: thousands of targets of one address each are common).
    const before = this.bucketOf;
    const bucketOf: Bucket[] = [];
    for (let i = 0; i < series.length; i++) {
      const s = series[i]!;
      const c = before[i];
      const b =
        c !== undefined && !c.dropped && c.target === s.target && c.group === s.group
          ? c
          : this.bucket(s.target, s.group);
      bucketOf.push(b);
      if (b.advancedAt === this.version) continue;
      b.advancedAt = this.version;
      b.tick++;
      b.recorded = 0;
      touched.push(b);
    }
    this.bucketOf = bucketOf;
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
          e = new Entry(flow, b, k, this.rows);
          b.flows.set(k, e);
          b.list = undefined;
        }
        known[i] = e;
      }
      if (e.lastTick !== b.tick) b.recorded++;
      if (e.at < b.tick - 1) e.advance(b.tick - 1);
      e.set(b.tick, r, i);
    }
    // The flows not recorded this iteration: their old iterations leave the window too, or they go.
    for (const b of touched) {
      if (b.recorded === b.flows.size) continue;
      for (const e of this.list(b))
        if (b.tick - e.lastTick >= WINDOW) {
          e.drop();
          b.flows.delete(e.key);
          b.list = undefined;
        } else e.advance(b.tick);
    }
  }

  private bucket(target: string, group: string): Bucket {
    const k = bucketKey(target, group);
    let b = this.buckets.get(k);
    if (!b) {
      b = {
        target,
        group,
        tick: -1,
        flows: new Map(),
        list: undefined,
        recorded: 0,
        advancedAt: -1,
        dropped: false,
      };
      this.buckets.set(k, b);
      this.pairs = undefined;
    }
    return b;
  }

  /** Drops every target × group for which keep() is false (on reload). */
  retain(keep: (target: string, group: string) => boolean): void {
    this.version++;
    for (const [k, b] of this.buckets) {
      if (keep(b.target, b.group)) continue;
      for (const e of b.flows.values()) e.drop();
      b.dropped = true;
      this.buckets.delete(k);
      this.pairs = undefined;
    }
  }

  /** The target × group pairs known. */
  series(): readonly { readonly target: string; readonly group: string }[] {
    this.pairs ??= [...this.buckets.values()].map((b) => ({ target: b.target, group: b.group }));
    return this.pairs;
  }

  /**
   * The flows of a target × group over the window, in no particular order: a new array (callers may
   * sort it) of the ledger's live FlowStats (read-only; their figures change at the next record()).
   */
  flows(target: string, group: string): FlowStats[] {
    return this.view(target, group).slice();
  }

  /**
   * The same without a copy: the ledger's own array (the same one while no flow comes or goes), for
   * readers that neither keep nor sort it.
   */
  view(target: string, group: string): readonly FlowStats[] {
    const b = this.buckets.get(bucketKey(target, group));
    return b ? this.list(b) : NONE;
  }

  private list(b: Bucket): Entry[] {
    b.list ??= [...b.flows.values()];
    return b.list;
  }

  /** Flows held, over every target × group. */
  get size(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.flows.size;
    return n;
  }
}

const NONE: readonly FlowStats[] = Object.freeze([]);

/** The iterations' medians of one flow, kept sorted (scratch of Entry.rtt(): one flow at a time). */
const MEDIANS = new Float64Array(WINDOW);

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
