// Shared by the engine's lab tests and benchmarks: run the real engine (raw sockets, kernel
// timestamps, BPF) inside the lab against lab targets, and read a tcpdump capture of the same probes
// back into per-probe wire times, so tests can compare what netprobify reports with what happened.
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import { buildPlan, type PlanTargetInput, type ProbePlan } from "../../src/engine/plan.js";
import { type ParsedPacket, parseIPv4Packet, parseIPv6Packet } from "../../src/packet/index.js";
import type { PcapRecord } from "../lab/pcap.js";

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
