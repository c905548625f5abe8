// The destination model: what a target's `destination` string means, how many addresses it stands
// for, and how to enumerate them. Pure functions; DNS resolution lives elsewhere. Counting never
// materialises addresses, so a /8 costs nothing to reject; enumeration is lazy and bounded by a ceiling.
//
// Accepted forms (as the original netprobify, which handed them to scapy):
//   IPv4/IPv6 literal          198.18.0.1, fd18::1
//   CIDR subnet (v4 or v6)     198.18.0.0/24, fd18::/120   (host bits set: accepted, network used, warned)
//   IPv4 range / wildcard      198.18.*.1-5, 198.18.0.10-20  (each octet: N, N-M or *)
//   hostname                   example.org (resolved later, per address family)
import { formatAddress, parseAddress } from "../packet/addr.js";

export type Family = "ipv4" | "ipv6";

export type Destination =
  | { kind: "ip"; family: Family; address: string }
  | { kind: "hostname"; name: string }
  | { kind: "cidr"; family: Family; network: bigint; prefix: number; hostBitsSet: boolean }
  | { kind: "range"; family: "ipv4"; octets: [number, number][] };

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

/** Parses an IP literal strictly (dotted quad without leading zeros, or any valid IPv6 text). */
export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  const bytes = parseAddress(text);
  if (!bytes) return undefined;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family: bytes.length === 4 ? "ipv4" : "ipv6", value };
}

export function formatIp(family: Family, value: bigint): string {
  const bytes = new Uint8Array(BITS[family] / 8);
  let v = value;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return formatAddress(bytes, 0, family === "ipv4" ? 4 : 6);
}

export interface Cidr {
  family: Family;
  network: bigint;
  prefix: number;
  /** The text had bits set beyond the prefix (e.g. 198.18.0.5/24); `network` has them cleared. */
  hostBitsSet: boolean;
}

/** Parses "address/prefix" for either family. */
export function parseCidr(text: string): ParseResult<Cidr> {
  const slash = text.indexOf("/");
  if (slash < 0) return { ok: false, error: "missing /prefix" };
  const ip = parseIp(text.slice(0, slash));
  if (!ip) return { ok: false, error: `"${text.slice(0, slash)}" is not an IP address` };
  const prefixText = text.slice(slash + 1);
  const max = BITS[ip.family];
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return { ok: false, error: `prefix length must be 0..${max}, got "${prefixText}"` };
  }
  const prefix = Number(prefixText);
  const hostMask = (1n << BigInt(max - prefix)) - 1n;
  const network = ip.value & ~hostMask;
  return { ok: true, value: { family: ip.family, network, prefix, hostBitsSet: network !== ip.value } };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.network)}/${c.prefix}`;
}

const OCTET = /^(\*|\d{1,3}(?:-\d{1,3})?)$/;

function parseRange(text: string): ParseResult<[number, number][]> | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  const octets: [number, number][] = [];
  for (const p of parts) {
    if (p === "*") {
      octets.push([0, 255]);
      continue;
    }
    const [lo, hi = lo] = p.split("-").map(Number) as [number, number?];
    if (lo > 255 || hi > 255) return { ok: false, error: `octet "${p}" is outside 0..255` };
    if (lo > hi) return { ok: false, error: `range "${p}" goes backwards` };
    octets.push([lo, hi]);
  }
  return { ok: true, value: octets };
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/i;

function isHostname(text: string): boolean {
  const name = text.endsWith(".") ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  // An all-numeric last label is a mistyped IP address (e.g. 198.18.0.300), not a name.
  return labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1] ?? "");
}

/** Classifies a destination string; the error text says what the string looked like and why it fails. */
export function parseDestination(text: string): ParseResult<Destination> {
  const t = text.trim();
  if (t === "") return { ok: false, error: "empty destination" };
  const ip = parseIp(t);
  if (ip)
    return { ok: true, value: { kind: "ip", family: ip.family, address: formatIp(ip.family, ip.value) } };
  if (t.includes("/")) {
    const c = parseCidr(t);
    if (!c.ok) return { ok: false, error: `not a valid CIDR subnet: ${c.error}` };
    return { ok: true, value: { kind: "cidr", ...c.value } };
  }
  const range = parseRange(t);
  if (range) {
    if (!range.ok && !/[*-]/.test(t)) return { ok: false, error: `not a valid IPv4 address: ${range.error}` };
    if (!range.ok) return { ok: false, error: `not a valid IPv4 range: ${range.error}` };
    return { ok: true, value: { kind: "range", family: "ipv4", octets: range.value } };
  }
  if (/^[\d.]+$/.test(t)) return { ok: false, error: "not a valid IPv4 address" };
  if (t.includes(":")) return { ok: false, error: "not a valid IPv6 address" };
  if (isHostname(t)) return { ok: true, value: { kind: "hostname", name: t.toLowerCase() } };
  return { ok: false, error: "not an IP address, subnet, IPv4 range or hostname" };
}

/** The address family a destination implies, or undefined for a hostname (the config decides). */
export function destinationFamily(d: Destination): Family | undefined {
  return d.kind === "hostname" ? undefined : d.family;
}

/** How many addresses a destination stands for (a hostname counts as one). */
export function addressCount(d: Destination): bigint {
  switch (d.kind) {
    case "ip":
    case "hostname":
      return 1n;
    case "cidr":
      return 1n << BigInt(BITS[d.family] - d.prefix);
    case "range":
      return d.octets.reduce((n, [lo, hi]) => n * BigInt(hi - lo + 1), 1n);
  }
}

/** True when the destination stands for more than one address (a subnet or range). */
export function isMultiAddress(d: Destination): boolean {
  return d.kind === "cidr" || d.kind === "range";
}

/**
 * Enumerates the IP addresses of a literal, subnet or range, in ascending order. Every address of a
 * subnet is included (network and broadcast too, as scapy did). Throws when there are more than
 * `ceiling`; callers validate first with addressCount.
 */
export function* expandDestination(d: Destination, ceiling: number): Generator<string> {
  if (d.kind === "hostname") throw new Error("a hostname must be resolved, not expanded");
  const count = addressCount(d);
  if (count > BigInt(ceiling)) throw new RangeError(`destination has ${count} addresses, over ${ceiling}`);
  if (d.kind === "ip") {
    yield d.address;
  } else if (d.kind === "cidr") {
    for (let i = 0n; i < count; i++) yield formatIp(d.family, d.network + i);
  } else {
    const [a, b, c, e] = d.octets as [[number, number], [number, number], [number, number], [number, number]];
    for (let o1 = a[0]; o1 <= a[1]; o1++)
      for (let o2 = b[0]; o2 <= b[1]; o2++)
        for (let o3 = c[0]; o3 <= c[1]; o3++)
          for (let o4 = e[0]; o4 <= e[1]; o4++) yield `${o1}.${o2}.${o3}.${o4}`;
  }
}

/**
 * Hosts of a source subnet, for source-address round robin: IPv4 leaves out the network and broadcast
 * addresses when the prefix is shorter than /31; IPv6 leaves out the subnet-router anycast address
 * (all host bits zero) when the prefix is shorter than /127.
 */
export function subnetHostCount(c: Cidr): bigint {
  const size = 1n << BigInt(BITS[c.family] - c.prefix);
  if (c.family === "ipv4") return c.prefix < 31 ? size - 2n : size;
  return c.prefix < 127 ? size - 1n : size;
}

/** The i-th host (0-based, i < subnetHostCount) of a source subnet. */
export function subnetHost(c: Cidr, i: bigint): string {
  const skipFirst = c.family === "ipv4" ? c.prefix < 31 : c.prefix < 127;
  return formatIp(c.family, c.network + i + (skipFirst ? 1n : 0n));
}
