// Trace-on-loss in the daemon: owns the Tracer of the running configuration, feeds it the anomalies
// after each iteration, runs its paced batches in a loop of their own (the engine runs a trace
// between iterations), and hands its report to the metrics and to GET /paths. The daemon reaches it
// through four calls (configure, afterIteration, document, stop), so daemon.ts stays about probing.
import type { Config } from "../config/load.js";
import type { IncidentRow, TraceTotals } from "../metrics/trace-series.js";
import { TRACE_FLAGGED_FLOWS, TRACE_FLAGGED_PROBES_PER_TTL, TRACE_FLOWS } from "./budget.js";
import { type AnomalySource, type Judge, type TraceRunner, Tracer, type TraceSettings } from "./trace.js";
import { incidentRows, type PathsDocument, pathsDocument } from "./trace-export.js";

/** Tuning not in the configuration (docs/paths.md). */
export const TRACE_DEFAULTS = {
  maxTtl: 16,
  flows: TRACE_FLOWS,
  flaggedFlows: TRACE_FLAGGED_FLOWS,
  perTtl: TRACE_FLAGGED_PROBES_PER_TTL,
  discovery: 3,
  silentRetries: 2,
  retryMs: 1000,
  retraceMs: 30_000,
} as const;

export function traceSettings(config: Config): TraceSettings {
  const g = config.global;
  return {
    ...TRACE_DEFAULTS,
    on: g.trace_on_loss,
    budget: g.path_tracing_budget,
    rate: g.path_tracing_packets_per_second,
    maxIncidents: g.path_tracing_max_incidents,
  };
}

export interface TracingOptions {
  runner: TraceRunner;
  anomalies: AnomalySource;
  judge: Judge;
  log: (level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown>) => void;
  metrics?: {
    recordTraces(config: Config, rows: readonly IncidentRow[], totals: TraceTotals): void;
    publish?(): void;
  };
  /** A failed step (runner rejected): counted by the daemon as an internal error. */
  onError?: (err: unknown) => void;
  /** Monotonic ms clock. */
  now?: () => number;
}

export class PathTracing {
  private tracer: Tracer | undefined;
  private settings = "";
  private config: Config | undefined;
  private running = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Resolves when the loop has ended. */
  done: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private totals = { sent: 0, exhausted: 0 };
  /** The incidents' rows last written (JSON). */
  private shown = "";

  constructor(private readonly o: TracingOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  /** Applies a configuration: tracing on or off, new settings (open incidents then start afresh). */
  configure(config: Config): void {
    this.config = config;
    const on = config.global.path_tracing;
    const settings = on ? JSON.stringify(traceSettings(config)) : "";
    if (settings === this.settings) return;
    this.settings = settings;
    this.retire();
    this.tracer = on
      ? new Tracer(traceSettings(config), this.o.runner, this.o.judge, (msg, fields) =>
          this.o.log("info", msg, fields),
        )
      : undefined;
    this.record();
  }

  /** After each iteration: incidents open and close with the anomalies; the loop wakes. */
  afterIteration(): void {
    if (!this.tracer) return;
    this.tracer.update(this.o.anomalies.current(), this.now());
    this.record();
    this.wake?.();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wake?.();
    await this.done;
    this.retire();
  }

  /** The /paths document. */
  document(): PathsDocument {
    return pathsDocument(this.tracer !== undefined, this.tracer?.report() ?? [], this.now());
  }

  /** Closes the current tracer's incidents (logged) and keeps its totals for the counters. */
  private retire(): void {
    if (!this.tracer) return;
    this.tracer.clear();
    this.totals = {
      sent: this.totals.sent + this.tracer.sent,
      exhausted: this.totals.exhausted + this.tracer.exhausted,
    };
    this.tracer = undefined;
  }

  /** Writes the series; true when the incidents' rows changed since the last write. */
  private record(): boolean {
    if (!this.config || !this.o.metrics) return false;
    const t = this.tracer;
    const rows = incidentRows(t?.report() ?? []);
    const shown = JSON.stringify(rows);
    const changed = shown !== this.shown;
    this.shown = shown;
    this.o.metrics.recordTraces(this.config, rows, {
      open: t?.incidents ?? 0,
      sent: this.totals.sent + (t?.sent ?? 0),
      exhausted: this.totals.exhausted + (t?.exhausted ?? 0),
    });
    return changed;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const t = this.tracer;
      if (!t || t.incidents === 0) {
        await this.sleep(undefined);
        continue;
      }
      const wait = t.waitMs(this.now());
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      let sent = 0;
      try {
        sent = await t.step(this.now(), this.now);
      } catch (err) {
        this.o.onError?.(err);
        this.o.log("error", "trace step failed; tracing goes on", { err: String(err) });
        await this.sleep(1000);
        continue;
      }
      // A new rendering for scrapers only when an incident shows something new (a verdict, a path
      // change): the counters of trace probes reach them with the next iteration's rendering.
      if (t === this.tracer && sent > 0 && this.record()) this.o.metrics?.publish?.();
      // Nothing due (silent hops waiting for their retry, monitoring): look again shortly.
      if (sent === 0) await this.sleep(250);
    }
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      if (ms !== undefined) this.timer = setTimeout(() => this.wake?.(), ms);
    });
  }
}
