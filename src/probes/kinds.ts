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
  /** The full 32-bit key, when the reply carries it. */
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

/**
 * A ReplyKey for an ICMP error. One object literal with every field in the order of the direct replies'
 * (below), so the engine's receive path sees one object shape; an object spread here cost ~3 µs per
 * ICMP error (profiled: a third of the CPU of a UDPunreachable iteration).
 */
function quoteKey(
  q: QuotedPacket,
  type: number,
  code: number,
  kind: ProbeKind,
  key: number | undefined,
  key16: number | undefined,
  probeSrcPort: number,
  probeDstPort: number,
): ReplyKey {
  return {
    kind,
    key,
    key16,
    how: "icmp-error",
    icmpType: type,
    icmpCode: code,
    probeSrcPort,
    probeDstPort,
    quotedDstOffset: q.dstOffset,
    synAck: false,
    quotedTtl: q.ttl,
  };
}

/** Reads the probe key from a quoted packet. */
function fromQuote(q: QuotedPacket, type: number, code: number): ReplyKey | undefined {
  if (q.protocol === IPPROTO_TCP && q.tcpSeq !== undefined) {
    return quoteKey(q, type, code, "TCPsyn", q.tcpSeq, undefined, q.srcPort!, q.dstPort!);
  }
  if (q.protocol === IPPROTO_UDP) {
    const key16 = q.family === 4 ? q.ipId : undefined;
    if (q.tag === undefined && key16 === undefined) return undefined;
    return quoteKey(q, type, code, "UDPunreachable", q.tag, key16, q.srcPort!, q.dstPort!);
  }
  if (
    (q.protocol === IPPROTO_ICMP || q.protocol === IPPROTO_ICMPV6) &&
    q.icmpId !== undefined &&
    q.icmpSeq !== undefined
  ) {
    const echoRequest = q.family === 4 ? IcmpType.ECHO_REQUEST : 128;
    if (q.icmpType !== echoRequest) return undefined;
    return quoteKey(q, type, code, "ICMPping", ((q.icmpId << 16) | q.icmpSeq) >>> 0, undefined, 0, 0);
  }
  return undefined;
}

/**
 * The probe key a received packet carries, or undefined when the packet answers none of our probe
 * types (the caller counts it as foreign).
 */
export function replyKey(p: ParsedPacket): ReplyKey | undefined {
  if (p.tcp) {
    const f = p.tcp.flags;
    const synAck = (f & (TcpFlag.SYN | TcpFlag.ACK)) === (TcpFlag.SYN | TcpFlag.ACK);
    const rst = (f & TcpFlag.RST) !== 0;
    if (!synAck && !rst) return undefined;
    if (rst && (f & TcpFlag.ACK) === 0) return undefined; // a RST without ACK acknowledges nothing
    return {
      kind: "TCPsyn",
      key: (p.tcp.ack - 1) >>> 0,
      key16: undefined,
      how: "direct",
      icmpType: 0,
      icmpCode: 0,
      probeSrcPort: p.tcp.dstPort,
      probeDstPort: p.tcp.srcPort,
      quotedDstOffset: -1,
      synAck,
      quotedTtl: 0,
    };
  }
  if (p.icmp) {
    if (p.icmp.kind === "echo") {
      if (!p.icmp.reply) return undefined;
      return {
        kind: "ICMPping",
        key: ((p.icmp.id << 16) | p.icmp.seq) >>> 0,
        key16: undefined,
        how: "direct",
        icmpType: p.icmp.type,
        icmpCode: p.icmp.code,
        probeSrcPort: 0,
        probeDstPort: 0,
        quotedDstOffset: -1,
        synAck: false,
        quotedTtl: 0,
      };
    }
    return fromQuote(p.icmp.quoted, p.icmp.type, p.icmp.code);
  }
  return undefined;
}
