// TCP segments as netprobify uses them: it sends SYNs (no options: the smallest header, and nothing
// for a middlebox to rewrite) and, when asked, the RST that closes a half-open connection after a
// SYN-ACK (RFC 9293 §3.10.7.3: a RST answering an ACK carries seq = that ACK's acknowledgment number).
// It parses whatever comes back: SYN-ACK, RST, or anything else, reporting flags and numbers.
// Checksums need the pseudo-header, so writers leave the field zero and packet.ts (or the caller,
// via writeChecksum + pseudoSum4/6) fills it.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-------------------------------+-------------------------------+
//  |          Source Port          |       Destination Port        |
//  +-------------------------------+-------------------------------+
//  |                        Sequence Number                        |
//  +---------------------------------------------------------------+
//  |                    Acknowledgment Number                      |
//  +-------+-------+---------------+-------------------------------+
//  |  Data |       |C E U A P R S F|                               |
//  | Offset| Rsrvd |W C R C S S Y I|            Window             |
//  +-------+-------+---------------+-------------------------------+
//  |           Checksum            |         Urgent Pointer        |
//  +-------------------------------+-------------------------------+
import { available, i32, put16, put32, TCP, TCP_HEADER_LEN, TcpFlag, u16 } from "./layout.js";

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  /** Acknowledgment number; 0 when absent. */
  ack?: number;
  /** TcpFlag bits. */
  flags: number;
  window?: number;
}

/** Default receive window of our SYNs. */
export const SYN_WINDOW = 65535;

/** Writes a 20-byte TCP header (no options, checksum 0) at buf[off]; returns 20. */
export function writeTcpHeader(buf: Uint8Array, off: number, f: TcpFields): number {
  put16(buf, off + TCP.SRC_PORT, f.srcPort);
  put16(buf, off + TCP.DST_PORT, f.dstPort);
  put32(buf, off + TCP.SEQ, f.seq >>> 0);
  put32(buf, off + TCP.ACK, (f.ack ?? 0) >>> 0);
  buf[off + TCP.DATA_OFFSET] = (TCP_HEADER_LEN / 4) << 4;
  buf[off + TCP.FLAGS] = f.flags & 0xff;
  put16(buf, off + TCP.WINDOW, f.window ?? 0);
  put16(buf, off + TCP.CHECKSUM, 0);
  put16(buf, off + TCP.URGENT, 0);
  return TCP_HEADER_LEN;
}

/** Writes a SYN header (no options, checksum 0); returns 20. */
export function writeTcpSyn(
  buf: Uint8Array,
  off: number,
  f: { srcPort: number; dstPort: number; seq: number; window?: number },
): number {
  return writeTcpSynOf(buf, off, f.srcPort, f.dstPort, f.seq, f.window ?? SYN_WINDOW);
}

/** writeTcpSyn with the fields as arguments (no object per packet on the send path). */
export function writeTcpSynOf(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  window: number,
): number {
  put16(buf, off + TCP.SRC_PORT, srcPort);
  put16(buf, off + TCP.DST_PORT, dstPort);
  put32(buf, off + TCP.SEQ, seq | 0);
  put32(buf, off + TCP.ACK, 0);
  buf[off + TCP.DATA_OFFSET] = (TCP_HEADER_LEN / 4) << 4;
  buf[off + TCP.FLAGS] = TcpFlag.SYN;
  put16(buf, off + TCP.WINDOW, window);
  put16(buf, off + TCP.CHECKSUM, 0);
  put16(buf, off + TCP.URGENT, 0);
  return TCP_HEADER_LEN;
}

/** The RST fields that close the half-open connection a received SYN-ACK opened. */
export function rstForSynAck(reply: Pick<TcpSegment, "srcPort" | "dstPort" | "ack">): TcpFields {
  return { srcPort: reply.dstPort, dstPort: reply.srcPort, seq: reply.ack, flags: TcpFlag.RST, window: 0 };
}

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Data offset × 4: 20..60. */
  headerLength: number;
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  payloadOffset: number;
  /** Payload bytes present after the header. */
  payloadLength: number;
}

/**
 * Parses a TCP header at buf[off, off+len): at least 20 bytes, data offset 5..15 with all of the
 * header present. Everything after the header counts as payload. Undefined otherwise; never throws.
 */
export function parseTcp(buf: Uint8Array, off: number, len: number): TcpSegment | undefined {
  return unsignedTcp(parseTcpInto(blankTcpSegment(), buf, off, len));
}

/** A segment parsed by parseTcpInto with its 32-bit fields as unsigned values (parseTcp's form). */
export function unsignedTcp(t: TcpSegment | undefined): TcpSegment | undefined {
  if (t !== undefined) {
    t.seq >>>= 0;
    t.ack >>>= 0;
  }
  return t;
}

/** A TcpSegment to parse into (parseTcpInto), all fields zero. */
export function blankTcpSegment(): TcpSegment {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    headerLength: 0,
    flags: 0,
    window: 0,
    checksum: 0,
    urgent: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
}

/**
 * parseTcp into `t` (overwritten, returned; undefined as parseTcp): no allocation. seq and ack hold
 * their 32 bits as int32 (layout.ts i32; `>>> 0` for the value).
 */
export function parseTcpInto(
  t: TcpSegment,
  buf: Uint8Array,
  off: number,
  len: number,
): TcpSegment | undefined {
  const n = available(buf, off, len);
  if (n < TCP_HEADER_LEN) return undefined;
  const headerLength = (buf[off + TCP.DATA_OFFSET]! >>> 4) * 4;
  if (headerLength < TCP_HEADER_LEN || headerLength > n) return undefined;
  t.srcPort = u16(buf, off + TCP.SRC_PORT);
  t.dstPort = u16(buf, off + TCP.DST_PORT);
  t.seq = i32(buf, off + TCP.SEQ);
  t.ack = i32(buf, off + TCP.ACK);
  t.headerLength = headerLength;
  t.flags = buf[off + TCP.FLAGS]!;
  t.window = u16(buf, off + TCP.WINDOW);
  t.checksum = u16(buf, off + TCP.CHECKSUM);
  t.urgent = u16(buf, off + TCP.URGENT);
  t.payloadOffset = off + headerLength;
  t.payloadLength = n - headerLength;
  return t;
}

/** True when a segment is a SYN-ACK (SYN and ACK set, RST clear): the target port is open. */
export function isSynAck(flags: number): boolean {
  return (flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === (TcpFlag.SYN | TcpFlag.ACK);
}

/** True when a segment is a RST: the target port is closed (still a reply: the path works). */
export function isRst(flags: number): boolean {
  return (flags & TcpFlag.RST) !== 0;
}
