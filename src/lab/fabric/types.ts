// The fabric's public shapes (spec, routers, member links, faults), apart from the code that
// builds it, so that the builder and its helpers share them without importing each other.

import type { ImpairStage } from "../impair.js";
export type Family = "ipv4" | "ipv6";
export type HashPolicy = 0 | 1 | 2 | 3;

export interface FabricSpec {
  ways: 2 | 4 | 8 | 16;
  /** Families routed through the fabric (both by default); addresses of both are always assigned. */
  families?: Family[];
  /** fib_multipath_hash_policy per family; default 1 (L4 5-tuple) for both. */
  hashPolicy?: { ipv4?: HashPolicy; ipv6?: HashPolicy };
  /**
   * fib_multipath_hash_fields per family, for policy 3 (a bit mask: 0x01 source address, 0x02
   * destination, 0x04 protocol, 0x08 IPv6 flow label, 0x10 source port, 0x20 destination port).
   */
  hashFields?: { ipv4?: number; ipv6?: number };
  /** Clear skb->hash where packets enter the fabric (default true); false shows the kernel's reuse. */
  clearHash?: boolean;
  /** Random next hop per packet in leaf1 (toward targets) and leaf2 (back) instead of per flow. */
  perPacket?: boolean;
  /** Routers' ICMP error rate limits: "off" (default), "on" (Linux defaults) or explicit values. */
  icmpRateLimit?: "on" | "off" | { ratelimitMs?: number; msgsPerSec?: number; burst?: number };
  /** Number of target addresses (per family) on the target namespace's loopback. */
  targets: number;
  /** Member links (ids) built through an impairment stage, so that fault() can add delay on them. */
  delayLinks?: string[];
  /**
   * Extra prober source addresses per family (`Fabric.sources`): a lab range made local to the prober,
   * whose replies come back through the fabric (leaf1 routes everything else to the prober). For a
   * group's `src_subnet_ipv4` / `src_subnet_ipv6`: ICMP echo, which Linux hashes on the addresses
   * only, then spreads over the paths by source address. Default 0 (none).
   */
  sources?: number;
}

export interface FabricIface {
  name: string;
  v4: string;
  v6: string;
}

export interface FabricRouter {
  /** "leaf1", "spine1".."spineN", "leaf2". */
  name: string;
  ns: string;
  ifaces: FabricIface[];
}

export interface LinkEnd {
  router: string;
  /** The address a traceroute from the prober sees for this router on this path. */
  v4: string;
  v6: string;
}

export interface FabricLink {
  /** "leaf1-spineK" or "spineK-leaf2". */
  id: string;
  /** 1-based spine index of the path this member link belongs to. */
  spine: number;
  from: LinkEnd;
  to: LinkEnd;
}

export interface Fault {
  /** Ratio 0..1 of packets dropped (nftables numgen random). */
  loss?: number;
  blackhole?: boolean;
  /** Added one-way delay (needs the link in `delayLinks`). */
  delayMs?: number;
  /** "forward" = toward the targets, "reverse" = toward the prober; default "both". */
  direction?: "forward" | "reverse" | "both";
}

/** A member link with where its ends live (internal to the lab). */
export interface MemberLink extends FabricLink {
  upNs: string;
  upIf: string;
  downNs: string;
  downIf: string;
  stage?: ImpairStage;
}
