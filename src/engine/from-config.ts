// From the validated configuration and the addresses each target resolved to, to the engine's plan
// inputs and options. One place decides which source address a group gives a family (fixed address,
// subnet round robin, or the kernel's route) and which port range the kernel filters let through.

import { availableParallelism } from "node:os";
import type { U16Range } from "../bpf/index.js";
import { portSpan } from "../config/drafts.js";
import { type Config, payloadSize } from "../config/load.js";
import type { EngineOptions } from "./engine.js";
import type { PlanGroupInput, PlanTargetInput } from "./plan.js";

export function planInputs(
  config: Config,
  addresses: ReadonlyMap<string, readonly string[]>,
): PlanTargetInput[] {
  const out: PlanTargetInput[] = [];
  for (const t of config.targets.values()) {
    const addrs = addresses.get(t.name);
    if (!t.enabled || !addrs || addrs.length === 0) continue;
    const groups: PlanGroupInput[] = t.groups.map((name) => {
      const g = config.groups.get(name)!;
      const v4 = t.address_family === "ipv4";
      return {
        name,
        srcPortA: g.src_port_a,
        srcPortZ: g.src_port_z,
        dscp: g.dscp,
        payloadSize: payloadSize(t, g),
        src: v4 ? g.src_ipv4 : g.src_ipv6,
        srcSubnet: v4 ? g.src_subnet_ipv4 : g.src_subnet_ipv6,
      };
    });
    out.push({
      name: t.name,
      type: t.type,
      family: t.address_family,
      addresses: addrs,
      dstPort: t.dst_port,
      nbPackets: t.nb_packets,
      dontFragment: t.dont_fragment,
      payloadSize: t.ip_payload_size,
      timeout: t.timeout,
      groups,
    });
  }
  return out;
}

/** The smallest port range covering every group's source ports (the kernel filter's first cut). */
export function portEnvelope(config: Config): U16Range {
  let lo = 65535;
  let hi = 1;
  for (const g of config.groups.values()) {
    const span = portSpan(g.src_port_a, g.src_port_z);
    lo = Math.min(lo, span.lo);
    hi = Math.max(hi, span.hi);
  }
  return lo <= hi ? { lo, hi } : { lo: 65000, hi: 65001 };
}

export function engineOptions(config: Config): Omit<EngineOptions, "sockets" | "now"> {
  const families = new Set<4 | 6>();
  for (const t of config.targets.values()) if (t.enabled) families.add(t.address_family === "ipv4" ? 4 : 6);
  return {
    families: [...families],
    ports: portEnvelope(config),
    pps: config.global.max_packets_per_second ?? Infinity,
    intervalPacketsMs: config.global.interval_packets * 1000,
    iterationLimitMs: config.global.timeout * 1000,
    // more send threads than cores only adds wakes (docs/performance.md)
    sendThreads: Math.min(config.global.nb_proc, availableParallelism()),
  };
}
