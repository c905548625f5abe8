// What the demo shows and reports, built from the daemon's own iteration results: per target × group
// the last iteration, the recent ones and the whole run (the --json summary). Loss counts as the
// metrics do (lost + unreachable, "compat loss"); RTT percentiles come from the kernel-timestamped
// samples of the results, over the whole run for the summary.
import type { IterationResult } from "../engine/engine.js";
import { percentile } from "../engine/percentile.js";
import type { DemoTarget } from "./demo-scenario.js";
import type { ViewRow } from "./live-view.js";

/** Iterations that make the "recent" loss. */
const RECENT = 5;
/** Iterations kept in the sparkline histories. */
const HISTORY = 40;
/** RTT samples kept per row for the summary's percentiles (the demo sends far fewer). */
const MAX_SAMPLES = 200_000;

interface Iter {
  /** Seconds since probing started, at the end of the iteration. */
  t: number;
  sent: number;
  lost: number;
  unreachable: number;
  icmpErrors: number;
  late: number;
  duplicates: number;
  p50?: number;
  p95?: number;
}

interface Row {
  target: DemoTarget;
  group: string;
  iters: Iter[];
  samples: number[];
}

export interface SummaryRow {
  name: string;
  group: string;
  type: string;
  family: 4 | 6;
  story: string;
  injected: string;
  sent: number;
  /** Lost or unreachable, as the loss metrics count. */
  lost: number;
  unreachable: number;
  lossRatio: number | null;
  p50: number | null;
  p95: number | null;
  icmpErrors: number;
  late: number;
  duplicates: number;
  /** Per iteration: end time (s), sent, lost (including unreachable), unreachable. */
  iterations: [number, number, number, number][];
}

const sum = (
  xs: readonly Iter[],
  k: "sent" | "lost" | "unreachable" | "icmpErrors" | "late" | "duplicates",
) => xs.reduce((n, x) => n + x[k], 0);

export class DemoStats {
  private readonly rows = new Map<string, Row>();
  iterations = 0;
  probesLastIteration = 0;

  constructor(private readonly targets: readonly DemoTarget[]) {}

  add(result: IterationResult, t: number): void {
    this.iterations++;
    const byKey = new Map<string, Iter & { rtts: Float64Array[] }>();
    let probes = 0;
    for (const s of result.series) {
      const target = this.targets.find((x) => x.name === s.target);
      if (!target) continue;
      const key = `${s.target}\0${s.group}`;
      let it = byKey.get(key);
      if (!it) {
        it = { t, sent: 0, lost: 0, unreachable: 0, icmpErrors: 0, late: 0, duplicates: 0, rtts: [] };
        byKey.set(key, it);
      }
      it.sent += s.sent;
      it.lost += s.lost + s.unreachable;
      it.unreachable += s.unreachable;
      for (const n of s.icmpErrors.values()) it.icmpErrors += n;
      it.late += s.late;
      it.duplicates += s.duplicates;
      it.rtts.push(s.rtts);
      probes += s.sent;
      if (!this.rows.has(key)) this.rows.set(key, { target, group: s.group, iters: [], samples: [] });
    }
    this.probesLastIteration = probes;
    for (const [key, it] of byKey) {
      const row = this.rows.get(key)!;
      const rtts = Float64Array.from(it.rtts.flatMap((a) => [...a])).sort();
      const { rtts: _, ...iter } = it;
      if (rtts.length > 0) {
        iter.p50 = percentile(rtts, 50);
        iter.p95 = percentile(rtts, 95);
      }
      row.iters.push(iter);
      if (row.samples.length + rtts.length <= MAX_SAMPLES) for (const x of rtts) row.samples.push(x);
    }
  }

  /** The live view's rows, in the scenario's order. */
  viewRows(injected: (t: DemoTarget) => string): ViewRow[] {
    return this.ordered().map((r) => {
      const last = r.iters[r.iters.length - 1];
      const recent = r.iters.slice(-RECENT);
      const hist = r.iters.slice(-HISTORY);
      const row: ViewRow = {
        name: r.target.name,
        type: r.target.type,
        family: r.target.family,
        group: r.group,
        injected: injected(r.target),
        sent: last?.sent ?? 0,
        lost: last?.lost ?? 0,
        recentSent: sum(recent, "sent"),
        recentLost: sum(recent, "lost"),
        history: hist.map((x) => x.p50 ?? Number.NaN),
        lossHistory: hist.map((x) => (x.sent === 0 ? 0 : x.lost / x.sent)),
        icmpErrors: last?.icmpErrors ?? 0,
        unreachable: last?.unreachable ?? 0,
        late: last?.late ?? 0,
        duplicates: last?.duplicates ?? 0,
      };
      if (last?.p50 !== undefined) row.p50 = last.p50;
      if (last?.p95 !== undefined) row.p95 = last.p95;
      return row;
    });
  }

  /** The --json summary: the whole run per target × group. */
  summary(injected: (t: DemoTarget) => string): SummaryRow[] {
    return this.ordered().map((r) => {
      const sent = sum(r.iters, "sent");
      const lost = sum(r.iters, "lost");
      const samples = Float64Array.from(r.samples).sort();
      return {
        name: r.target.name,
        group: r.group,
        type: r.target.type,
        family: r.target.family,
        story: r.target.story,
        injected: injected(r.target),
        sent,
        lost,
        unreachable: sum(r.iters, "unreachable"),
        lossRatio: sent === 0 ? null : lost / sent,
        p50: percentile(samples, 50) ?? null,
        p95: percentile(samples, 95) ?? null,
        icmpErrors: sum(r.iters, "icmpErrors"),
        late: sum(r.iters, "late"),
        duplicates: sum(r.iters, "duplicates"),
        iterations: r.iters.map((x) => [Math.round(x.t * 1000) / 1000, x.sent, x.lost, x.unreachable]),
      };
    });
  }

  private ordered(): Row[] {
    const order = (r: Row) => this.targets.indexOf(r.target);
    return [...this.rows.values()].sort((a, b) => order(a) - order(b) || a.group.localeCompare(b.group));
  }
}
