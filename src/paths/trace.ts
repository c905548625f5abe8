// Trace-on-loss: when a target × group shows an ECMP anomaly, trace its flagged flows and as many
// healthy ones with their own 5-tuple, TTL 1..N, and let the verdict name the link that drops. This
// module decides when incidents open and close, paces and budgets their probes and reports what they
// found; the probes themselves, the anomalies and the verdict come through the three narrow
// interfaces below (the engine, src/paths/anomaly.ts and src/paths/verdict.ts in the daemon; fakes in
// tests). Method, limits and metrics: docs/paths.md.
import { type FlowRef, Incident, type IncidentLimits, type ProbeFate, type TraceAsk } from "./incident.js";
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

export class Tracer {
  private readonly open = new Map<string, Incident>();
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
    for (const [k, inc] of this.open) {
      if (live.has(k)) continue;
      this.open.delete(k);
      this.log("path incident closed", {
        destination: inc.target,
        group: inc.group,
        probes: inc.used,
        path_changes: inc.pathChanges,
      });
      this.verdicts.delete(inc);
      this.retraceAt.delete(inc);
      this.counted.delete(inc);
    }
    for (const [k, v] of live) {
      if (this.open.has(k) || this.open.size >= this.s.maxIncidents) continue;
      const inc = this.openIncident(v, now);
      if (inc) this.open.set(k, inc);
    }
  }

  private openIncident(v: AnomalyView, now: number): Incident | undefined {
    const bad = v.flagged.length > 0 ? v.flagged : v.lossy;
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
    this.log("path incident opened", {
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
      if (inc.phase === "monitor" && !inc.isRetracing) this.conclude(inc, clock());
      return count;
    }
    return 0;
  }

  private isOpen(inc: Incident): boolean {
    return this.open.get(key(inc.target, inc.group)) === inc;
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

/** What a verdict names (logged again only when this changes): kind, and the link for a link. */
export function verdictName(v: Verdict): string {
  return v.kind === "link" ? `link ${v.from} -> ${v.to ?? "*"}` : v.kind;
}
