// What each target × group measured in each recent iteration, kept in memory for the status page and
// its JSON API (src/web/api.ts): sent, lost, ICMP errors and seven RTT quantiles (min, p10, p25, p50,
// p75, p90, max). Prometheus keeps the long history; this keeps the last `history_retention` seconds
// so the page works with no Prometheus at all.
// Bounded: one ring of iteration start times shared by every series, and per series fixed typed arrays
// of the same capacity, allocated when the series first appears; recording an iteration writes into
// them and allocates nothing per target. RTTs are stored as 16-bit codes on a log scale (1 µs .. ~100 s,
// 0.03 % relative step: far finer than the kernel timestamps' scheduling noise), so one iteration of
// one series costs 4 + 4 + 2 + 7 × 2 = 24 bytes (see bytesPerSeriesPerHour).
// A reload keeps the rings of the series whose target is unchanged and drops the others.
import type { Config, TargetConfig } from "../config/load.js";
import { percentile } from "../engine/percentile.js";
import type { SeriesResult } from "../engine/results.js";

/** Quantiles kept per iteration, in this order (0 and 100: min and max). */
export const QUANTILES = [0, 10, 25, 50, 75, 90, 100] as const;
export const QUANTILE_NAMES = ["min", "p10", "p25", "p50", "p75", "p90", "max"] as const;
const NQ = QUANTILES.length;

/** sent value meaning "this series was not probed in that iteration" (a gap). */
const GAP = 0xffffffff;
/** RTT code meaning "no sample". */
const NO_RTT = 0;
const RTT_MIN = 1e-6;
/** Codes per natural-log unit: 65534 codes span ln(1e-6) .. ln(1e-6) + 65534 / 3500 (≈ 140 s). */
const RTT_SCALE = 3500;
const LN_MIN = Math.log(RTT_MIN);

/** Encodes an RTT in seconds (1 µs .. ~140 s, clamped) as a 16-bit code 1..65535. */
export function encodeRtt(s: number): number {
  if (!(s > RTT_MIN)) return 1;
  const c = Math.round((Math.log(s) - LN_MIN) * RTT_SCALE) + 1;
  return Math.min(c, 0xffff);
}

/** Seconds of every code (512 KiB, built on first use): reading a long history does no exp(). */
let DECODED: Float64Array | undefined;

export function decodeRtt(code: number): number | null {
  if (code === NO_RTT) return null;
  DECODED ??= Float64Array.from({ length: 0x10000 }, (_, c) => Math.exp((c - 1) / RTT_SCALE + LN_MIN));
  return DECODED[code]!;
}

/** Bytes one series holds per iteration (see the file comment). */
export const BYTES_PER_ITERATION = 4 + 4 + 2 + NQ * 2;

/** Bytes one series costs per hour of history at `interval` seconds (0: back to back, counted as 1 s). */
export function bytesPerSeriesPerHour(interval: number): number {
  return Math.ceil(3600 / Math.max(1, interval)) * BYTES_PER_ITERATION;
}

/**
 * Most iterations kept per series (24 h at 5 s, 405 KiB per series): a short interval, or 0 (back to
 * back), with the default retention would otherwise hold 86,400 iterations, 2 MiB per series.
 */
export const MAX_ITERATIONS = 17_280;

/** Iterations kept: retention / interval (interval 0 counted as 1 s), at least 2, at most MAX_ITERATIONS. */
export function capacityFor(retentionSeconds: number, interval: number): number {
  return Math.min(MAX_ITERATIONS, Math.max(2, Math.ceil(retentionSeconds / Math.max(1, interval))));
}

/** One target × group: its rings and the running totals the API shows. */
export class SeriesHistory {
  sent: Uint32Array;
  lost: Uint32Array;
  errors: Uint16Array;
  /** NQ codes per slot. */
  rtt: Uint16Array;
  /** Last iteration's p50 and p95 (s), undefined when it had no sample. */
  lastP50: number | undefined;
  lastP95: number | undefined;
  lastLossRatio = 0;
  /** Since the series appeared (reloads that keep it included). */
  late = 0;
  duplicates = 0;
  readonly icmpErrors = new Map<string, number>();
  /** Sequence number of the last iteration written. */
  seq = -1;

  constructor(
    readonly target: string,
    readonly group: string,
    public targetConfig: TargetConfig,
    capacity: number,
  ) {
    this.sent = new Uint32Array(capacity).fill(GAP);
    this.lost = new Uint32Array(capacity);
    this.errors = new Uint16Array(capacity);
    this.rtt = new Uint16Array(capacity * NQ);
  }

  get id(): string {
    return `${this.target}/${this.group}`;
  }

  /** Keeps the newest `count` slots ending before `head` of a ring of `old` capacity, in order, in `capacity`. */
  resize(old: number, head: number, count: number, capacity: number): void {
    const keep = Math.min(count, capacity);
    const sent = new Uint32Array(capacity).fill(GAP);
    const lost = new Uint32Array(capacity);
    const errors = new Uint16Array(capacity);
    const rtt = new Uint16Array(capacity * NQ);
    for (let k = 0; k < keep; k++) {
      const from = (head - keep + k + old) % old;
      sent[k] = this.sent[from]!;
      lost[k] = this.lost[from]!;
      errors[k] = this.errors[from]!;
      rtt.set(this.rtt.subarray(from * NQ, from * NQ + NQ), k * NQ);
    }
    this.sent = sent;
    this.lost = lost;
    this.errors = errors;
    this.rtt = rtt;
  }
}

/** One iteration of one series as read back (RTTs in seconds, null when none). */
export interface Slot {
  t: number;
  sent: number;
  lost: number;
  errors: number;
  /** null: a gap (the series was not probed in that iteration). */
  gap: boolean;
  rtt: (number | null)[];
}

export class History {
  capacity: number;
  /** Iteration start times (unix s), a ring. */
  private times: Float64Array;
  /** Next slot to write. */
  private head = 0;
  /** Slots written (≤ capacity). */
  count = 0;
  private seq = 0;
  private readonly byTarget = new Map<string, Map<string, SeriesHistory>>();
  /** Every series, flat: the per-iteration gap pass walks it without an iterator per target. */
  private all: SeriesHistory[] = [];

  constructor(retentionSeconds: number, interval: number) {
    this.capacity = capacityFor(retentionSeconds, interval);
    this.times = new Float64Array(this.capacity);
  }

  /** Number of series held. */
  get seriesCount(): number {
    return this.all.length;
  }

  /** Bytes of the rings (times and every series), for the benchmark and docs. */
  get bytes(): number {
    return this.capacity * 8 + this.all.length * this.capacity * BYTES_PER_ITERATION;
  }

  /**
   * Applies a (re)loaded configuration: the capacity follows global.history_retention / interval;
   * series whose target was removed, changed, disabled or left the group are dropped; the others keep
   * their history.
   */
  applyConfig(config: Config): void {
    const g = config.global;
    const capacity = capacityFor(g.history_retention, g.interval);
    if (capacity !== this.capacity) this.resize(capacity);
    for (const [name, groups] of this.byTarget) {
      const t = config.targets.get(name);
      for (const [group, s] of groups) {
        if (!t?.enabled || !t.groups.includes(group) || !sameTarget(s.targetConfig, t)) {
          groups.delete(group);
        } else {
          s.targetConfig = t;
        }
      }
      if (groups.size === 0) this.byTarget.delete(name);
    }
    this.all = [...this.series()];
  }

  private resize(capacity: number): void {
    const keep = Math.min(this.count, capacity);
    const times = new Float64Array(capacity);
    for (let k = 0; k < keep; k++)
      times[k] = this.times[(this.head - keep + k + this.capacity) % this.capacity]!;
    for (const s of this.all) s.resize(this.capacity, this.head, this.count, capacity);
    this.times = times;
    this.capacity = capacity;
    this.count = keep;
    this.head = keep % capacity;
  }

  /** Records one iteration that started at `startUnix` (s); series of unknown targets are ignored. */
  record(config: Config, startUnix: number, series: readonly SeriesResult[]): void {
    const slot = this.head;
    const seq = ++this.seq;
    this.times[slot] = startUnix;
    for (const r of series) {
      const t = config.targets.get(r.target);
      if (!t) continue;
      let groups = this.byTarget.get(r.target);
      if (!groups) {
        groups = new Map();
        this.byTarget.set(r.target, groups);
      }
      let s = groups.get(r.group);
      if (!s) {
        s = new SeriesHistory(r.target, r.group, t, this.capacity);
        groups.set(r.group, s);
        this.all.push(s);
      }
      s.seq = seq;
      s.sent[slot] = Math.min(r.sent, GAP - 1);
      const lost = r.lost + r.unreachable;
      s.lost[slot] = lost;
      let errors = r.unreachable;
      // Maps are walked only when they hold something: no iterator object per series otherwise.
      if (r.icmpErrors.size > 0) for (const n of r.icmpErrors.values()) errors += n;
      s.errors[slot] = Math.min(errors, 0xffff);
      const rtts = r.rtts;
      const base = slot * NQ;
      for (let q = 0; q < NQ; q++)
        s.rtt[base + q] = rtts.length === 0 ? NO_RTT : encodeRtt(quantile(rtts, QUANTILES[q]!));
      s.lastP50 = rtts.length === 0 ? undefined : quantile(rtts, 50);
      s.lastP95 = rtts.length === 0 ? undefined : quantile(rtts, 95);
      s.lastLossRatio = r.sent === 0 ? 0 : lost / r.sent;
      s.late += r.late;
      s.duplicates += r.duplicates;
      if (r.icmpErrors.size > 0)
        for (const [k, n] of r.icmpErrors) s.icmpErrors.set(k, (s.icmpErrors.get(k) ?? 0) + n);
      if (r.unreachableBy.size > 0)
        for (const [k, n] of r.unreachableBy) s.icmpErrors.set(k, (s.icmpErrors.get(k) ?? 0) + n);
    }
    // Series not in this iteration get a gap, not the value that slot held a retention ago.
    const all = this.all;
    for (let i = 0; i < all.length; i++) if (all[i]!.seq !== seq) all[i]!.sent[slot] = GAP;
    this.head = (slot + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  get(id: string): SeriesHistory | undefined {
    const cut = id.lastIndexOf("/");
    if (cut < 0) return undefined;
    return this.byTarget.get(id.slice(0, cut))?.get(id.slice(cut + 1));
  }

  *series(): IterableIterator<SeriesHistory> {
    for (const groups of this.byTarget.values()) yield* groups.values();
  }

  /** Start time (unix s) of the newest iteration, undefined before the first. */
  get lastTime(): number | undefined {
    return this.count === 0 ? undefined : this.times[(this.head - 1 + this.capacity) % this.capacity];
  }

  /** Ring positions of the iterations that started in [from, to], oldest first. */
  slotsIn(from: number, to: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.count; k++) {
      const slot = (this.head - this.count + k + this.capacity) % this.capacity;
      const t = this.times[slot]!;
      if (t >= from && t <= to) out.push(slot);
    }
    return out;
  }

  timeOf(slot: number): number {
    return this.times[slot]!;
  }

  /** One slot of one series, decoded. */
  read(s: SeriesHistory, slot: number): Slot {
    const sent = s.sent[slot]!;
    const rtt: (number | null)[] = [];
    for (let q = 0; q < NQ; q++) rtt.push(sent === GAP ? null : decodeRtt(s.rtt[slot * NQ + q]!));
    return {
      t: this.times[slot]!,
      gap: sent === GAP,
      sent: sent === GAP ? 0 : sent,
      lost: sent === GAP ? 0 : s.lost[slot]!,
      errors: sent === GAP ? 0 : s.errors[slot]!,
      rtt,
    };
  }

  /** Raw access for the API's downsampling loop (no per-slot objects). */
  isGap(s: SeriesHistory, slot: number): boolean {
    return s.sent[slot] === GAP;
  }

  rttAt(s: SeriesHistory, slot: number, q: number): number | null {
    return decodeRtt(s.rtt[slot * NQ + q]!);
  }

  /** Loss ratio and worst per-iteration median RTT of a series over the iterations since `from`. */
  window(s: SeriesHistory, from: number): { loss: number; worstRtt: number | null } {
    let sent = 0;
    let lost = 0;
    let worst = NO_RTT;
    for (let k = this.count - 1; k >= 0; k--) {
      const slot = (this.head - this.count + k + this.capacity) % this.capacity;
      if (this.times[slot]! < from) break;
      if (s.sent[slot] === GAP) continue;
      sent += s.sent[slot]!;
      lost += s.lost[slot]!;
      const p50 = s.rtt[slot * NQ + 3]!;
      if (p50 > worst) worst = p50;
    }
    return { loss: sent === 0 ? 0 : lost / sent, worstRtt: decodeRtt(worst) };
  }
}

/** The p-th percentile of non-empty sorted samples (linear interpolation, as the metrics' percentiles). */
function quantile(sorted: Float64Array, p: number): number {
  return percentile(sorted, p)!;
}

function sameTarget(a: TargetConfig, b: TargetConfig): boolean {
  return a === b || stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}
