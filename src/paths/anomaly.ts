// ECMP anomaly detection: per target × group, the flows whose loss over the ledger's window is
// significantly above that of the target's other flows. Each flow is tested against the pooled rest
// with the one-sided Fisher exact test (fisher.ts), and the flows' p-values are corrected for
// multiple testing with Holm's step-down method at ALPHA (family-wise, per target × group and
// evaluation). That is fast when a flow loses much (100 %, 5 %), slow at 1 %: so when it flags
// nothing, the concentration test (occupancy.ts) asks whether the losses of the ledger's long window
// fell on too few flows, and if so flags every flow with a loss in that window. Uniform loss, however
// high, flags nothing but by chance (rates in docs/paths.md): every flow is like the rest. The
// numbers of probes and losses each test needs are in docs/paths.md.
import { hypergeometricUpper } from "./fisher.js";
import { type FlowStats, type Ledger, worstFirst } from "./ledger.js";
import { occupancyLower } from "./occupancy.js";

/** Family-wise false-flag probability of the per-flow test per target × group and evaluation. */
export const ALPHA = 1e-3;
/** False-flag probability of the concentration test per target × group and evaluation. */
export const CONCENTRATION_ALPHA = 1e-2;

/** Which test flagged: the per-flow Fisher test, the concentration test, or none. */
export type Flagger = "flow" | "concentration" | null;

export interface Anomaly {
  target: string;
  group: string;
  /** Flows whose loss is significantly above the rest's, or every lossy flow of a concentration, worst first. */
  flagged: FlowStats[];
  /** The other flows that sent probes in the window (the long window for a concentration). */
  healthy: FlowStats[];
  /** Lost / sent over the flagged flows, in the window their test used (0 when none is flagged). */
  lossRatio: number;
  by: Flagger;
}

export interface Detection {
  /** Worst first: by the short window's loss ratio (Fisher), or the long window's (concentration). */
  flagged: FlowStats[];
  healthy: FlowStats[];
  by: Flagger;
}

/**
 * The flagged and healthy flows of one target × group's flows: the per-flow test on the window, and
 * when it flags nothing the concentration test on the long window.
 */
export function detect(
  flows: readonly FlowStats[],
  alpha = ALPHA,
  concentrationAlpha = CONCENTRATION_ALPHA,
): Detection {
  const perFlow = perFlowTest(flows, alpha);
  if (perFlow.flagged.length > 0) return { flagged: perFlow.flagged, healthy: perFlow.healthy, by: "flow" };
  const c = concentrationTest(flows, concentrationAlpha);
  if (c) return { flagged: c.flagged, healthy: c.healthy, by: "concentration" };
  return { flagged: perFlow.flagged, healthy: perFlow.healthy, by: null };
}

/**
 * The concentration test over the long window: if the lost probes fell on significantly few flows,
 * the flows with a loss (worst first) and the others that sent probes; else undefined.
 */
export function concentrationTest(
  flows: readonly FlowStats[],
  alpha = CONCENTRATION_ALPHA,
): { flagged: FlowStats[]; healthy: FlowStats[] } | undefined {
  // Without a loss in the long window (the usual case) the test cannot flag: no array is made.
  let losses = 0;
  for (const f of flows) losses += f.lostLong;
  if (losses === 0 && alpha < 1) return undefined;
  const active = flows.filter((f) => f.sentLong > 0);
  let occupied = 0;
  for (const f of active) if (f.lostLong > 0) occupied++;
  if (active.length < 2 || occupied === active.length) return undefined;
  const p = occupancyLower(
    active.map((f) => f.sentLong),
    losses,
    occupied,
  );
  if (p > alpha) return undefined;
  const ratio = (f: FlowStats) => f.lostLong / f.sentLong;
  return {
    flagged: active.filter((f) => f.lostLong > 0).sort((a, b) => ratio(b) - ratio(a) || worstFirst(a, b)),
    healthy: active.filter((f) => f.lostLong === 0),
  };
}

/** The per-flow test: each flow against the pooled rest over the window, Holm-corrected. */
export function perFlowTest(
  flows: readonly FlowStats[],
  alpha = ALPHA,
): { flagged: FlowStats[]; healthy: FlowStats[] } {
  let total = 0;
  let lost = 0;
  let m = 0;
  for (const f of flows) {
    if (f.sent === 0) continue;
    total += f.sent;
    lost += f.lost;
    m++;
  }
  const active = m === flows.length ? flows.slice() : flows.filter((f) => f.sent > 0);
  if (m < 2 || lost === 0 || lost === total) return { flagged: [], healthy: active };
  // The family is every active flow (m), but a flow without loss has p = 1 and a loss ratio no
  // higher than the rest's: it is never flagged, and sorts after every flow that can be. So only the
  // lossy flows get a p-value (a few among thousands, at a low loss).
  const tested: { f: FlowStats; p: number }[] = [];
  for (const f of active)
    if (f.lost > 0) tested.push({ f, p: hypergeometricUpper(f.lost, total, lost, f.sent) });
  tested.sort((a, b) => a.p - b.p);
  const flagged: FlowStats[] = [];
  for (let i = 0; i < tested.length; i++) {
    // Holm: the i-th smallest p-value is compared with alpha / (m - i); the first that fails stops.
    const { f, p } = tested[i]!;
    const restRatio = (lost - f.lost) / (total - f.sent || 1);
    if (p > alpha / (m - i) || f.lossRatio <= restRatio) break;
    flagged.push(f);
  }
  const set = new Set(flagged);
  return { flagged: flagged.sort(worstFirst), healthy: active.filter((f) => !set.has(f)) };
}

/** Lost / sent over some flows (0 when they sent nothing), over the window or the long window. */
export function pooledLoss(flows: readonly FlowStats[], long = false): number {
  let sent = 0;
  let lost = 0;
  for (const f of flows) {
    sent += long ? f.sentLong : f.sent;
    lost += long ? f.lostLong : f.lost;
  }
  return sent === 0 ? 0 : lost / sent;
}

/** The flagged flows' loss over the window their test used. */
export const flaggedLoss = (d: Detection): number => pooledLoss(d.flagged, d.by === "concentration");

/** Per array of a ledger's flows (Ledger.view(): the same while no flow comes or goes), its detection. */
const detections = new WeakMap<readonly FlowStats[], { version: number; d: Detection }>();

/**
 * detect() of a target × group's flows in the ledger (Ledger.view()) at the default thresholds,
 * computed once per recorded iteration: the anomaly source and the path metrics both ask after each
 * iteration. The detection is shared: read it, do not modify it.
 */
export function detectIn(ledger: Ledger, target: string, group: string): Detection {
  const flows = ledger.view(target, group);
  let m = detections.get(flows);
  if (m === undefined || m.version !== ledger.version) {
    m = { version: ledger.version, d: detect(flows) };
    detections.set(flows, m);
  }
  return m.d;
}

/** The anomalies of every target × group of the ledger (those with no flagged flow included). */
export function anomalies(ledger: Ledger, alpha = ALPHA): Anomaly[] {
  return ledger.series().map(({ target, group }) => {
    const d = detect(ledger.flows(target, group), alpha);
    return { target, group, ...d, lossRatio: flaggedLoss(d) };
  });
}
