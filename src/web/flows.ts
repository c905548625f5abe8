// The per-flow part of /api/v1/target: the ledger's flows of a target × group (src/paths/ledger.ts,
// the ECMP work) in the API's shape, and from trace-on-loss (the /paths document) the target's open
// incident and its suspect link.
import type { FlowStats, Ledger } from "../paths/ledger.js";
import type { PathsDocument } from "../paths/trace-export.js";
import type { PathsSource } from "./api.js";

/** One flow as /api/v1/target shows it (RTTs in seconds, null without a sample). */
export interface ApiFlow {
  dst_addr: string;
  src_addr: string;
  src_port: number;
  flow_label: number;
  sent: number;
  lost: number;
  rtt_min: number | null;
  rtt_p50: number | null;
  rtt_max: number | null;
  reply_ttl: number | null;
}

const seconds = (v: number) => (Number.isNaN(v) ? null : Math.round(v * 1e6) / 1e6);

export function apiFlow(f: FlowStats): ApiFlow {
  return {
    dst_addr: f.dst,
    src_addr: f.src,
    src_port: f.srcPort,
    flow_label: f.flowLabel,
    sent: f.sent,
    lost: f.lost,
    rtt_min: seconds(f.rttMin),
    rtt_p50: seconds(f.rttP50),
    rtt_max: seconds(f.rttMax),
    reply_ttl: f.replyTtl === 0 ? null : f.replyTtl,
  };
}

/**
 * The API's view of a ledger (flows over its window, worst loss first) and of the /paths document
 * (the target's open incident; its suspect link when the verdict names one: `to` "(silent)" when the
 * far end of the link never answered).
 */
export function ledgerPaths(ledger: Ledger, document?: () => PathsDocument): PathsSource {
  return {
    flows(id) {
      const cut = id.lastIndexOf("/");
      if (cut < 0) return null;
      const flows = ledger.flows(id.slice(0, cut), id.slice(cut + 1));
      if (flows.length === 0) return null;
      return flows
        .sort((a, b) => b.lossRatio - a.lossRatio || a.src.localeCompare(b.src) || a.srcPort - b.srcPort)
        .map(apiFlow);
    },
    paths: (id) => incidentOf(document?.(), id) ?? null,
    suspectLink(id) {
      const v = incidentOf(document?.(), id)?.verdict;
      if (v?.kind !== "link") return null;
      return { from: v.from, to: v.to ?? "(silent)", loss: v.lossEstimate };
    },
  };
}

/** The open incident of a target × group ("<destination>/<group>") in the /paths document. */
function incidentOf(
  doc: PathsDocument | undefined,
  id: string,
): PathsDocument["incidents"][number] | undefined {
  const cut = id.lastIndexOf("/");
  if (doc === undefined || cut < 0) return undefined;
  return doc.incidents.find((i) => i.destination === id.slice(0, cut) && i.group === id.slice(cut + 1));
}
