// ICMP (RFC 792) and ICMPv6 (RFC 4443) messages netprobify sends or must understand: echo request
// and reply (the ICMP probe), destination unreachable (a UDP probe's answer: port unreachable; or a
// TCP/ICMP probe refused on the way) and time exceeded (a probe that died in a loop or on a low TTL),
// both carrying a copy of our probe. Both families share one header layout; they differ in type
// numbers, in the quoted packet's family, and in the checksum (ICMPv6 covers a pseudo-header; that is
// packet.ts's job: writers here leave the field zero).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +---------------+---------------+-------------------------------+
//  |     Type      |     Code      |           Checksum            |
//  +---------------+---------------+-------------------------------+
//  |  echo: Identifier             |  echo: Sequence Number        |
//  |  errors: unused (or next-hop MTU for "fragmentation needed")  |
//  +---------------------------------------------------------------+
//  |  echo: data ...   errors: the quoted packet (IP header + ≥ 8 bytes of its payload) ...
import { available, ICMP, ICMP_HEADER_LEN, Icmp6Type, IcmpType, i32, put16, put32, u16 } from "./layout.js";
import {
  blankQuotedPacket,
  parseQuotedIPv4Into,
  parseQuotedIPv6Into,
  type QuotedPacket,
  unsignedQuoted,
} from "./quoted.js";

/** Writes an echo header (checksum 0); `type` is IcmpType.ECHO_* or Icmp6Type.ECHO_*. Returns 8. */
export function writeIcmpEcho(buf: Uint8Array, off: number, type: number, id: number, seq: number): number {
  buf[off + ICMP.TYPE] = type;
  buf[off + ICMP.CODE] = 0;
  put16(buf, off + ICMP.CHECKSUM, 0);
  put16(buf, off + ICMP.ID, id);
  put16(buf, off + ICMP.SEQ, seq);
  return ICMP_HEADER_LEN;
}

/**
 * Writes an error header (checksum 0) whose 32-bit "rest of header" is `rest` (0, or the next-hop
 * MTU for IPv4 code 4 / ICMPv6 packet too big). The quoted packet goes at buf[off + 8]. Returns 8.
 */
export function writeIcmpErrorHeader(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  rest = 0,
): number {
  buf[off + ICMP.TYPE] = type;
  buf[off + ICMP.CODE] = code;
  put16(buf, off + ICMP.CHECKSUM, 0);
  put32(buf, off + ICMP.ID, rest);
  return ICMP_HEADER_LEN;
}

export interface IcmpEcho {
  kind: "echo";
  /** True for an echo reply (ICMP 0 / ICMPv6 129), false for a request. */
  reply: boolean;
  type: number;
  code: number;
  checksum: number;
  id: number;
  seq: number;
  payloadOffset: number;
  payloadLength: number;
}

export interface IcmpError {
  kind: "error";
  /** Destination unreachable or time exceeded (per family numbers). */
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4..7 of the header (unused, or an MTU). */
  rest: number;
  quoted: QuotedPacket;
}

export type IcmpMessage = IcmpEcho | IcmpError;

/** What parseIcmpInto / parseIcmp6Into parse into: an echo and an error (with its quote), reused. */
export interface IcmpScratch {
  readonly echo: IcmpEcho;
  readonly error: IcmpError;
}

export function blankIcmp(): IcmpScratch {
  return {
    echo: {
      kind: "echo",
      reply: false,
      type: 0,
      code: 0,
      checksum: 0,
      id: 0,
      seq: 0,
      payloadOffset: 0,
      payloadLength: 0,
    },
    error: { kind: "error", type: 0, code: 0, checksum: 0, rest: 0, quoted: blankQuotedPacket() },
  };
}

function echo(e: IcmpEcho, buf: Uint8Array, off: number, n: number, type: number, reply: boolean): IcmpEcho {
  e.reply = reply;
  e.type = type;
  e.code = buf[off + ICMP.CODE]!;
  e.checksum = u16(buf, off + ICMP.CHECKSUM);
  e.id = u16(buf, off + ICMP.ID);
  e.seq = u16(buf, off + ICMP.SEQ);
  e.payloadOffset = off + ICMP_HEADER_LEN;
  e.payloadLength = n - ICMP_HEADER_LEN;
  return e;
}

function error(
  e: IcmpError,
  buf: Uint8Array,
  off: number,
  type: number,
  quoted: QuotedPacket | undefined,
): IcmpError | undefined {
  if (quoted === undefined) return undefined;
  e.type = type;
  e.code = buf[off + ICMP.CODE]!;
  e.checksum = u16(buf, off + ICMP.CHECKSUM);
  e.rest = i32(buf, off + ICMP.ID);
  return e;
}

/**
 * Parses an ICMP message at buf[off, off+len) (after the IPv4 header). Accepts echo request/reply
 * (≥ 8 bytes) and destination unreachable / time exceeded whose quote parses (parseQuotedIPv4).
 * Other types, and errors with an unreadable quote, give undefined; never throws.
 */
export function parseIcmp(buf: Uint8Array, off: number, len: number): IcmpMessage | undefined {
  return unsignedIcmp(parseIcmpInto(blankIcmp(), buf, off, len));
}

/** A message parsed by parseIcmpInto / 6Into with its 32-bit fields unsigned (parseIcmp's form). */
export function unsignedIcmp(m: IcmpMessage | undefined): IcmpMessage | undefined {
  if (m?.kind === "error") {
    m.rest >>>= 0;
    unsignedQuoted(m.quoted);
  }
  return m;
}

/**
 * parseIcmp into `s` (its echo or its error, overwritten and returned): no allocation. 32-bit fields
 * (rest, the quote's tcpSeq and tag) hold their bits as int32 (layout.ts i32).
 */
export function parseIcmpInto(
  s: IcmpScratch,
  buf: Uint8Array,
  off: number,
  len: number,
): IcmpMessage | undefined {
  const n = available(buf, off, len);
  if (n < ICMP_HEADER_LEN) return undefined;
  const type = buf[off]!;
  switch (type) {
    case IcmpType.ECHO_REPLY:
    case IcmpType.ECHO_REQUEST:
      return echo(s.echo, buf, off, n, type, type === IcmpType.ECHO_REPLY);
    case IcmpType.DEST_UNREACHABLE:
    case IcmpType.TIME_EXCEEDED:
      return error(
        s.error,
        buf,
        off,
        type,
        parseQuotedIPv4Into(s.error.quoted, buf, off + ICMP.QUOTE, n - ICMP_HEADER_LEN),
      );
    default:
      return undefined;
  }
}

/**
 * Parses an ICMPv6 message at buf[off, off+len) (after the IPv6 header, i.e. what an IPv6 raw socket
 * delivers). Accepts echo request/reply (128/129) and destination unreachable (1) / time exceeded
 * (3) whose quote parses (parseQuotedIPv6). Undefined otherwise; never throws.
 */
export function parseIcmp6(buf: Uint8Array, off: number, len: number): IcmpMessage | undefined {
  return unsignedIcmp(parseIcmp6Into(blankIcmp(), buf, off, len));
}

/** parseIcmp6 into `s` (its echo or its error, overwritten and returned): no allocation. */
export function parseIcmp6Into(
  s: IcmpScratch,
  buf: Uint8Array,
  off: number,
  len: number,
): IcmpMessage | undefined {
  const n = available(buf, off, len);
  if (n < ICMP_HEADER_LEN) return undefined;
  const type = buf[off]!;
  switch (type) {
    case Icmp6Type.ECHO_REPLY:
    case Icmp6Type.ECHO_REQUEST:
      return echo(s.echo, buf, off, n, type, type === Icmp6Type.ECHO_REPLY);
    case Icmp6Type.DEST_UNREACHABLE:
    case Icmp6Type.TIME_EXCEEDED:
      return error(
        s.error,
        buf,
        off,
        type,
        parseQuotedIPv6Into(s.error.quoted, buf, off + ICMP.QUOTE, n - ICMP_HEADER_LEN),
      );
    default:
      return undefined;
  }
}
