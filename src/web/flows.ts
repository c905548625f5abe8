// The per-flow part of /api/v1/target: the ledger's flows of a target × group (src/paths/ledger.ts,
// the ECMP work) in the API's shape. The traces' /paths entry and suspect link are not wired yet:
// they answer null until that work lands.
import type { FlowStats, Ledger } from "../paths/ledger.js";
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

/** The API's view of a ledger: flows over its window, worst loss first; no paths or suspect link yet. */
export function ledgerPaths(ledger: Ledger): PathsSource {
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
    paths: () => null,
    suspectLink: () => null,
  };
}
