// The packet quoted inside an ICMP or ICMPv6 error: the copy of one of our probes that a router or
// the target sent back (RFC 792: IP header + at least 8 bytes; RFC 1812 / Linux: as much as fits in
// 576 bytes; RFC 4443: as much as fits in 1280 bytes). Those first 8 transport bytes are exactly what
// matching needs: ports and TCP sequence, UDP length, ICMP id/seq; the IPv4 ID is in the quoted
// header; a UDP probe's tag follows when enough was quoted.
//
// The result is one flat shape for every protocol (fields that do not apply are undefined) so that
// the matcher's code sees a single object layout.
import { formatAddress } from "./addr.js";
import { parseIPv4Header } from "./ipv4.js";
import { parseIPv6Header } from "./ipv6.js";
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, u16, u32 } from "./layout.js";

/** Transport bytes a quote must hold for us to read it (RFC 792's "64 bits of data"). */
export const QUOTED_TRANSPORT_MIN = 8;

export interface QuotedPacket {
  family: 4 | 6;
  /** Where the quoted IP header starts in the buffer. */
  offset: number;
  /** Quoted IPv4 ID; undefined for IPv6. */
  ipId: number | undefined;
  /** TTL / hop limit as the packet had it where the error was raised. */
  ttl: number;
  dscp: number;
  /** IPv6 flow label; undefined for IPv4. */
  flowLabel: number | undefined;
  /** Quoted IPv4 DF bit; undefined for IPv6. */
  df: boolean | undefined;
  /** Total length (IPv4) or payload length + 40 (IPv6) of the original packet, as claimed. */
  totalLength: number;
  srcOffset: number;
  dstOffset: number;
  protocol: number;
  transportOffset: number;
  /** Transport bytes present in the quote (≥ 8). */
  transportLength: number;
  /** TCP / UDP ports. */
  srcPort: number | undefined;
  dstPort: number | undefined;
  /** TCP sequence number. */
  tcpSeq: number | undefined;
  /** UDP Length field. */
  udpLength: number | undefined;
  /** UDP data's first 32 bits (our tag), when the datagram had them and they were quoted. */
  tag: number | undefined;
  /** Quoted ICMP / ICMPv6 type, id, seq. */
  icmpType: number | undefined;
  icmpId: number | undefined;
  icmpSeq: number | undefined;
}

function transportFields(q: QuotedPacket, buf: Uint8Array, t: number, present: number): void {
  switch (q.protocol) {
    case IPPROTO_TCP:
      q.srcPort = u16(buf, t);
      q.dstPort = u16(buf, t + 2);
      q.tcpSeq = u32(buf, t + 4);
      break;
    case IPPROTO_UDP: {
      q.srcPort = u16(buf, t);
      q.dstPort = u16(buf, t + 2);
      const length = u16(buf, t + 4);
      q.udpLength = length;
      if (length >= 12 && present >= 12) q.tag = u32(buf, t + 8);
      break;
    }
    default:
      q.icmpType = buf[t];
      q.icmpId = u16(buf, t + 4);
      q.icmpSeq = u16(buf, t + 6);
  }
}

function blank(family: 4 | 6, offset: number): QuotedPacket {
  return {
    family,
    offset,
    ipId: undefined,
    ttl: 0,
    dscp: 0,
    flowLabel: undefined,
    df: undefined,
    totalLength: 0,
    srcOffset: 0,
    dstOffset: 0,
    protocol: 0,
    transportOffset: 0,
    transportLength: 0,
    srcPort: undefined,
    dstPort: undefined,
    tcpSeq: undefined,
    udpLength: undefined,
    tag: undefined,
    icmpType: undefined,
    icmpId: undefined,
    icmpSeq: undefined,
  };
}

/**
 * Parses an IPv4 packet quoted in an ICMP error at buf[off, off+len). Accepts a valid IPv4 header
 * (truncation allowed), first fragment only, protocol TCP, UDP or ICMP, with ≥ 8 transport bytes.
 */
export function parseQuotedIPv4(buf: Uint8Array, off: number, len: number): QuotedPacket | undefined {
  const ip = parseIPv4Header(buf, off, len);
  if (ip === undefined || ip.fragmentOffset !== 0) return undefined;
  const p = ip.protocol;
  if (p !== IPPROTO_TCP && p !== IPPROTO_UDP && p !== IPPROTO_ICMP) return undefined;
  if (ip.presentLength < QUOTED_TRANSPORT_MIN) return undefined;
  const q = blank(4, off);
  q.ipId = ip.id;
  q.ttl = ip.ttl;
  q.dscp = ip.dscp;
  q.df = ip.df;
  q.totalLength = ip.totalLength;
  q.srcOffset = ip.srcOffset;
  q.dstOffset = ip.dstOffset;
  q.protocol = p;
  q.transportOffset = ip.payloadOffset;
  q.transportLength = ip.presentLength;
  transportFields(q, buf, ip.payloadOffset, ip.presentLength);
  return q;
}

/**
 * Parses an IPv6 packet quoted in an ICMPv6 error at buf[off, off+len). Accepts an IPv6 header
 * (truncation allowed) directly followed by TCP, UDP or ICMPv6 (no extension headers), ≥ 8 bytes of it.
 */
export function parseQuotedIPv6(buf: Uint8Array, off: number, len: number): QuotedPacket | undefined {
  const ip = parseIPv6Header(buf, off, len);
  if (ip === undefined) return undefined;
  const p = ip.nextHeader;
  if (p !== IPPROTO_TCP && p !== IPPROTO_UDP && p !== IPPROTO_ICMPV6) return undefined;
  if (ip.presentLength < QUOTED_TRANSPORT_MIN) return undefined;
  const q = blank(6, off);
  q.ttl = ip.hopLimit;
  q.dscp = ip.dscp;
  q.flowLabel = ip.flowLabel;
  q.totalLength = ip.payloadLength + 40;
  q.srcOffset = ip.srcOffset;
  q.dstOffset = ip.dstOffset;
  q.protocol = p;
  q.transportOffset = ip.payloadOffset;
  q.transportLength = ip.presentLength;
  transportFields(q, buf, ip.payloadOffset, ip.presentLength);
  return q;
}

/** Text of a quoted packet's addresses, for logs and tests (allocates). */
export function quotedAddresses(buf: Uint8Array, q: QuotedPacket): { src: string; dst: string } {
  return { src: formatAddress(buf, q.srcOffset, q.family), dst: formatAddress(buf, q.dstOffset, q.family) };
}
