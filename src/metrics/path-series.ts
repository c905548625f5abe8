// The ECMP path series (docs/paths.md): per target × group the anomaly gauges, and per flow, for the
// targets and groups that opted in, the flow series of at most a capped number of flows. Which flows
// are given is the caller's choice (src/paths/export.ts: the worst first); here, a flow that is no
// longer given loses its series, so the cap holds on every scrape, and the flow counters advance by
// what the ledger counted since the last write.
import { declOf, FLOW_LABELS, type MetricDecl, type MetricName, PATH_LABELS } from "./catalog.js";
import { type Labels, SeriesStore } from "./registry.js";

/** One exported flow (the ledger's figures, in plain data). */
export interface FlowRow {
  dst: string;
  src: string;
  srcPort: number;
  flowLabel: number;
  /** Since the flow was first seen. */
  sentTotal: number;
  lostTotal: number;
  /** Over the ledger's window. */
  lossRatio: number;
  rttMin: number;
  rttP50: number;
  rttMax: number;
  replyTtl: number;
}

/** What one target × group shows. */
export interface PathReport {
  target: string;
  group: string;
  /** Flows the ledger holds. */
  flows: number;
  flagged: number;
  flaggedLossRatio: number;
  /** The flows to export, already capped; undefined when the target × group did not opt in. */
  exported: readonly FlowRow[] | undefined;
}

const FLOW_METRICS = [
  "netprobify_path_flow_sent_total",
  "netprobify_path_flow_lost_total",
  "netprobify_path_flow_loss_ratio",
  "netprobify_path_flow_reply_ttl",
] as const satisfies readonly MetricName[];
const RTT = "netprobify_path_flow_rtt_seconds" satisfies MetricName;
const STATS = ["min", "p50", "max"] as const;

/** True for the per-flow metrics (exported only where path_metrics is on). */
export function isFlowMetric(decl: MetricDecl): boolean {
  return decl.name.startsWith("netprobify_path_flow_");
}

interface Exported {
  pathKey: string;
  labels: Labels;
  sent: number;
  lost: number;
}

export class PathSeries {
  /** Flow series written, by key: their labels and the totals already counted. */
  private readonly exported = new Map<string, Exported>();

  constructor(private readonly store: SeriesStore) {}

  write(
    probeName: string,
    reports: readonly PathReport[],
    allowed: (decl: MetricDecl, labels: Labels) => boolean,
  ): void {
    const s = this.store;
    for (const r of reports) {
      const path = { probe_name: probeName, destination: r.target, group: r.group };
      if (!allowed(declOf("netprobify_path_anomaly"), path)) continue;
      const pathKey = SeriesStore.keyOf(PATH_LABELS, path);
      s.set("netprobify_path_flows", path, r.flows, pathKey);
      s.set("netprobify_path_anomaly", path, r.flagged, pathKey);
      s.set("netprobify_path_anomaly_loss_ratio", path, r.flaggedLossRatio, pathKey);
      const keep = new Set<string>();
      if (r.exported && allowed(declOf("netprobify_path_flow_sent_total"), path)) {
        for (const f of r.exported) keep.add(this.writeFlow(path, pathKey, f));
      }
      for (const [k, e] of this.exported) if (e.pathKey === pathKey && !keep.has(k)) this.drop(k, e);
    }
  }

  private writeFlow(path: Labels, pathKey: string, f: FlowRow): string {
    const s = this.store;
    const labels = {
      ...path,
      dst_addr: f.dst,
      src_addr: f.src,
      src_port: String(f.srcPort),
      flow_label: String(f.flowLabel),
    };
    const key = SeriesStore.keyOf(FLOW_LABELS, labels);
    let e = this.exported.get(key);
    if (!e) {
      e = { pathKey, labels, sent: 0, lost: 0 };
      this.exported.set(key, e);
    }
    s.inc("netprobify_path_flow_sent_total", labels, Math.max(0, f.sentTotal - e.sent), key);
    s.inc("netprobify_path_flow_lost_total", labels, Math.max(0, f.lostTotal - e.lost), key);
    e.sent = Math.max(e.sent, f.sentTotal);
    e.lost = Math.max(e.lost, f.lostTotal);
    s.set("netprobify_path_flow_loss_ratio", labels, f.lossRatio, key);
    s.set("netprobify_path_flow_reply_ttl", labels, f.replyTtl, key);
    const values = [f.rttMin, f.rttP50, f.rttMax];
    STATS.forEach((stat, i) => {
      const v = values[i]!;
      if (Number.isNaN(v)) s.remove(RTT, { ...labels, stat });
      else s.set(RTT, { ...labels, stat }, v);
    });
    return key;
  }

  private drop(key: string, e: Exported): void {
    for (const m of FLOW_METRICS) this.store.remove(m, e.labels, key);
    for (const stat of STATS) this.store.remove(RTT, { ...e.labels, stat });
    this.exported.delete(key);
  }

  /** Forgets flows whose series a reload removed (their counters start again if they come back). */
  prune(): void {
    for (const [k, e] of this.exported)
      if (!this.store.has("netprobify_path_flow_sent_total", e.labels)) this.drop(k, e);
  }
}
