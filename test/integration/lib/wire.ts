// An independent reading of captured frames for the wire tests: fixed byte offsets straight from
// RFC 791 / 8200 / 793 / 768 / 792, deliberately not src/packet's parsers, so the referee does not
// share the code under test. Only what the assertions need: the IP header fields netprobify sets
// (DSCP, DF, lengths, ID, flow label), the 5-tuple, the matching key a probe carries and where its
// padding starts. Frames are Ethernet (the lab's veths), so the IP header is at byte 14.
import type { PcapRecord } from "../../../src/lab/pcap.js";

export interface WirePacket {
  tsNs: bigint;
  /** 4 or 6. */
  v: 4 | 6;
  /** IPv4 TOS byte or IPv6 traffic class. */
  tos: number;
  /** IPv4 DF bit (false for IPv6). */
  df: boolean;
  /** IPv4 Total Length, or IPv6 Payload Length. */
  ipLength: number;
  /** IPv4 Identification (0 for IPv6). */
  ipId: number;
  /** IPv6 flow label (0 for IPv4). */
  flowLabel: number;
  proto: number;
  src: string;
  dst: string;
  /** TCP/UDP ports; ICMP: 0. */
  sport: number;
  dport: number;
  /** Offset of the transport header in `frame`, and bytes of IP payload present. */
  l4: number;
  l4Length: number;
  frame: Buffer;
}

const ETH = 14;

function v4Text(b: Buffer, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function v6Text(b: Buffer, o: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(o + i).toString(16));
  // Canonical form (RFC 5952): the longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Decodes one captured Ethernet frame carrying IPv4 or IPv6 (no extension headers); else undefined. */
export function decode(rec: PcapRecord): WirePacket | undefined {
  const b = rec.data;
  if (b.length < ETH + 20) return undefined;
  const etherType = b.readUInt16BE(12);
  let p: WirePacket;
  if (etherType === 0x0800) {
    const ihl = (b[ETH]! & 0x0f) * 4;
    const total = b.readUInt16BE(ETH + 2);
    p = {
      tsNs: rec.tsNs,
      v: 4,
      tos: b[ETH + 1]!,
      df: (b[ETH + 6]! & 0x40) !== 0,
      ipLength: total,
      ipId: b.readUInt16BE(ETH + 4),
      flowLabel: 0,
      proto: b[ETH + 9]!,
      src: v4Text(b, ETH + 12),
      dst: v4Text(b, ETH + 16),
      sport: 0,
      dport: 0,
      l4: ETH + ihl,
      l4Length: Math.min(total, b.length - ETH) - ihl,
      frame: b,
    };
  } else if (etherType === 0x86dd) {
    if (b.length < ETH + 40) return undefined;
    const w = b.readUInt32BE(ETH);
    const payload = b.readUInt16BE(ETH + 4);
    p = {
      tsNs: rec.tsNs,
      v: 6,
      tos: (w >>> 20) & 0xff,
      df: false,
      ipLength: payload,
      ipId: 0,
      flowLabel: w & 0xfffff,
      proto: b[ETH + 6]!,
      src: v6Text(b, ETH + 8),
      dst: v6Text(b, ETH + 24),
      sport: 0,
      dport: 0,
      l4: ETH + 40,
      l4Length: Math.min(payload, b.length - ETH - 40),
      frame: b,
    };
  } else return undefined;
  if ((p.proto === 6 || p.proto === 17) && p.l4Length >= 4) {
    p.sport = b.readUInt16BE(p.l4);
    p.dport = b.readUInt16BE(p.l4 + 2);
  }
  return p;
}

export function decodeAll(records: readonly PcapRecord[]): WirePacket[] {
  const out: WirePacket[] = [];
  for (const r of records) {
    const p = decode(r);
    if (p) out.push(p);
  }
  return out;
}

/** True for a probe netprobify sends: TCP SYN, UDP datagram, ICMP/ICMPv6 echo request. */
export function isProbe(p: WirePacket): boolean {
  const b = p.frame;
  if (p.proto === 6) return p.l4Length >= 20 && b[p.l4 + 13] === 0x02;
  if (p.proto === 17) return true;
  if (p.proto === 1) return b[p.l4] === 8;
  if (p.proto === 58) return b[p.l4] === 128;
  return false;
}

/** Header length of the probe's transport (where padding starts, before a UDP tag). */
export function transportHeaderLength(p: WirePacket): number {
  return p.proto === 6 ? (p.frame[p.l4 + 12]! >>> 4) * 4 : 8;
}

/** The padding bytes of a probe: after the transport header (and after the 4-byte UDP tag). */
export function padding(p: WirePacket): Buffer {
  let start = p.l4 + transportHeaderLength(p);
  if (p.proto === 17 && p.l4Length >= 12) start += 4;
  return p.frame.subarray(start, p.l4 + p.l4Length);
}

/** The 32-bit matching key a probe carries: TCP sequence, ICMP id<<16|seq, UDP tag; else undefined. */
export function probeKey(p: WirePacket): number | undefined {
  const b = p.frame;
  if (p.proto === 6) return b.readUInt32BE(p.l4 + 4);
  if (p.proto === 1 || p.proto === 58) return b.readUInt32BE(p.l4 + 4);
  if (p.proto === 17 && p.l4Length >= 12) return b.readUInt32BE(p.l4 + 8);
  return undefined;
}

/** Groups probes by destination address (each series of a wire test has its own), in wire order. */
export function probesByDst(packets: readonly WirePacket[]): Map<string, WirePacket[]> {
  const out = new Map<string, WirePacket[]>();
  for (const p of packets) {
    if (!isProbe(p)) continue;
    let l = out.get(p.dst);
    if (!l) {
      l = [];
      out.set(p.dst, l);
    }
    l.push(p);
  }
  for (const l of out.values()) l.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
  return out;
}
