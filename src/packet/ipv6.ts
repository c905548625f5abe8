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
  const tc = (((h.dscp ?? 0) & 0x3f) << 2) | ((h.ecn ?? 0) & 3);
  const fl = (h.flowLabel ?? 0) & 0xfffff;
  buf[off] = 0x60 | (tc >>> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  buf[off + 2] = (fl >>> 8) & 0xff;
  buf[off + 3] = fl & 0xff;
  put16(buf, off + IPV6.PAYLOAD_LENGTH, h.payloadLength);
  buf[off + IPV6.NEXT_HEADER] = h.nextHeader & 0xff;
  buf[off + IPV6.HOP_LIMIT] = h.hopLimit & 0xff;
  const s = h.src;
  const d = h.dst;
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
  const n = available(buf, off, len);
  if (n < IPV6_HEADER_LEN) return undefined;
  const b0 = buf[off]!;
  if (b0 >>> 4 !== 6) return undefined;
  const b1 = buf[off + 1]!;
  const tc = ((b0 & 0x0f) << 4) | (b1 >>> 4);
  const payloadLength = u16(buf, off + IPV6.PAYLOAD_LENGTH);
  const room = n - IPV6_HEADER_LEN;
  return {
    dscp: tc >>> 2,
    ecn: tc & 3,
    flowLabel: ((b1 & 0x0f) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!,
    payloadLength,
    nextHeader: buf[off + IPV6.NEXT_HEADER]!,
    hopLimit: buf[off + IPV6.HOP_LIMIT]!,
    srcOffset: off + IPV6.SRC,
    dstOffset: off + IPV6.DST,
    payloadOffset: off + IPV6_HEADER_LEN,
    presentLength: Math.min(payloadLength, room),
    truncated: payloadLength > room,
  };
}
