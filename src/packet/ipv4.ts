// The IPv4 header (RFC 791): written without options (20 bytes, IHL 5), parsed with or without them.
// The parser is also what reads the IPv4 header quoted inside an ICMP error, so it accepts a packet
// whose total length exceeds the bytes at hand and says so with `truncated` instead of rejecting it.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-------+-------+-----------+---+-------------------------------+
//  |Version|  IHL  |   DSCP    |ECN|         Total Length          |
//  +-------+-------+-----------+---+-----+-------------------------+
//  |        Identification         |0|D|M|     Fragment Offset     |
//  +---------------+---------------+-----+-------------------------+
//  |      TTL      |   Protocol    |        Header Checksum        |
//  +---------------+---------------+-------------------------------+
//  |                        Source Address                         |
//  +---------------------------------------------------------------+
//  |                     Destination Address                       |
//  +---------------------------------------------------------------+
import { internetChecksum } from "./checksum.js";
import { available, IPV4, IPV4_HEADER_LEN, i32, put16, u16 } from "./layout.js";

export interface IPv4HeaderFields {
  /** Differentiated services code point, 0..63 (TOS = dscp << 2 | ecn). */
  dscp?: number;
  /** ECN bits, 0..3. */
  ecn?: number;
  /** Header + payload, bytes. */
  totalLength: number;
  id: number;
  /** Don't Fragment. */
  df: boolean;
  ttl: number;
  protocol: number;
  /** 4-byte addresses. */
  src: Uint8Array;
  dst: Uint8Array;
}

/** Writes a 20-byte IPv4 header (no options) with its checksum at buf[off]; returns 20. */
export function writeIPv4Header(buf: Uint8Array, off: number, h: IPv4HeaderFields): number {
  return writeIPv4HeaderOf(
    buf,
    off,
    h.dscp ?? 0,
    h.ecn ?? 0,
    h.totalLength,
    h.id,
    h.df,
    h.ttl,
    h.protocol,
    h.src,
    h.dst,
  );
}

/** writeIPv4Header with the fields as arguments (no object per packet on the send path). */
export function writeIPv4HeaderOf(
  buf: Uint8Array,
  off: number,
  dscp: number,
  ecn: number,
  totalLength: number,
  id: number,
  df: boolean,
  ttl: number,
  protocol: number,
  s: Uint8Array,
  d: Uint8Array,
): number {
  buf[off] = 0x45;
  buf[off + IPV4.TOS] = ((dscp & 0x3f) << 2) | (ecn & 3);
  put16(buf, off + IPV4.TOTAL_LENGTH, totalLength);
  put16(buf, off + IPV4.ID, id);
  buf[off + IPV4.FLAGS_FRAGMENT] = df ? 0x40 : 0;
  buf[off + IPV4.FLAGS_FRAGMENT + 1] = 0;
  buf[off + IPV4.TTL] = ttl & 0xff;
  buf[off + IPV4.PROTOCOL] = protocol & 0xff;
  buf[off + IPV4.CHECKSUM] = 0;
  buf[off + IPV4.CHECKSUM + 1] = 0;
  buf[off + 12] = s[0]!;
  buf[off + 13] = s[1]!;
  buf[off + 14] = s[2]!;
  buf[off + 15] = s[3]!;
  buf[off + 16] = d[0]!;
  buf[off + 17] = d[1]!;
  buf[off + 18] = d[2]!;
  buf[off + 19] = d[3]!;
  put16(buf, off + IPV4.CHECKSUM, internetChecksum(buf, off, IPV4_HEADER_LEN));
  return IPV4_HEADER_LEN;
}

export interface IPv4Header {
  /** IHL × 4: 20..60. */
  headerLength: number;
  dscp: number;
  ecn: number;
  /** The Total Length field as sent. */
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  /** In 8-byte units, as on the wire. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  /** Addresses as uint32, and where they sit in the parsed buffer. */
  src: number;
  dst: number;
  srcOffset: number;
  dstOffset: number;
  /** Where the payload starts in the buffer, and how many of its bytes are present. */
  payloadOffset: number;
  presentLength: number;
  /** Total Length claims more bytes than were handed in (normal for a header quoted in an ICMP error). */
  truncated: boolean;
}

/**
 * Parses an IPv4 header at buf[off, off+len). Accepts: version 4, IHL 5..15 with the whole header
 * present, Total Length ≥ IHL × 4. Bytes beyond Total Length are ignored (Ethernet padding); fewer
 * than Total Length set `truncated`. The checksum is reported, not verified (see ipv4HeaderChecksumOk).
 * Returns undefined for anything else; never throws.
 */
export function parseIPv4Header(buf: Uint8Array, off: number, len: number): IPv4Header | undefined {
  return unsignedIPv4(parseIPv4HeaderInto(blankIPv4Header(), buf, off, len));
}

/** A header parsed by parseIPv4HeaderInto with src and dst as unsigned values (parseIPv4Header's form). */
export function unsignedIPv4(h: IPv4Header | undefined): IPv4Header | undefined {
  if (h !== undefined) {
    h.src >>>= 0;
    h.dst >>>= 0;
  }
  return h;
}

/** An IPv4Header to parse into (parseIPv4HeaderInto), all fields zero. */
export function blankIPv4Header(): IPv4Header {
  return {
    headerLength: 0,
    dscp: 0,
    ecn: 0,
    totalLength: 0,
    id: 0,
    df: false,
    mf: false,
    fragmentOffset: 0,
    ttl: 0,
    protocol: 0,
    checksum: 0,
    src: 0,
    dst: 0,
    srcOffset: 0,
    dstOffset: 0,
    payloadOffset: 0,
    presentLength: 0,
    truncated: false,
  };
}

/**
 * parseIPv4Header into `h` (overwritten, returned; undefined as parseIPv4Header): no allocation. src
 * and dst hold their 32 bits as int32 (layout.ts i32; `>>> 0` for the value).
 */
export function parseIPv4HeaderInto(
  h: IPv4Header,
  buf: Uint8Array,
  off: number,
  len: number,
): IPv4Header | undefined {
  const n = available(buf, off, len);
  if (n < IPV4_HEADER_LEN) return undefined;
  const b0 = buf[off]!;
  if (b0 >>> 4 !== 4) return undefined;
  const headerLength = (b0 & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_LEN || headerLength > n) return undefined;
  const totalLength = u16(buf, off + IPV4.TOTAL_LENGTH);
  if (totalLength < headerLength) return undefined;
  const tos = buf[off + IPV4.TOS]!;
  const ff = u16(buf, off + IPV4.FLAGS_FRAGMENT);
  const end = Math.min(totalLength, n);
  h.headerLength = headerLength;
  h.dscp = tos >>> 2;
  h.ecn = tos & 3;
  h.totalLength = totalLength;
  h.id = u16(buf, off + IPV4.ID);
  h.df = (ff & 0x4000) !== 0;
  h.mf = (ff & 0x2000) !== 0;
  h.fragmentOffset = ff & 0x1fff;
  h.ttl = buf[off + IPV4.TTL]!;
  h.protocol = buf[off + IPV4.PROTOCOL]!;
  h.checksum = u16(buf, off + IPV4.CHECKSUM);
  h.src = i32(buf, off + IPV4.SRC);
  h.dst = i32(buf, off + IPV4.DST);
  h.srcOffset = off + IPV4.SRC;
  h.dstOffset = off + IPV4.DST;
  h.payloadOffset = off + headerLength;
  h.presentLength = end - headerLength;
  h.truncated = totalLength > n;
  return h;
}

/** True when the header checksum of the IPv4 header at buf[off] (IHL from the header) verifies. */
export function ipv4HeaderChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  const n = available(buf, off, len);
  if (n < IPV4_HEADER_LEN) return false;
  const hl = (buf[off]! & 0x0f) * 4;
  if (hl < IPV4_HEADER_LEN || hl > n) return false;
  return internetChecksum(buf, off, hl) === 0;
}
