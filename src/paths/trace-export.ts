// From the tracer's report to what leaves the process: the metric rows of the open incidents
// (src/metrics/trace-series.ts) and the /paths document (docs/http.md): per incident its verdict and
// per traced flow its hop list, as the routers answered.
import type { IncidentRow } from "../metrics/trace-series.js";
import type { IncidentReport, Verdict } from "./trace.js";

export function incidentRows(reports: readonly IncidentReport[]): IncidentRow[] {
  return reports.map((r) => ({
    target: r.target,
    group: r.group,
    link:
      r.verdict?.kind === "link"
        ? { from: r.verdict.from, to: r.verdict.to, loss: r.verdict.lossEstimate }
        : undefined,
    perPacket: r.verdict?.kind === "per-packet",
    distinctPaths: r.distinctPaths,
    hops: r.hops,
    pathChanges: r.pathChanges,
  }));
}

/** The /paths document: one entry per open incident; `enabled` false when global.path_tracing is off. */
export interface PathsDocument {
  enabled: boolean;
  incidents: {
    destination: string;
    group: string;
    phase: string;
    opened_seconds_ago: number;
    probes: number;
    budget: number;
    budget_exhausted: boolean;
    verdict: Verdict | null;
    distinct_paths: number;
    hops: number;
    path_changes: number;
    flows: {
      dst_addr: string;
      src_addr: string;
      src_port: number;
      flow_label: number;
      flagged: boolean;
      reached: boolean;
      hops: (string | null)[];
    }[];
  }[];
}

export function pathsDocument(
  enabled: boolean,
  reports: readonly IncidentReport[],
  nowMs: number,
): PathsDocument {
  return {
    enabled,
    incidents: reports.map((r) => ({
      destination: r.target,
      group: r.group,
      phase: r.phase,
      opened_seconds_ago: Math.max(0, Math.round((nowMs - r.openedAt) / 1000)),
      probes: r.probes,
      budget: r.budget,
      budget_exhausted: r.budgetExhausted,
      verdict: r.verdict ?? null,
      distinct_paths: r.distinctPaths,
      hops: r.hops,
      path_changes: r.pathChanges,
      flows: r.flows.map((f) => ({
        dst_addr: f.dst,
        src_addr: f.src,
        src_port: f.srcPort,
        flow_label: f.flowLabel,
        flagged: f.flagged,
        reached: f.reached,
        hops: f.hops,
      })),
    })),
  };
}
