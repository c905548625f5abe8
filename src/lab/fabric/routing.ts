// Routing pieces of the fabric: the routers' sysctls (forwarding, hash policy, ICMP limits),
// multipath next-hop lists, and the per-packet balancer (nftables random mark + policy routing).

import type { LinkAddrs } from "../addr.js";
import { ipBatch, run } from "../exec.js";
import { ICMP_UNLIMITED } from "../lab.js";
import type { FabricSpec } from "./types.js";

export const ROUTER_SYSCTLS = {
  "net.ipv4.ip_forward": 1,
  "net.ipv6.conf.all.forwarding": 1,
  "net.ipv4.conf.all.send_redirects": 0,
  "net.ipv4.conf.default.send_redirects": 0,
  // Time exceeded from the interface the probe arrived on (leaf2 has N ways back to the prober).
  "net.ipv4.icmp_errors_use_inbound_ifaddr": 1,
  // Spines see only one direction of asymmetric flows: no reverse-path filtering anywhere.
  "net.ipv4.conf.all.rp_filter": 0,
  "net.ipv4.conf.default.rp_filter": 0,
};

export function rateLimitSysctls(spec: FabricSpec["icmpRateLimit"]): Record<string, number> {
  if (spec === undefined || spec === "off") return ICMP_UNLIMITED;
  if (spec === "on") return {};
  const out: Record<string, number> = {};
  if (spec.ratelimitMs !== undefined) {
    out["net.ipv4.icmp_ratelimit"] = spec.ratelimitMs;
    out["net.ipv6.icmp.ratelimit"] = spec.ratelimitMs;
  }
  if (spec.msgsPerSec !== undefined) out["net.ipv4.icmp_msgs_per_sec"] = spec.msgsPerSec;
  if (spec.burst !== undefined) out["net.ipv4.icmp_msgs_burst"] = spec.burst;
  return out;
}

/** Multipath next hops over `links`: their far ends (toward the targets) or near ends (back). */
export function nexthops(
  links: readonly LinkAddrs[],
  fam: 4 | 6,
  weights: readonly number[],
  far = true,
): string {
  return links
    .map((l, i) => [l, weights[i] ?? 1] as const)
    .filter(([, w]) => w > 0)
    .map(([l, w]) => `nexthop via ${gw(l, fam, far)} weight ${w}`)
    .join(" ");
}

export function gw(l: LinkAddrs, fam: 4 | 6, far: boolean): string {
  if (fam === 4) return far ? l.farV4 : l.nearV4;
  return far ? l.farV6 : l.nearV6;
}

/**
 * Per-packet balancing: packets arriving on `iif` get a random mark 1..N, and policy routing sends
 * mark k to next hop k (table 100 + k); other traffic keeps the multipath routes.
 */
export async function perPacket(
  ns: string,
  iif: string,
  links: LinkAddrs[],
  dsts: string[],
  far: boolean,
): Promise<void> {
  const nft = [
    "table inet fabric_balance {",
    "  chain prerouting {",
    "    type filter hook prerouting priority -150; policy accept;",
    `    iifname "${iif}" meta mark set numgen random mod ${links.length} offset 1`,
    "  }",
    "}",
  ];
  await run("nft", ["-f", "-"], { ns, input: `${nft.join("\n")}\n` });
  const lines: string[] = [];
  const rules = links.map((_, i) => `rule add fwmark ${i + 1} table ${101 + i}`);
  links.forEach((l, i) => {
    for (const dst of dsts)
      lines.push(`route add ${dst} via ${gw(l, dst.includes(":") ? 6 : 4, far)} table ${101 + i}`);
  });
  await ipBatch(ns, [...rules, ...lines]);
  // `ip rule` needs its family on the command line, which a batch line cannot carry.
  await run("ip", ["-n", ns, "-6", "-batch", "-"], { input: `${rules.join("\n")}\n` });
}
