// What distinguishes the three probe types: which packet each sends, where its 32-bit matching key
// travels, and which replies answer it. The engine (src/engine) owns time, sockets and bookkeeping; it
// asks this module only "build probe i with key k" and "which key does this reply carry".
//
// Where the key travels, so that it comes back in the reply or in the quote of an ICMP error while the
// flow (5-tuple, IPv6 flow label) stays identical for a given source port across iterations:
//   TCPsyn          the TCP sequence number: a SYN-ACK or RST acknowledges key + 1; an ICMP error
//                   quotes the SYN's first 8 bytes, which hold it.
//   ICMPping        identifier (high 16 bits) and sequence number (low 16 bits) of the echo.
//   UDPunreachable  the first 4 data bytes (the "tag", when the datagram has room) and, for IPv4, the
//                   IP ID (low 16 bits). Routers that quote only 8 transport bytes (RFC 792) leave the
//                   IPv4 ID to go by; IPv6 errors quote up to 1280 bytes, so the tag comes back.
// IPv4 probes of every type also carry the key's low 16 bits as IP ID (unique among the probes in
// flight to a destination as long as fewer than 65,536 are).

import type { PacketOptions, ParsedPacket, ProbeProtocol, QuotedPacket } from "../packet/index.js";
import {
  IcmpType,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TcpFlag,
} from "../packet/layout.js";
import { PROBE_TYPE, type ProbeKind } from "./types.js";

export const PROTOCOL_OF: Record<ProbeKind, ProbeProtocol> = {
  TCPsyn: PROBE_TYPE.TCPsyn.protocol,
  ICMPping: PROBE_TYPE.ICMPping.protocol,
  UDPunreachable: PROBE_TYPE.UDPunreachable.protocol,
};

/** Fills the per-probe fields of reusable packet options from the matching key. */
export function stampKey(o: PacketOptions, kind: ProbeKind, key: number): void {
  o.id = key & 0xffff;
  o.patternSeed = key;
  switch (kind) {
    case "TCPsyn":
      o.seq = key;
      break;
    case "ICMPping":
      o.icmpId = key >>> 16;
      o.seq = key & 0xffff;
      break;
    case "UDPunreachable":
      o.tag = key;
      break;
  }
}

/** How a reply answers a probe. */
export type ReplyKind = "direct" | "icmp-error";

export interface ReplyKey {
  kind: ProbeKind;
  /** The full 32-bit key, when the reply carries it (from replyKeyInto: its bits as int32, `>>> 0`). */
  key: number | undefined;
  /** Only the low 16 bits (IPv4 IP ID of a UDP probe quoted without its tag). */
  key16: number | undefined;
  how: ReplyKind;
  /** For ICMP errors: type and code. */
  icmpType: number;
  icmpCode: number;
  /** Ports as the reply shows them from the probe's point of view (for checks), 0 for ICMP echo. */
  probeSrcPort: number;
  probeDstPort: number;
  /** For ICMP errors: where the quoted destination address sits in the buffer; -1 for direct replies
   * (whose source address, from the receive metadata, must be the probe's destination). */
  quotedDstOffset: number;
  /** TCP: the reply was a SYN-ACK (we answer it with a RST). */
  synAck: boolean;
  /** For ICMP errors: the TTL / hop limit the quoted probe had where the error was raised; else 0. */
  quotedTtl: number;
}

/** A ReplyKey to fill (replyKeyInto): one object shape for every kind of reply. */
export function blankReplyKey(): ReplyKey {
  return {
    kind: "ICMPping",
    key: undefined,
    key16: undefined,
    how: "direct",
    icmpType: 0,
    icmpCode: 0,
    probeSrcPort: 0,
    probeDstPort: 0,
    quotedDstOffset: -1,
    synAck: false,
    quotedTtl: 0,
  };
}

/** Sets every field of `k` (the one place a key is written); returns it. */
function fill(
  k: ReplyKey,
  kind: ProbeKind,
  key: number | undefined,
  key16: number | undefined,
  how: ReplyKind,
  icmpType: number,
  icmpCode: number,
  probeSrcPort: number,
  probeDstPort: number,
  quotedDstOffset: number,
  synAck: boolean,
  quotedTtl: number,
): ReplyKey {
  k.kind = kind;
  k.key = key;
  k.key16 = key16;
  k.how = how;
  k.icmpType = icmpType;
  k.icmpCode = icmpCode;
  k.probeSrcPort = probeSrcPort;
  k.probeDstPort = probeDstPort;
  k.quotedDstOffset = quotedDstOffset;
  k.synAck = synAck;
  k.quotedTtl = quotedTtl;
  return k;
}

/** A ReplyKey for an ICMP error quoting `q`. */
function quoteKey(
  k: ReplyKey,
  q: QuotedPacket,
  type: number,
  code: number,
  kind: ProbeKind,
  key: number | undefined,
  key16: number | undefined,
  probeSrcPort: number,
  probeDstPort: number,
): ReplyKey {
  return fill(
    k,
    kind,
    key,
    key16,
    "icmp-error",
    type,
    code,
    probeSrcPort,
    probeDstPort,
    q.dstOffset,
    false,
    q.ttl,
  );
}

/** Reads the probe key from a quoted packet. */
function fromQuote(k: ReplyKey, q: QuotedPacket, type: number, code: number): ReplyKey | undefined {
  if (q.protocol === IPPROTO_TCP && q.tcpSeq !== undefined) {
    return quoteKey(k, q, type, code, "TCPsyn", q.tcpSeq | 0, undefined, q.srcPort!, q.dstPort!);
  }
  if (q.protocol === IPPROTO_UDP) {
    const key16 = q.family === 4 ? q.ipId : undefined;
    if (q.tag === undefined && key16 === undefined) return undefined;
    const tag = q.tag === undefined ? undefined : q.tag | 0;
    return quoteKey(k, q, type, code, "UDPunreachable", tag, key16, q.srcPort!, q.dstPort!);
  }
  if (
    (q.protocol === IPPROTO_ICMP || q.protocol === IPPROTO_ICMPV6) &&
    q.icmpId !== undefined &&
    q.icmpSeq !== undefined
  ) {
    const echoRequest = q.family === 4 ? IcmpType.ECHO_REQUEST : 128;
    if (q.icmpType !== echoRequest) return undefined;
    return quoteKey(k, q, type, code, "ICMPping", (q.icmpId << 16) | q.icmpSeq, undefined, 0, 0);
  }
  return undefined;
}

/**
 * The probe key a received packet carries, or undefined when the packet answers none of our probe
 * types (the caller counts it as foreign).
 */
export function replyKey(p: ParsedPacket): ReplyKey | undefined {
  const k = replyKeyInto(blankReplyKey(), p);
  if (k?.key !== undefined) k.key >>>= 0;
  return k;
}

/**
 * replyKey into `k` (overwritten and returned; undefined as replyKey): no allocation. The key is kept
 * as int32 bits (a value ≥ 2^31 in an object field is a new heap number per store); consumers compare
 * keys modulo 2^32 (InFlight.indexOf), so either form locates the same probe. `p` may come from either
 * kind of parser.
 */
export function replyKeyInto(k: ReplyKey, p: ParsedPacket): ReplyKey | undefined {
  if (p.tcp) {
    const f = p.tcp.flags;
    const synAck = (f & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK);
    const rst = (f & TcpFlag.RST) !== 0;
    if (!synAck && !rst) return undefined;
    if (rst && (f & TcpFlag.ACK) === 0) return undefined; // a RST without ACK acknowledges nothing
    const key = (p.tcp.ack - 1) | 0;
    return fill(k, "TCPsyn", key, undefined, "direct", 0, 0, p.tcp.dstPort, p.tcp.srcPort, -1, synAck, 0);
  }
  if (p.icmp) {
    if (p.icmp.kind === "echo") {
      if (!p.icmp.reply) return undefined;
      const key = (p.icmp.id << 16) | p.icmp.seq;
      return fill(k, "ICMPping", key, undefined, "direct", p.icmp.type, p.icmp.code, 0, 0, -1, false, 0);
    }
    return fromQuote(k, p.icmp.quoted, p.icmp.type, p.icmp.code);
  }
  return undefined;
}
