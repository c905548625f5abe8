// From a configured target to the addresses it probes: IP literals as they are, subnets and ranges
// expanded, hostnames resolved for the target's address family. Addresses that belong to this host
// are never probed (a probe to ourselves measures nothing and the kernel answers it locally): a
// single-address target pointing at us is disabled; a subnet containing one of our addresses loses
// only that address. Callers log and count what was left out.
import { lookup as dnsLookup } from "node:dns/promises";
import { networkInterfaces } from "node:os";
import type { TargetConfig } from "../config/load.js";
import { expandDestination, type Family, formatIp, parseIp } from "./destination.js";

export type Lookup = (hostname: string, family: Family) => Promise<string[]>;

/** Resolves with the system resolver (getaddrinfo: /etc/hosts, then DNS), for one family. */
export const systemLookup: Lookup = async (hostname, family) => {
  const all = await dnsLookup(hostname, { family: family === "ipv4" ? 4 : 6, all: true, order: "verbatim" });
  return all.map((a) => a.address);
};

/** Every address configured on this host's interfaces, normalised (e.g. "fd18::1"). */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const ip = parseIp(a.address.split("%")[0]!);
      if (ip) out.add(formatIp(ip.family, ip.value));
    }
  }
  return out;
}

/** Canonical text of an IP address (so "FD18:0::1" and "fd18::1" compare equal). */
function normalize(address: string): string {
  const ip = parseIp(address);
  return ip ? formatIp(ip.family, ip.value) : address;
}

export interface ResolvedTarget {
  /** Addresses to probe, in order (a hostname gives its first address for the family). */
  addresses: string[];
  /** Addresses left out because they belong to this host. */
  self: string[];
  /** Why the target has nothing to probe, if so. */
  error?: string;
}

/** The addresses a target probes now. Never throws: a resolution failure is reported in `error`. */
export async function resolveTarget(
  t: TargetConfig,
  opts: { ceiling: number; lookup?: Lookup; local?: ReadonlySet<string> },
): Promise<ResolvedTarget> {
  const local = opts.local ?? localAddresses();
  let candidates: string[];
  if (t.destination.kind === "hostname") {
    try {
      const found = await (opts.lookup ?? systemLookup)(t.destination.name, t.address_family);
      candidates = found.slice(0, 1).map(normalize);
    } catch (err) {
      return {
        addresses: [],
        self: [],
        error: `cannot resolve ${t.destination.name} (${t.address_family}): ${(err as Error).message}`,
      };
    }
    if (candidates.length === 0)
      return { addresses: [], self: [], error: `${t.destination.name} has no ${t.address_family} address` };
  } else if (t.destination.kind === "ip" && t.destination.family !== t.address_family) {
    // The original resolved the literal for address_family, which failed: never probed (rule
    // address-family-mismatch warns at load).
    return {
      addresses: [],
      self: [],
      error: `${t.destination.address} is not an ${t.address_family} address (address_family): not probed`,
    };
  } else {
    candidates = [...expandDestination(t.destination, opts.ceiling)];
  }
  const addresses: string[] = [];
  const self: string[] = [];
  for (const a of candidates) (local.has(a) ? self : addresses).push(a);
  if (addresses.length === 0)
    return { addresses, self, error: "every address of the target belongs to this host" };
  return { addresses, self };
}
