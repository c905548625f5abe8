// Shared by the engine's lab tests and benchmarks: run the real engine (raw sockets, kernel
// timestamps, BPF) inside the lab against lab targets, and read a tcpdump capture of the same probes
// back into per-probe wire times, so tests can compare what netprobify reports with what happened.
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { buildPlan, type PlanTargetInput, type ProbePlan } from "../../src/engine/plan.js";
import type { PcapRecord } from "../../src/lab/pcap.js";
import { type ParsedPacket, parseIPv4Packet, parseIPv6Packet } from "../../src/packet/index.js";
import { replyKey } from "../../src/probes/kinds.js";

export type { PlanTargetInput, ProbePlan };
export { buildPlan, Engine };

/** Opens an engine for the lab: every family, the port range of the given targets, a sane limit. */
export function labEngine(targets: readonly PlanTargetInput[], o: Partial<EngineOptions> = {}): Engine {
  let lo = 65535;
  let hi = 1;
  for (const t of targets)
    for (const g of t.groups) {
      lo = Math.min(lo, g.srcPortA);
      hi = Math.max(hi, g.srcPortZ);
    }
  return new Engine({ families: [4, 6], ports: { lo, hi }, iterationLimitMs: 60_000, ...o });
}

/** Waits so the kernel has switched RX timestamping on before the first probe (it does so lazily). */
export const warmUp = () => new Promise((r) => setTimeout(r, 50));

/** A captured packet, parsed from its IP header (LINKTYPE_ETHERNET captures have 14 bytes before it). */
export function parseCaptured(rec: PcapRecord, linkHeader = 14): ParsedPacket | undefined {
  const b = rec.data;
  if (b.length <= linkHeader) return undefined;
  const v = b[linkHeader]! >> 4;
  return v === 4
    ? parseIPv4Packet(b, linkHeader, b.length - linkHeader)
    : v === 6
      ? parseIPv6Packet(b, linkHeader, b.length - linkHeader)
      : undefined;
}

/** What the wire saw of one probe: when it left, when its first answer came back, how many answers. */
export interface WireProbe {
  txNs: bigint;
  rxNs: bigint | undefined;
  answers: number;
}

/** The matching key an outgoing probe carries (as the engine stamps it), or undefined. */
function probeKey(p: ParsedPacket, buf: Uint8Array): number | undefined {
  if (p.tcp && p.tcp.flags === 0x02) return p.tcp.seq;
  if (p.icmp?.kind === "echo" && !p.icmp.reply) return ((p.icmp.id << 16) | p.icmp.seq) >>> 0;
  if (p.udp && p.udp.payloadLength >= 4) {
    const o = p.udp.payloadOffset; // the tag: the first 4 data bytes
    return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
  }
  return undefined;
}

/**
 * Indexes a capture taken on the test namespace's side of a lab link by probe key: each probe's wire
 * departure and the arrival of its first answer (SYN-ACK/RST, echo reply, or ICMP error quoting it).
 */
export function wireProbes(records: readonly PcapRecord[], linkHeader = 14): Map<number, WireProbe> {
  const out = new Map<number, WireProbe>();
  for (const rec of records) {
    const p = parseCaptured(rec, linkHeader);
    if (!p) continue;
    const key = probeKey(p, rec.data);
    if (key !== undefined) {
      if (!out.has(key)) out.set(key, { txNs: rec.tsNs, rxNs: undefined, answers: 0 });
      continue;
    }
    const r = replyKey(p);
    if (!r || r.key === undefined) continue;
    const w = out.get(r.key);
    if (!w) continue;
    w.answers++;
    if (w.rxNs === undefined) w.rxNs = rec.tsNs;
  }
  return out;
}
