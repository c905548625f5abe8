// The IPv6 fixed header (RFC 8200). Extension headers are neither written nor walked: netprobify
// sends none, so a packet (or a quoted packet) whose next header is one is "not ours" to the
// transport dispatch. Received packets usually never reach this parser: IPv6 raw sockets deliver from
// the transport header (see packet.ts); it serves quoted packets inside ICMPv6 errors, captures, and
// IPV6_HDRINCL sending.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-------+-----------+---+---------------------------------------+
//  |Version|   DSCP    |ECN|             Flow Label                |
//  +-------+-----------+---+-------+---------------+---------------+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-------------------------------+---------------+---------------+
//  |                   Source Address (16 bytes)                   |
//  +---------------------------------------------------------------+
//  |                Destination Address (16 bytes)                 |
//  +---------------------------------------------------------------+
import { available, IPV6, IPV6_HEADER_LEN, put16, u16 } from "./layout.js";

export interface IPv6HeaderFields {
  /** Traffic class = dscp << 2 | ecn. */
  dscp?: number;
  ecn?: number;
  /** 20 bits. */
  flowLabel?: number;
  /** Bytes after the 40-byte header. */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  /** 16-byte addresses. */
  src: Uint8Array;
  dst: Uint8Array;
}

/** Writes the 40-byte IPv6 header at buf[off]; returns 40. */
export function writeIPv6Header(buf: Uint8Array, off: number, h: IPv6HeaderFields): number {
  return writeIPv6HeaderOf(
    buf,
    off,
    h.dscp ?? 0,
    h.ecn ?? 0,
    h.flowLabel ?? 0,
    h.payloadLength,
    h.nextHeader,
    h.hopLimit,
    h.src,
    h.dst,
  );
}

/** writeIPv6Header with the fields as arguments (no object per packet on the send path). */
export function writeIPv6HeaderOf(
  buf: Uint8Array,
  off: number,
  dscp: number,
  ecn: number,
  flowLabel: number,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
  s: Uint8Array,
  d: Uint8Array,
): number {
  const tc = ((dscp & 0x3f) << 2) | (ecn & 3);
  const fl = flowLabel & 0xfffff;
  buf[off] = 0x60 | (tc >>> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  buf[off + 2] = (fl >>> 8) & 0xff;
  buf[off + 3] = fl & 0xff;
  put16(buf, off + IPV6.PAYLOAD_LENGTH, payloadLength);
  buf[off + IPV6.NEXT_HEADER] = nextHeader & 0xff;
  buf[off + IPV6.HOP_LIMIT] = hopLimit & 0xff;
  for (let i = 0; i < 16; i++) {
    buf[off + IPV6.SRC + i] = s[i]!;
    buf[off + IPV6.DST + i] = d[i]!;
  }
  return IPV6_HEADER_LEN;
}

export interface IPv6Header {
  dscp: number;
  ecn: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  /** Where the 16-byte addresses sit in the parsed buffer. */
  srcOffset: number;
  dstOffset: number;
  /** Where the payload starts, and how many of its bytes are present. */
  payloadOffset: number;
  presentLength: number;
  /** Payload Length claims more bytes than were handed in (normal inside an ICMPv6 error). */
  truncated: boolean;
}

/**
 * Parses an IPv6 fixed header at buf[off, off+len). Accepts version 6 with the 40 bytes present;
 * bytes beyond Payload Length are ignored, fewer set `truncated`. Returns undefined otherwise; never throws.
 */
export function parseIPv6Header(buf: Uint8Array, off: number, len: number): IPv6Header | undefined {
  return parseIPv6HeaderInto(blankIPv6Header(), buf, off, len);
}

/** An IPv6Header to parse into (parseIPv6HeaderInto), all fields zero. */
export function blankIPv6Header(): IPv6Header {
  return {
    dscp: 0,
    ecn: 0,
    flowLabel: 0,
    payloadLength: 0,
    nextHeader: 0,
    hopLimit: 0,
    srcOffset: 0,
    dstOffset: 0,
    payloadOffset: 0,
    presentLength: 0,
    truncated: false,
  };
}

/** parseIPv6Header into `h` (overwritten, returned; undefined as parseIPv6Header): no allocation. */
export function parseIPv6HeaderInto(
  h: IPv6Header,
  buf: Uint8Array,
  off: number,
  len: number,
): IPv6Header | undefined {
  const n = available(buf, off, len);
  if (n < IPV6_HEADER_LEN) return undefined;
  const b0 = buf[off]!;
  if (b0 >>> 4 !== 6) return undefined;
  const b1 = buf[off + 1]!;
  const tc = ((b0 & 0x0f) << 4) | (b1 >>> 4);
  const payloadLength = u16(buf, off + IPV6.PAYLOAD_LENGTH);
  const room = n - IPV6_HEADER_LEN;
  h.dscp = tc >>> 2;
  h.ecn = tc & 3;
  h.flowLabel = ((b1 & 0x0f) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  h.payloadLength = payloadLength;
  h.nextHeader = buf[off + IPV6.NEXT_HEADER]!;
  h.hopLimit = buf[off + IPV6.HOP_LIMIT]!;
  h.srcOffset = off + IPV6.SRC;
  h.dstOffset = off + IPV6.DST;
  h.payloadOffset = off + IPV6_HEADER_LEN;
  h.presentLength = Math.min(payloadLength, room);
  h.truncated = payloadLength > room;
  return h;
}
