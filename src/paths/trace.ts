// Trace-on-loss: when a target × group shows an ECMP anomaly, trace its flagged flows and as many
// healthy ones with their own 5-tuple, TTL 1..N, and let the verdict name the link that drops. This
// module decides when incidents open and close, paces and budgets their probes and reports what they
// found; the probes themselves, the anomalies and the verdict come through the three narrow
// interfaces below (the engine, src/paths/anomaly.ts and src/paths/verdict.ts in the daemon; fakes in
// tests). Method, limits and metrics: docs/paths.md.
import {
  type FlowRef,
  Incident,
  type IncidentLimits,
  type ProbeFate,
  type TraceAsk,
  type TracedFlow,
} from "./incident.js";
import { analyzeIncident, type FlowTrace, type Verdict } from "./verdict.js";

export type { FlowRef } from "./incident.js";
export type { Verdict } from "./verdict.js";

/** One probe asked of the runner: a flow of a target × group at one TTL. */
export interface RunnerAsk {
  target: string;
  group: string;
  flow: FlowRef;
  ttl: number;
  count: number;
}

/** Sends trace probes and resolves with one outcome per probe, in the order asked. */
export interface TraceRunner {
  trace(asks: readonly RunnerAsk[]): Promise<{ fate: ProbeFate; from?: string }[]>;
}

/** A target × group as the anomaly detector sees it now. */
export interface AnomalyView {
  target: string;
  group: string;
  /** Flows significantly lossier than the rest, worst first. */
  flagged: readonly FlowRef[];
  /** The other flows, least lossy first. */
  healthy: readonly FlowRef[];
  /** Flows with any loss in the window, worst first (trace_on_loss: any). */
  lossy: readonly FlowRef[];
}

export interface AnomalySource {
  current(): readonly AnomalyView[];
}

/** What the verdict is given: one flow's trace. */
export type JudgedTrace = FlowTrace;

export interface Judge {
  judge(traces: readonly JudgedTrace[]): Verdict;
}

/** The verdict of src/paths/verdict.ts. */
export const verdictJudge: Judge = { judge: (traces) => analyzeIncident(traces).verdict };

export interface TraceSettings {
  /** anomaly: open on flagged flows; any: on any loss. */
  on: "anomaly" | "any";
  /** Extra probes per incident (≤ 20,000). */
  budget: number;
  /** Trace probes per second, over all incidents. */
  rate: number;
  /** Incidents open at once. */
  maxIncidents: number;
  maxTtl: number;
  /** Flows per incident and, of them, at most this many flagged ones. */
  flows: number;
  flaggedFlows: number;
  /** Probes per flow and TTL of a full trace (lowered to fit the budget). */
  perTtl: number;
  discovery: number;
  silentRetries: number;
  retryMs: number;
  /** A retrace every this many ms while an incident stays open. */
  retraceMs: number;
}

/** A flow of an incident, for /paths and metrics. */
export interface FlowReport {
  dst: string;
  src: string;
  srcPort: number;
  flowLabel: number;
  flagged: boolean;
  hops: (string | null)[];
  reached: boolean;
}

export interface IncidentReport {
  target: string;
  group: string;
  phase: string;
  openedAt: number;
  probes: number;
  budget: number;
  budgetExhausted: boolean;
  verdict: Verdict | undefined;
  distinctPaths: number;
  hops: number;
  pathChanges: number;
  flows: FlowReport[];
}

export type LogFn = (msg: string, fields: Record<string, unknown>) => void;

const key = (target: string, group: string) => `${target}\u0000${group}`;
const flowName = (f: FlowRef) => `${f.src}|${f.srcPort}|${f.flowLabel}|${f.dst}`;

/** What the tracer remembers of a target × group while it has incidents open. */
interface Opened {
  /** Every flow flagged when an incident of this target × group opened (traced or not), by flowName. */
  known: Set<string>;
}

export class Tracer {
  /** Open incidents by id: key(target, group) for the first, with a suffix for follow-ups. */
  private readonly open = new Map<string, Incident>();
  private readonly idOf = new Map<Incident, string>();
  /** Per target × group with an open incident. */
  private readonly byKey = new Map<string, Opened>();
  /** Follow-ups still to be checked against the first incident's link once their discovery ends. */
  private readonly followUpOf = new Map<Incident, Incident>();
  private followUps = 0;
  private readonly verdicts = new Map<Incident, Verdict>();
  private readonly retraceAt = new Map<Incident, number>();
  /** Not before this time (ms): the pacing of the last batch. */
  private nextAt = 0;
  private cursor = 0;
  /** Trace probes sent and incidents that ran out of budget, since start (counters). */
  sent = 0;
  exhausted = 0;
  private readonly counted = new Set<Incident>();

  constructor(
    private readonly s: TraceSettings,
    private readonly runner: TraceRunner,
    private readonly judge: Judge,
    private readonly log: LogFn = () => {},
  ) {}

  /** Opens incidents for new anomalies, closes those whose anomaly cleared. */
  update(views: readonly AnomalyView[], now: number): void {
    const live = new Map<string, AnomalyView>();
    for (const v of views) {
      const bad = this.s.on === "any" ? (v.flagged.length > 0 ? v.flagged : v.lossy) : v.flagged;
      if (bad.length > 0) live.set(key(v.target, v.group), v);
    }
    for (const inc of [...this.open.values()]) {
      if (!live.has(key(inc.target, inc.group))) this.close(inc, "path incident closed");
    }
    for (const k of [...this.byKey.keys()]) if (!live.has(k)) this.byKey.delete(k);
    for (const [k, v] of live) {
      if (this.open.size >= this.s.maxIncidents) break;
      const opened = this.byKey.get(k);
      const bad = v.flagged.length > 0 ? v.flagged : v.lossy;
      if (opened === undefined) {
        const inc = this.openIncident(v, bad, now);
        if (inc) this.add(k, inc, { known: new Set(bad.map(flowName)) });
        continue;
      }
      // A second fault while the first is open: flows flagged since are traced by a follow-up once
      // every incident of the target × group names a link (flows of the first fault flagged late
      // are then recognised by their path: see checkFollowUp). An incident that names none (uniform
      // loss flagged by chance, per-packet balancing) opens no follow-up: no trace after trace.
      const fresh = bad.filter((f) => !opened.known.has(flowName(f)));
      if (fresh.length === 0 || !this.allNamed(k)) continue;
      const inc = this.openIncident(v, fresh, now, "path incident follow-up opened");
      if (!inc) continue;
      for (const f of fresh) opened.known.add(flowName(f));
      this.add(`${k}\u0000${++this.followUps}`, inc, opened);
      const first = this.open.get(k);
      if (first) this.followUpOf.set(inc, first);
    }
  }

  private add(id: string, inc: Incident, opened: Opened): void {
    this.open.set(id, inc);
    this.idOf.set(inc, id);
    this.byKey.set(key(inc.target, inc.group), opened);
  }

  /** Whether every open incident of target × group `k` has a verdict that names a link. */
  private allNamed(k: string): boolean {
    for (const inc of this.open.values())
      if (key(inc.target, inc.group) === k && this.verdicts.get(inc)?.kind !== "link") return false;
    return true;
  }

  private close(inc: Incident, msg: string, extra: Record<string, unknown> = {}): void {
    this.open.delete(this.idOf.get(inc)!);
    this.idOf.delete(inc);
    this.log(msg, {
      destination: inc.target,
      group: inc.group,
      probes: inc.used,
      path_changes: inc.pathChanges,
      ...extra,
    });
    this.verdicts.delete(inc);
    this.retraceAt.delete(inc);
    this.counted.delete(inc);
    this.followUpOf.delete(inc);
  }

  /**
   * Once a follow-up's discovery ends, its flagged flows that cross the link the first incident names
   * (more flows of the first fault) are no longer traced; with none left it closes, else it goes on
   * and its verdict names what the others cross.
   */
  private checkFollowUp(inc: Incident): void {
    const first = this.followUpOf.get(inc);
    if (first === undefined || inc.phase === "discover") return;
    this.followUpOf.delete(inc);
    const v = this.verdicts.get(first);
    if (v?.kind !== "link" || !this.isOpen(first)) return;
    const explained = (f: TracedFlow) =>
      f.flagged && crosses(inc.hops(f), inc.destTtl(f) !== undefined, f.ref.dst, v.from, v.to);
    if (inc.flows.every((f) => !f.flagged || explained(f)))
      this.close(inc, "path incident follow-up explained", { link: verdictName(v) });
    else inc.dropFlows(explained);
  }

  private openIncident(
    v: AnomalyView,
    bad: readonly FlowRef[],
    now: number,
    msg = "path incident opened",
  ): Incident | undefined {
    const flagged = bad.slice(0, this.s.flaggedFlows);
    const chosen = new Set(flagged.map(flowName));
    const healthy = v.healthy
      .filter((f) => !chosen.has(flowName(f)))
      .slice(0, Math.max(flagged.length, this.s.flows - flagged.length));
    if (healthy.length === 0 && flagged.length === 0) return undefined;
    const limits: IncidentLimits = {
      budget: this.s.budget,
      maxTtl: this.s.maxTtl,
      discovery: this.s.discovery,
      perTtl: this.s.perTtl,
      silentRetries: this.s.silentRetries,
      retryMs: this.s.retryMs,
    };
    const inc = new Incident(v.target, v.group, flagged, healthy, limits, now);
    this.log(msg, {
      destination: v.target,
      group: v.group,
      flagged: flagged.length,
      healthy: healthy.length,
    });
    return inc;
  }

  /** Incidents open now. */
  get incidents(): number {
    return this.open.size;
  }

  /** Ms until step() may send again (0: now). */
  waitMs(now: number): number {
    return Math.max(0, this.nextAt - now);
  }

  /**
   * Sends one paced batch for one incident (round robin) and takes its outcomes. Returns the probes
   * sent (0: nothing due, or the pacing asks to wait: see waitMs).
   */
  async step(now: number, clock: () => number = () => now): Promise<number> {
    if (now < this.nextAt) return 0;
    const list = [...this.open.values()];
    for (let n = 0; n < list.length; n++) {
      const inc = list[(this.cursor + n) % list.length]!;
      const due = this.retraceAt.get(inc);
      if (inc.phase === "monitor" && !inc.isRetracing && due !== undefined && now >= due) {
        inc.startRetrace();
        this.retraceAt.set(inc, now + this.s.retraceMs);
      }
      // One batch holds at most a second's worth of probes at the configured rate.
      const asks = inc.next(Math.max(1, Math.floor(this.s.rate)), now);
      this.noteExhausted(inc);
      if (asks.length === 0) continue;
      this.cursor = (this.cursor + n + 1) % Math.max(1, list.length);
      const count = asks.reduce((s, a) => s + a.count, 0);
      this.nextAt = now + (count / this.s.rate) * 1000;
      const outcomes = await this.runner.trace(asks.map((a) => this.ask(inc, a)));
      this.sent += count;
      inc.record(asks, outcomes, clock());
      if (!this.isOpen(inc)) return count;
      this.checkFollowUp(inc);
      if (!this.isOpen(inc)) return count;
      if (inc.phase === "monitor" && !inc.isRetracing) this.conclude(inc, clock());
      return count;
    }
    return 0;
  }

  private isOpen(inc: Incident): boolean {
    const id = this.idOf.get(inc);
    return id !== undefined && this.open.get(id) === inc;
  }

  private noteExhausted(inc: Incident): void {
    if (!inc.exhausted || this.counted.has(inc)) return;
    this.counted.add(inc);
    this.exhausted++;
    this.log("path incident out of budget", { destination: inc.target, group: inc.group, probes: inc.used });
  }

  private ask(inc: Incident, a: TraceAsk): RunnerAsk {
    return { target: inc.target, group: inc.group, flow: inc.flows[a.flow]!.ref, ttl: a.ttl, count: a.count };
  }

  /** Runs the verdict on an incident's full traces; logs it when it differs from the last one. */
  private conclude(inc: Incident, now: number): void {
    const traces: JudgedTrace[] = inc.flows.map((f) => ({
      flow: flowName(f.ref),
      source: f.ref.src,
      target: f.ref.dst,
      flagged: f.flagged,
      seq: f.seq,
      ttls: inc.ttls(f),
    }));
    const v = this.judge.judge(traces);
    const before = this.verdicts.get(inc);
    this.verdicts.set(inc, v);
    if (!this.retraceAt.has(inc)) this.retraceAt.set(inc, now + this.s.retraceMs);
    if (before && verdictName(before) === verdictName(v)) return;
    this.log("path incident verdict", { destination: inc.target, group: inc.group, probes: inc.used, ...v });
  }

  /** What every open incident shows now (for metrics and /paths). */
  report(): IncidentReport[] {
    return [...this.open.values()].map((inc) => {
      const flows = inc.flows.map((f) => ({
        dst: f.ref.dst,
        src: f.ref.src,
        srcPort: f.ref.srcPort,
        flowLabel: f.ref.flowLabel,
        flagged: f.flagged,
        hops: inc.hops(f),
        reached: inc.destTtl(f) !== undefined,
      }));
      const paths = new Set(flows.map((f) => JSON.stringify(f.hops)));
      const hops = new Set(flows.flatMap((f) => f.hops.filter((h): h is string => h !== null)));
      return {
        target: inc.target,
        group: inc.group,
        phase: inc.phase,
        openedAt: inc.openedAt,
        probes: inc.used,
        budget: inc.limits.budget,
        budgetExhausted: inc.exhausted,
        verdict: this.verdicts.get(inc),
        distinctPaths: paths.size,
        hops: hops.size,
        pathChanges: inc.pathChanges,
        flows,
      };
    });
  }

  /** Closes every incident (the daemon stops, or tracing was turned off). */
  clear(): void {
    this.update([], 0);
  }
}

/**
 * Whether a flow's hop list crosses link from → to: `from` answered at some TTL and `to` at the next
 * (to null, "*": nothing answered after `from` and the flow never reached its destination; to the
 * destination: `from` is the last hop and the flow reached it).
 */
export function crosses(
  hops: readonly (string | null)[],
  reached: boolean,
  dst: string,
  from: string,
  to: string | null,
): boolean {
  for (let t = 0; t < hops.length; t++) {
    if (hops[t] !== from) continue;
    if (to === null) {
      if (!reached && hops.slice(t + 1).every((h) => h === null)) return true;
      continue;
    }
    const next = t + 1 < hops.length ? hops[t + 1] : reached ? dst : undefined;
    if (next === to) return true;
  }
  return false;
}

/** What a verdict names (logged again only when this changes): kind, and the link for a link. */
export function verdictName(v: Verdict): string {
  return v.kind === "link" ? `link ${v.from} -> ${v.to ?? "*"}` : v.kind;
}
