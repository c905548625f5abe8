// The filters for netprobify's raw ICMP and ICMPv6 receive sockets. They pass echo replies to our
// ICMP probes (identifier in our set) and the errors our probes provoke — destination unreachable
// (a UDP probe to a closed port, a filtered TCP port) and time exceeded — but only when the packet
// the error quotes is one of ours: a TCP or UDP probe from one of our source ports, or an echo
// request with one of our identifiers. Every other ICMP message the host receives stays in the kernel.
//
// Layout seen by the program: on AF_INET raw sockets the IPv4 header comes first (variable length:
// `ldx 4*([0]&0xf)`, then X-relative loads); on AF_INET6 raw sockets the ICMPv6 header is at 0.
//
// What "our quoted packet" means, deliberately strict because our probes are simple:
// - IPv4: the quoted header is exactly 0x45 (version 4, no options: our probes never carry any) and
//   is not a non-first fragment (no transport header there), so the quoted transport header is at
//   quote + 20.
// - IPv6: the quoted header is version 6 and its next header is directly TCP, UDP or ICMPv6 at
//   quote + 40. Our probes carry no extension headers, so a quote with one is not ours: dropped.
// The quote must reach the fields read (source port: 2 bytes; echo id: 6 bytes); a shorter quote is
// dropped, as a load beyond the end of the packet ends the program with 0.

import { Code } from "../errors.js";
import {
  type AsmItem,
  alu,
  assemble,
  type BpfProgram,
  jeq,
  jset,
  label,
  ldb,
  ldbx,
  ldh,
  ldhx,
  ldxmsh,
  ret,
} from "./asm.js";
import { BpfError } from "./errors.js";
import {
  ACCEPT,
  checkRange,
  DROP,
  type IdSet,
  inRanges,
  Labels,
  normalizeSet,
  type U16Range,
} from "./match.js";
import { BPF_AND } from "./opcodes.js";

export interface IcmpFilterOptions {
  /** Pass echo replies whose identifier is in this set. Omitted: echo replies are dropped. */
  echoReplyIds?: IdSet;
  /** Pass destination unreachable errors (ICMP 3, ICMPv6 1) quoting our packets. Default true. */
  unreachable?: boolean;
  /** Pass time exceeded errors (ICMP 11, ICMPv6 3) quoting our packets. Default true. */
  timeExceeded?: boolean;
  /** Errors quoting a TCP or UDP packet pass when its source port is in this range. */
  quotedPorts?: U16Range;
  /** Which quoted transports `quotedPorts` applies to. Default both. */
  quotedProtocols?: readonly ("tcp" | "udp")[];
  /** Errors quoting an echo request pass when its identifier is in this set. */
  quotedEchoIds?: IdSet;
}

interface Layout {
  family: 4 | 6;
  echoReply: number;
  echoRequest: number;
  unreachable: number;
  timeExceeded: number;
  /** Protocol number of an echo request inside the quote (1 or 58). */
  echoProto: number;
  /** Offset of the quoted transport header from the start of the ICMP header. */
  quotedTransport: number;
}

const V4: Layout = {
  family: 4,
  echoReply: 0,
  echoRequest: 8,
  unreachable: 3,
  timeExceeded: 11,
  echoProto: 1,
  quotedTransport: 8 + 20,
};
const V6: Layout = {
  family: 6,
  echoReply: 129,
  echoRequest: 128,
  unreachable: 1,
  timeExceeded: 3,
  echoProto: 58,
  quotedTransport: 8 + 40,
};

const QUOTE = 8;
const ECHO_ID = 4;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** Filter for an AF_INET / IPPROTO_ICMP raw socket (IPv4 header first). */
export function icmpFilter(opts: IcmpFilterOptions): BpfProgram {
  return build(V4, opts);
}

/** Filter for an AF_INET6 / IPPROTO_ICMPV6 raw socket (ICMPv6 header first). */
export function icmpv6Filter(opts: IcmpFilterOptions): BpfProgram {
  return build(V6, opts);
}

function bad(message: string): never {
  throw new BpfError(Code.NPF_BPF_PARAM, message);
}

function build(l: Layout, opts: IcmpFilterOptions): BpfProgram {
  const echoIds =
    opts.echoReplyIds === undefined ? undefined : normalizeSet("echoReplyIds", opts.echoReplyIds);
  const ports = opts.quotedPorts === undefined ? undefined : checkRange("quotedPorts", opts.quotedPorts);
  const protos = opts.quotedProtocols ?? ["tcp", "udp"];
  if (!Array.isArray(protos) || protos.some((p) => p !== "tcp" && p !== "udp")) {
    bad(`quotedProtocols must list "tcp" and/or "udp", got ${JSON.stringify(protos)}`);
  }
  if (ports !== undefined && protos.length === 0) bad("quotedPorts is set but quotedProtocols is empty");
  const quotedIds =
    opts.quotedEchoIds === undefined ? undefined : normalizeSet("quotedEchoIds", opts.quotedEchoIds);
  const quotes = ports !== undefined || quotedIds !== undefined;
  if (!quotes && (opts.unreachable === true || opts.timeExceeded === true)) {
    bad("unreachable/timeExceeded need quotedPorts or quotedEchoIds to recognise our packets");
  }
  const unreachable = quotes && (opts.unreachable ?? true);
  const timeExceeded = quotes && (opts.timeExceeded ?? true);
  if (echoIds === undefined && !unreachable && !timeExceeded) bad("the filter would accept nothing");

  const v4 = l.family === 4;
  const b = (off: number, note: string) => (v4 ? ldbx(off, note) : ldb(off, note));
  const h = (off: number, note: string) => (v4 ? ldhx(off, note) : ldh(off, note));
  const labels = new Labels();
  const p: AsmItem[] = [];
  // Every block ends with its own accept/drop returns, so no jump crosses another block: with the
  // largest id sets (MAX_RANGES ranges each) every offset still fits in 8 bits.
  const verdict = (ok: string, no: string): AsmItem[] => [
    label(ok),
    ret(ACCEPT, "ours"),
    label(no),
    ret(DROP, "not ours"),
  ];
  if (v4) {
    p.push(ldb(9, "IPv4 protocol"), jeq(1, undefined, "other", "ICMP?"));
    p.push(ldxmsh(0, "X = IPv4 header length (options included)"));
  }
  p.push(b(0, "ICMP type"));
  if (echoIds !== undefined) p.push(jeq(l.echoReply, "echo", undefined, "echo reply?"));
  if (unreachable) p.push(jeq(l.unreachable, "error", undefined, "destination unreachable?"));
  if (timeExceeded) p.push(jeq(l.timeExceeded, "error", undefined, "time exceeded?"));
  p.push(label("other"), ret(DROP, "another type"));

  if (echoIds !== undefined) {
    p.push(label("echo"), h(ECHO_ID, "echo identifier"));
    p.push(...inRanges(labels, echoIds, "echo_ok", "echo_no", "id"), ...verdict("echo_ok", "echo_no"));
  }
  if (unreachable || timeExceeded) {
    p.push(label("error"));
    if (v4) {
      p.push(
        b(QUOTE, "quoted version and IHL"),
        jeq(0x45, undefined, "qother", "0x45: IPv4 without options?"),
      );
      p.push(h(QUOTE + 6, "quoted flags and fragment offset"));
      p.push(jset(0x1fff, "qother", undefined, "a later fragment: no transport header"));
      p.push(b(QUOTE + 9, "quoted protocol"));
    } else {
      p.push(b(QUOTE, "quoted version and traffic class"), alu(BPF_AND, 0xf0, "version"));
      p.push(jeq(0x60, undefined, "qother", "0x60: IPv6?"));
      p.push(b(QUOTE + 6, "quoted next header"));
    }
    if (ports !== undefined) {
      if (protos.includes("tcp")) p.push(jeq(IPPROTO_TCP, "qport", undefined, "TCP?"));
      if (protos.includes("udp")) p.push(jeq(IPPROTO_UDP, "qport", undefined, "UDP?"));
    }
    if (quotedIds !== undefined) p.push(jeq(l.echoProto, "qecho", undefined, v4 ? "ICMP?" : "ICMPv6?"));
    p.push(label("qother"), ret(DROP, "not a quote of ours"));
    if (ports !== undefined) {
      p.push(label("qport"), h(l.quotedTransport, "quoted source port"));
      p.push(
        ...inRanges(labels, [ports], "qport_ok", "qport_no", "port"),
        ...verdict("qport_ok", "qport_no"),
      );
    }
    if (quotedIds !== undefined) {
      p.push(label("qecho"), b(l.quotedTransport, "quoted ICMP type"));
      p.push(jeq(l.echoRequest, undefined, "qecho_no", "echo request?"));
      p.push(h(l.quotedTransport + ECHO_ID, "quoted echo identifier"));
      p.push(
        ...inRanges(labels, quotedIds, "qecho_ok", "qecho_no", "id"),
        ...verdict("qecho_ok", "qecho_no"),
      );
    }
  }
  return assemble(p);
}
