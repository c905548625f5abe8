// One trace-on-loss incident (a target × group with an ECMP anomaly): which flows it traces, what each
// TTL of each flow answered so far, and which probes to send next. No I/O and no clock of its own: the
// orchestrator (trace.ts) hands it the outcomes of the probes it asked for and the current time, so
// budget, retries of silent hops and path-change handling are tested with plain data.

import { splitBudget } from "./budget.js";
import type { TtlObservation } from "./verdict.js";

/** One flow of a target × group, as the ledger names it. */
export interface FlowRef {
  dst: string;
  src: string;
  srcPort: number;
  flowLabel: number;
}

/** How one trace probe ended (the engine's fates, see src/engine/trace.ts). */
export type ProbeFate = "answered" | "time-exceeded" | "error" | "lost" | "refused";

/** One TTL of one flow after the retries (the verdict's TtlObservation, counted in place). */
export type TtlCounts = TtlObservation & { timeExceeded: Record<string, number> };

/** A batch entry: probes of one flow at one TTL. */
export interface TraceAsk {
  flow: number;
  ttl: number;
  count: number;
}

/** Tuning of one incident (defaults in trace.ts). */
export interface IncidentLimits {
  /** Extra probes this incident may send, retraces included. */
  budget: number;
  /** Highest TTL tried while the destination's distance is unknown. */
  maxTtl: number;
  /** At most this many probes per flow and TTL of the full trace (the budget split decides below it). */
  perTtl: number;
  /** Probes per TTL while discovering the path, and per TTL of a retrace. */
  discovery: number;
  /** Times a silent hop is tried again before it is reported as "no answer". */
  silentRetries: number;
  /** First wait before a silent hop is tried again (doubles each time), ms. */
  retryMs: number;
}

interface Cell {
  counts: TtlCounts;
  retries: number;
  /** Not before this time (ms) while a silent hop waits for its retry. */
  notBefore: number;
  /** Silent after every retry: no more probes. */
  given: boolean;
}

export interface TracedFlow {
  ref: FlowRef;
  flagged: boolean;
  /** Order of this flow's full traces (a path change starts a new one). */
  seq: number;
  cells: Map<number, Cell>;
  /** Hops of the last retrace, when it has finished. */
  retrace: Map<number, TtlCounts> | undefined;
}

export type Phase = "discover" | "trace" | "monitor";

export class Incident {
  readonly flows: TracedFlow[];
  phase: Phase = "discover";
  used = 0;
  exhausted = false;
  pathChanges = 0;
  /** Probes per TTL of the full trace, per flagged and per healthy flow (sized when discovery ends). */
  private goal: { flagged: number; healthy: number };
  /** Set while a retrace is being collected. */
  private retracing = false;

  constructor(
    readonly target: string,
    readonly group: string,
    flagged: readonly FlowRef[],
    healthy: readonly FlowRef[],
    readonly limits: IncidentLimits,
    readonly openedAt: number,
  ) {
    this.flows = [
      ...flagged.map((ref) => ({ ref, flagged: true })),
      ...healthy.map((ref) => ({ ref, flagged: false })),
    ].map(({ ref, flagged }) => ({ ref, flagged, seq: 0, cells: new Map(), retrace: undefined }));
    this.goal = { flagged: limits.perTtl, healthy: limits.perTtl };
  }

  get remaining(): number {
    return Math.max(0, this.limits.budget - this.used);
  }

  /** Stops tracing the flows `drop` picks (between batches: no probe of theirs is pending). */
  dropFlows(drop: (f: TracedFlow) => boolean): void {
    for (let i = this.flows.length - 1; i >= 0; i--) if (drop(this.flows[i]!)) this.flows.splice(i, 1);
  }

  /** TTL at which a flow's probes reached the destination (undefined: not yet). */
  destTtl(f: TracedFlow): number | undefined {
    let best: number | undefined;
    for (const [t, c] of f.cells) if (c.counts.reached > 0 && (best === undefined || t < best)) best = t;
    return best;
  }

  /**
   * The TTLs a flow is traced over: up to where it reached the destination; otherwise up to the
   * distance the other flows of the target reached it at, or two past its last answering hop.
   */
  span(f: TracedFlow): number {
    const own = this.destTtl(f);
    if (own !== undefined) return own;
    const others = this.flows.map((g) => this.destTtl(g)).filter((t): t is number => t !== undefined);
    if (others.length > 0) return Math.min(this.limits.maxTtl, Math.max(...others));
    let last = 0;
    for (const [t, c] of f.cells) if (answers(c.counts) > 0) last = Math.max(last, t);
    return Math.min(this.limits.maxTtl, last + 2);
  }

  /** The next probes to send, at most `cap`, none before its cell's retry time; [] when nothing is due. */
  next(cap: number, now: number): TraceAsk[] {
    cap = Math.min(cap, this.remaining);
    if (this.phase === "monitor" && !this.retracing) return [];
    const wanted: TraceAsk[] = [];
    for (let i = 0; i < this.flows.length; i++) {
      const f = this.flows[i]!;
      if (this.retracing) {
        if (f.retrace) continue;
        for (let t = 1; t <= this.span(f); t++)
          wanted.push({ flow: i, ttl: t, count: this.limits.discovery });
        continue;
      }
      const top = this.phase === "discover" ? this.limits.maxTtl : this.span(f);
      const goal = this.phase === "discover" ? this.limits.discovery : this.perTtl(f);
      for (let t = 1; t <= top; t++) {
        const c = f.cells.get(t);
        if (c?.given || (c && c.notBefore > now)) continue;
        const need = goal - (c?.counts.sent ?? 0);
        if (need > 0) wanted.push({ flow: i, ttl: t, count: need });
      }
    }
    if (wanted.length === 0 || cap <= 0) {
      if (wanted.length > 0 && cap <= 0) this.exhausted = true;
      return [];
    }
    // Spread the cap evenly over the wanted cells, so every flow and TTL advances together.
    const share = Math.max(1, Math.floor(cap / wanted.length));
    const out: TraceAsk[] = [];
    let left = cap;
    for (const w of wanted) {
      if (left <= 0) break;
      const n = Math.min(w.count, share, left);
      out.push({ ...w, count: n });
      left -= n;
    }
    return out;
  }

  /** Takes the outcomes of a batch from next() (one fate and answering address per probe, in order). */
  record(
    asks: readonly TraceAsk[],
    outcomes: readonly { fate: ProbeFate; from?: string }[],
    now: number,
  ): void {
    let k = 0;
    const batch = new Map<string, TtlCounts>();
    for (const a of asks) {
      const key = `${a.flow}/${a.ttl}`;
      const c = batch.get(key) ?? empty(a.ttl);
      batch.set(key, c);
      for (let n = 0; n < a.count; n++, k++) {
        const o = outcomes[k];
        if (!o || o.fate === "refused") continue;
        this.used++;
        add(c, o.fate, o.from);
      }
    }
    for (const a of asks) {
      const f = this.flows[a.flow]!;
      const got = batch.get(`${a.flow}/${a.ttl}`);
      if (!got) continue;
      batch.delete(`${a.flow}/${a.ttl}`);
      if (this.retracing) {
        f.retrace ??= new Map();
        f.retrace.set(a.ttl, got);
        continue;
      }
      const cell = f.cells.get(a.ttl) ?? { counts: empty(a.ttl), retries: 0, notBefore: 0, given: false };
      f.cells.set(a.ttl, cell);
      // A hop silent for the whole batch while later hops of the same flow answered: most likely an
      // ICMP rate limit. Those probes say nothing about loss; try again later, then give up on it.
      const laterAnswered =
        asks.some(
          (b) => b.flow === a.flow && b.ttl > a.ttl && answers(this.batchOf(b, asks, outcomes)) > 0,
        ) || [...f.cells].some(([t, c]) => t > a.ttl && answers(c.counts) > 0);
      if (answers(got) === 0 && got.reached === 0 && laterAnswered && got.sent > 0) {
        cell.retries++;
        if (cell.retries > this.limits.silentRetries) {
          merge(cell.counts, got);
          cell.counts.rateLimited = true;
          cell.given = true;
        } else {
          cell.notBefore = now + this.limits.retryMs * 2 ** (cell.retries - 1);
        }
        continue;
      }
      merge(cell.counts, got);
    }
    this.advance();
  }

  /** The counts a batch gave one ask (recomputed: asks are few). */
  private batchOf(
    b: TraceAsk,
    asks: readonly TraceAsk[],
    outcomes: readonly { fate: ProbeFate; from?: string }[],
  ): TtlCounts {
    const c = empty(b.ttl);
    let k = 0;
    for (const a of asks) {
      for (let n = 0; n < a.count; n++, k++) {
        const o = outcomes[k];
        if (a === b && o && o.fate !== "refused") add(c, o.fate, o.from);
      }
    }
    return c;
  }

  private advance(): void {
    if (this.retracing) {
      if (this.flows.every((f) => f.retrace)) this.endRetrace();
      return;
    }
    if (this.phase === "discover") {
      const done = this.flows.every((f) => {
        for (let t = 1; t <= this.limits.maxTtl; t++) {
          const c = f.cells.get(t);
          if (!c?.given && (c?.counts.sent ?? 0) < this.limits.discovery) return false;
        }
        return true;
      });
      if (done) {
        // Drop what lies past each flow's destination: the full trace stops there.
        for (const f of this.flows)
          for (const t of [...f.cells.keys()]) if (t > this.span(f)) f.cells.delete(t);
        this.phase = "trace";
        this.sizeTrace();
      }
    }
    if (this.phase === "trace") {
      const done = this.flows.every((f) => {
        for (let t = 1; t <= this.span(f); t++) {
          const c = f.cells.get(t);
          if (!c?.given && (c?.counts.sent ?? 0) < this.perTtl(f)) return false;
        }
        return true;
      });
      if (done) this.phase = "monitor";
    }
  }

  /** Probes per TTL of a flow's full trace. */
  perTtl(f: TracedFlow): number {
    return f.flagged ? this.goal.flagged : this.goal.healthy;
  }

  /**
   * Sizes the full trace now that the paths' lengths are known: the verdict's split (src/paths/budget.ts:
   * flagged flows get more probes per TTL than healthy ones) of 90 % of what is left (the rest:
   * retraces), at most limits.perTtl each.
   */
  private sizeTrace(): void {
    const flagged = this.flows.filter((f) => f.flagged).length;
    const ttls = Math.max(1, ...this.flows.map((f) => this.span(f)));
    const split = splitBudget(flagged, this.flows.length - flagged, ttls, Math.floor(this.remaining * 0.9));
    const cap = (n: number) => Math.max(1, Math.min(this.limits.perTtl, n));
    this.goal = { flagged: cap(split.flagged), healthy: cap(split.healthy) };
  }

  /** Starts a retrace (monitor phase only): a few probes per TTL to see whether paths moved. */
  startRetrace(): boolean {
    if (this.phase !== "monitor" || this.retracing || this.remaining === 0) return false;
    for (const f of this.flows) f.retrace = undefined;
    this.retracing = true;
    return true;
  }

  get isRetracing(): boolean {
    return this.retracing;
  }

  private endRetrace(): void {
    this.retracing = false;
    for (const f of this.flows) {
      const now = f.retrace!;
      f.retrace = undefined;
      if (!differs(hopsOf(f.cells), hopsOf(now))) continue;
      // The flow moved: its full trace starts again (the old one described another path).
      this.pathChanges++;
      f.seq++;
      f.cells = new Map(
        [...now].map(([t, counts]) => [t, { counts, retries: 0, notBefore: 0, given: false }]),
      );
      this.phase = "trace";
    }
    if (this.phase === "trace") this.sizeTrace();
  }

  /** Per TTL of a flow's current trace, in TTL order. */
  ttls(f: TracedFlow): TtlCounts[] {
    return [...f.cells.values()].map((c) => c.counts).sort((a, b) => a.ttl - b.ttl);
  }

  /** The router that answered each TTL most (null: none), before the destination (or where it should be). */
  hops(f: TracedFlow): (string | null)[] {
    return hopsOf(f.cells).slice(0, (this.destTtl(f) ?? this.span(f)) - 1);
  }
}

function empty(ttl: number): TtlCounts {
  return { ttl, sent: 0, timeExceeded: {}, reached: 0, noAnswer: 0 };
}

function add(c: TtlCounts, fate: ProbeFate, from: string | undefined): void {
  c.sent++;
  if (fate === "answered") c.reached++;
  else if (fate === "time-exceeded" && from) c.timeExceeded[from] = (c.timeExceeded[from] ?? 0) + 1;
  else c.noAnswer++;
}

function merge(into: TtlCounts, c: TtlCounts): void {
  into.sent += c.sent;
  into.reached += c.reached;
  into.noAnswer += c.noAnswer;
  for (const [a, n] of Object.entries(c.timeExceeded)) into.timeExceeded[a] = (into.timeExceeded[a] ?? 0) + n;
}

function answers(c: TtlCounts): number {
  let n = c.reached;
  for (const v of Object.values(c.timeExceeded)) n += v;
  return n;
}

function topRouter(c: TtlCounts): string | null {
  let best: string | null = null;
  let most = 0;
  for (const [a, n] of Object.entries(c.timeExceeded)) if (n > most) [best, most] = [a, n];
  return best;
}

/** Router per TTL from 1 (index 0 = TTL 1), from cells or a retrace. */
function hopsOf(cells: Map<number, { counts: TtlCounts } | TtlCounts>): (string | null)[] {
  const max = Math.max(0, ...cells.keys());
  const out: (string | null)[] = [];
  for (let t = 1; t <= max; t++) {
    const v = cells.get(t);
    const c = v && "counts" in v ? v.counts : (v as TtlCounts | undefined);
    out.push(c ? topRouter(c) : null);
  }
  return out;
}

/** Two hop lists name different routers at some TTL both answered. */
function differs(a: readonly (string | null)[], b: readonly (string | null)[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] && b[i] && a[i] !== b[i]) return true;
  return false;
}
