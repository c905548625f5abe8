// UDP datagrams (RFC 768). netprobify sends UDP to closed ports and reads the ICMP port-unreachable
// that comes back, so the datagram's data starts with a 32-bit tag (the probe's matching key) that
// the quoted copy inside the ICMP error carries back when the router quotes enough bytes (Linux
// quotes up to 576 bytes for IPv4 and 1280 for IPv6). The checksum needs the pseudo-header: writers
// leave it zero and packet.ts fills it (0 on the wire means "none", so a computed 0 is sent as 0xffff).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-------------------------------+-------------------------------+
//  |          Source Port          |       Destination Port        |
//  +-------------------------------+-------------------------------+
//  |            Length             |           Checksum            |
//  +-------------------------------+-------------------------------+
//  |               Tag (when Length >= 12) | pattern bytes ...     |
//  +---------------------------------------------------------------+
import { available, put16, UDP, UDP_HEADER_LEN, u16 } from "./layout.js";

export interface UdpFields {
  srcPort: number;
  dstPort: number;
  /** Header + data, bytes. */
  length: number;
}

/** Writes the 8-byte UDP header (checksum 0) at buf[off]; returns 8. */
export function writeUdpHeader(buf: Uint8Array, off: number, f: UdpFields): number {
  return writeUdpHeaderOf(buf, off, f.srcPort, f.dstPort, f.length);
}

/** writeUdpHeader with the fields as arguments (no object per packet on the send path). */
export function writeUdpHeaderOf(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  length: number,
): number {
  put16(buf, off + UDP.SRC_PORT, srcPort);
  put16(buf, off + UDP.DST_PORT, dstPort);
  put16(buf, off + UDP.LENGTH, length);
  put16(buf, off + UDP.CHECKSUM, 0);
  return UDP_HEADER_LEN;
}

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /** The Length field as sent. */
  length: number;
  checksum: number;
  payloadOffset: number;
  /** Data bytes present (bounded by both Length and the bytes handed in). */
  payloadLength: number;
  /** Length claims more bytes than were handed in. */
  truncated: boolean;
}

/**
 * Parses a UDP header at buf[off, off+len): 8 bytes present, Length ≥ 8. Bytes beyond Length are
 * ignored; fewer set `truncated`. Undefined otherwise; never throws.
 */
export function parseUdp(buf: Uint8Array, off: number, len: number): UdpDatagram | undefined {
  return parseUdpInto(blankUdpDatagram(), buf, off, len);
}

/** A UdpDatagram to parse into (parseUdpInto), all fields zero. */
export function blankUdpDatagram(): UdpDatagram {
  return {
    srcPort: 0,
    dstPort: 0,
    length: 0,
    checksum: 0,
    payloadOffset: 0,
    payloadLength: 0,
    truncated: false,
  };
}

/** parseUdp into `d` (overwritten, returned; undefined as parseUdp): no allocation. */
export function parseUdpInto(
  d: UdpDatagram,
  buf: Uint8Array,
  off: number,
  len: number,
): UdpDatagram | undefined {
  const n = available(buf, off, len);
  if (n < UDP_HEADER_LEN) return undefined;
  const length = u16(buf, off + UDP.LENGTH);
  if (length < UDP_HEADER_LEN) return undefined;
  const end = Math.min(length, n);
  d.srcPort = u16(buf, off + UDP.SRC_PORT);
  d.dstPort = u16(buf, off + UDP.DST_PORT);
  d.length = length;
  d.checksum = u16(buf, off + UDP.CHECKSUM);
  d.payloadOffset = off + UDP_HEADER_LEN;
  d.payloadLength = end - UDP_HEADER_LEN;
  d.truncated = length > n;
  return d;
}
