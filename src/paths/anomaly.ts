// ECMP anomaly detection: per target × group, the flows whose loss over the ledger's window is
// significantly above that of the target's other flows. Each flow is tested against the pooled rest
// with the one-sided Fisher exact test (fisher.ts), and the flows' p-values are corrected for
// multiple testing with Holm's step-down method at ALPHA (family-wise, per target × group and
// evaluation). Uniform loss, however high, flags nothing: every flow is like the rest. The numbers
// of probes a flow needs before it can be flagged are in docs/paths.md.
import { hypergeometricUpper } from "./fisher.js";
import { type FlowStats, type Ledger, worstFirst } from "./ledger.js";

/** Family-wise false-flag probability per target × group and evaluation. */
export const ALPHA = 1e-3;

export interface Anomaly {
  target: string;
  group: string;
  /** Flows whose loss is significantly above the rest's, worst first. */
  flagged: FlowStats[];
  /** The other flows that sent probes in the window. */
  healthy: FlowStats[];
  /** Lost / sent over the flagged flows (0 when none is flagged). */
  lossRatio: number;
}

/** The flagged and healthy flows of one target × group's flows. */
export function detect(
  flows: readonly FlowStats[],
  alpha = ALPHA,
): { flagged: FlowStats[]; healthy: FlowStats[] } {
  const active = flows.filter((f) => f.sent > 0);
  let total = 0;
  let lost = 0;
  for (const f of active) {
    total += f.sent;
    lost += f.lost;
  }
  if (active.length < 2 || lost === 0 || lost === total) return { flagged: [], healthy: active };
  const tested = active
    .map((f) => ({ f, p: hypergeometricUpper(f.lost, total, lost, f.sent) }))
    .sort((a, b) => a.p - b.p);
  const m = tested.length;
  const flagged: FlowStats[] = [];
  for (let i = 0; i < m; i++) {
    // Holm: the i-th smallest p-value is compared with alpha / (m - i); the first that fails stops.
    const { f, p } = tested[i]!;
    const restRatio = (lost - f.lost) / (total - f.sent || 1);
    if (p > alpha / (m - i) || f.lossRatio <= restRatio) break;
    flagged.push(f);
  }
  const set = new Set(flagged);
  return { flagged: flagged.sort(worstFirst), healthy: active.filter((f) => !set.has(f)) };
}

/** Lost / sent over some flows (0 when they sent nothing). */
export function pooledLoss(flows: readonly FlowStats[]): number {
  let sent = 0;
  let lost = 0;
  for (const f of flows) {
    sent += f.sent;
    lost += f.lost;
  }
  return sent === 0 ? 0 : lost / sent;
}

/** The anomalies of every target × group of the ledger (those with no flagged flow included). */
export function anomalies(ledger: Ledger, alpha = ALPHA): Anomaly[] {
  return ledger.series().map(({ target, group }) => {
    const { flagged, healthy } = detect(ledger.flows(target, group), alpha);
    return { target, group, flagged, healthy, lossRatio: pooledLoss(flagged) };
  });
}
