// The packet quoted inside an ICMP or ICMPv6 error: the copy of one of our probes that a router or
// the target sent back (RFC 792: IP header + at least 8 bytes; RFC 1812 / Linux: as much as fits in
// 576 bytes; RFC 4443: as much as fits in 1280 bytes). Those first 8 transport bytes are exactly what
// matching needs: ports and TCP sequence, UDP length, ICMP id/seq; the IPv4 ID is in the quoted
// header; a UDP probe's tag follows when enough was quoted.
//
// The result is one flat shape for every protocol (fields that do not apply are undefined) so that
// the matcher's code sees a single object layout.
import { formatAddress } from "./addr.js";
import { blankIPv4Header, parseIPv4HeaderInto } from "./ipv4.js";
import { blankIPv6Header, parseIPv6HeaderInto } from "./ipv6.js";
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, i32, u16 } from "./layout.js";

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
      q.tcpSeq = i32(buf, t + 4);
      break;
    case IPPROTO_UDP: {
      q.srcPort = u16(buf, t);
      q.dstPort = u16(buf, t + 2);
      const length = u16(buf, t + 4);
      q.udpLength = length;
      if (length >= 12 && present >= 12) q.tag = i32(buf, t + 8);
      break;
    }
    default:
      q.icmpType = buf[t];
      q.icmpId = u16(buf, t + 4);
      q.icmpSeq = u16(buf, t + 6);
  }
}

/** A QuotedPacket to parse into (parseQuotedIPv4Into, parseQuotedIPv6Into). */
export function blankQuotedPacket(): QuotedPacket {
  return {
    family: 4,
    offset: 0,
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

/** Sets every field of `q` as blankQuotedPacket has them, for a quote of `family` at `offset`. */
function reset(q: QuotedPacket, family: 4 | 6, offset: number): QuotedPacket {
  q.family = family;
  q.offset = offset;
  q.ipId = undefined;
  q.ttl = 0;
  q.dscp = 0;
  q.flowLabel = undefined;
  q.df = undefined;
  q.totalLength = 0;
  q.srcOffset = 0;
  q.dstOffset = 0;
  q.protocol = 0;
  q.transportOffset = 0;
  q.transportLength = 0;
  q.srcPort = undefined;
  q.dstPort = undefined;
  q.tcpSeq = undefined;
  q.udpLength = undefined;
  q.tag = undefined;
  q.icmpType = undefined;
  q.icmpId = undefined;
  q.icmpSeq = undefined;
  return q;
}

/** A quote parsed by parseQuotedIPv4Into / 6Into with tcpSeq and tag unsigned (the allocating form). */
export function unsignedQuoted(q: QuotedPacket | undefined): QuotedPacket | undefined {
  if (q?.tcpSeq !== undefined) q.tcpSeq >>>= 0;
  if (q?.tag !== undefined) q.tag >>>= 0;
  return q;
}

// The quoted IP headers are read into these (parsing is synchronous; their values are copied out).
const ip4 = blankIPv4Header();
const ip6 = blankIPv6Header();

/**
 * Parses an IPv4 packet quoted in an ICMP error at buf[off, off+len). Accepts a valid IPv4 header
 * (truncation allowed), first fragment only, protocol TCP, UDP or ICMP, with ≥ 8 transport bytes.
 */
export function parseQuotedIPv4(buf: Uint8Array, off: number, len: number): QuotedPacket | undefined {
  return unsignedQuoted(parseQuotedIPv4Into(blankQuotedPacket(), buf, off, len));
}

/**
 * parseQuotedIPv4 into `out` (overwritten, returned; undefined as parseQuotedIPv4): no allocation.
 * tcpSeq and tag hold their 32 bits as int32 (layout.ts i32; `>>> 0` for the value).
 */
export function parseQuotedIPv4Into(
  out: QuotedPacket,
  buf: Uint8Array,
  off: number,
  len: number,
): QuotedPacket | undefined {
  const ip = parseIPv4HeaderInto(ip4, buf, off, len);
  if (ip === undefined || ip.fragmentOffset !== 0) return undefined;
  const p = ip.protocol;
  if (p !== IPPROTO_TCP && p !== IPPROTO_UDP && p !== IPPROTO_ICMP) return undefined;
  if (ip.presentLength < QUOTED_TRANSPORT_MIN) return undefined;
  const q = reset(out, 4, off);
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
  return unsignedQuoted(parseQuotedIPv6Into(blankQuotedPacket(), buf, off, len));
}

/**
 * parseQuotedIPv6 into `out` (overwritten, returned; undefined as parseQuotedIPv6): no allocation.
 * tcpSeq and tag hold their 32 bits as int32 (layout.ts i32; `>>> 0` for the value).
 */
export function parseQuotedIPv6Into(
  out: QuotedPacket,
  buf: Uint8Array,
  off: number,
  len: number,
): QuotedPacket | undefined {
  const ip = parseIPv6HeaderInto(ip6, buf, off, len);
  if (ip === undefined) return undefined;
  const p = ip.nextHeader;
  if (p !== IPPROTO_TCP && p !== IPPROTO_UDP && p !== IPPROTO_ICMPV6) return undefined;
  if (ip.presentLength < QUOTED_TRANSPORT_MIN) return undefined;
  const q = reset(out, 6, off);
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
