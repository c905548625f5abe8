// The filter for netprobify's raw TCP receive sockets: only replies to our SYN probes pass, i.e.
// segments sent to one of our source ports that are a SYN-ACK (port open) or a RST (port closed).
// Everything else a raw IPPROTO_TCP socket would otherwise copy to us — every TCP segment the host
// receives — is dropped in the kernel, before it costs a wake-up, a copy and a JavaScript callback.
//
// On an IPv4 raw socket the program sees the IP header first (its length varies with options, hence
// `ldx 4*([0]&0xf)` and X-relative loads); on an IPv6 raw socket it sees the TCP header first.
// Optionally the acknowledgement number is checked too: a reply to a SYN with sequence number s
// acknowledges s + 1, so ack - 1 must lie in the window of sequence numbers we sent.

import { Code } from "../errors.js";
import {
  type AsmItem,
  alu,
  assemble,
  type BpfProgram,
  jeq,
  label,
  ldb,
  ldbx,
  ldh,
  ldhx,
  ldw,
  ldwx,
  ldxmsh,
  ret,
} from "./asm.js";
import { BpfError } from "./errors.js";
import {
  ACCEPT,
  ackInWindow,
  checkRange,
  checkWindow,
  DROP,
  inRanges,
  Labels,
  type SeqWindow,
  type U16Range,
} from "./match.js";
import { BPF_AND } from "./opcodes.js";

/** TCP flag bits of byte 13. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;
/** The flags that decide what a segment is; PSH, URG, ECE and CWR are ignored. */
export const TCP_FLAG_MASK = TCP_FIN | TCP_SYN | TCP_RST | TCP_ACK;

export interface TcpReplyFilterOptions {
  /** 4: program for an AF_INET raw socket (IP header first); 6: AF_INET6 (TCP header first). */
  family: 4 | 6;
  /** Our probes' source ports, i.e. the replies' destination ports, inclusive. */
  ports: U16Range;
  /** Which replies pass; each defaults to true. Flags are compared under TCP_FLAG_MASK. */
  accept?: {
    /** SYN|ACK: the port is open. */
    synAck?: boolean;
    /** RST|ACK: the port is closed (what Linux and most stacks send in answer to a SYN). */
    rstAck?: boolean;
    /** RST without ACK: carries no acknowledgement number, so the ack window does not apply. */
    rst?: boolean;
  };
  /**
   * Sequence numbers our SYNs used, inclusive; lo > hi wraps through 2^32. When set, SYN-ACKs and
   * RST-ACKs pass only if ack - 1 (mod 2^32) is in the window.
   */
  ackWindow?: SeqWindow;
}

/** Offsets inside the TCP header. */
const DST_PORT = 2;
const ACK = 8;
const FLAGS = 13;
const IPV4_PROTOCOL = 9;
const IPPROTO_TCP = 6;

/** Builds the filter; throws BpfError NPF_BPF_PARAM on invalid options. */
export function tcpReplyFilter(opts: TcpReplyFilterOptions): BpfProgram {
  if (opts.family !== 4 && opts.family !== 6) {
    throw new BpfError(Code.NPF_BPF_PARAM, `family must be 4 or 6, got ${String(opts.family)}`);
  }
  const ports = checkRange("ports", opts.ports);
  const synAck = opts.accept?.synAck ?? true;
  const rstAck = opts.accept?.rstAck ?? true;
  const rst = opts.accept?.rst ?? true;
  if (!synAck && !rstAck && !rst)
    throw new BpfError(Code.NPF_BPF_PARAM, "accept: every reply kind is disabled");
  const window = opts.ackWindow === undefined ? undefined : checkWindow("ackWindow", opts.ackWindow);

  const v4 = opts.family === 4;
  // X holds the IPv4 header length on IPv4; on IPv6 the TCP header is at 0 and absolute loads do.
  const b = (off: number, note: string) => (v4 ? ldbx(off, note) : ldb(off, note));
  const h = (off: number, note: string) => (v4 ? ldhx(off, note) : ldh(off, note));
  const w = (off: number, note: string) => (v4 ? ldwx(off, note) : ldw(off, note));

  const labels = new Labels();
  const p: AsmItem[] = [];
  if (v4) {
    p.push(ldb(IPV4_PROTOCOL, "IPv4 protocol"));
    p.push(jeq(IPPROTO_TCP, undefined, "drop", "TCP?"));
    p.push(ldxmsh(0, "X = IPv4 header length (options included)"));
  }
  p.push(h(DST_PORT, "TCP destination port = our source port"));
  p.push(...inRanges(labels, [ports], "flags", "drop", "port"));
  p.push(label("flags"));
  p.push(b(FLAGS, "TCP flags"));
  p.push(alu(BPF_AND, TCP_FLAG_MASK, "keep FIN SYN RST ACK"));
  const acked = window === undefined ? "accept" : "ack";
  if (synAck) p.push(jeq(TCP_SYN | TCP_ACK, acked, undefined, "SYN|ACK (0x12)?"));
  if (rstAck) p.push(jeq(TCP_RST | TCP_ACK, acked, undefined, "RST|ACK (0x14)?"));
  if (rst) p.push(jeq(TCP_RST, "accept", undefined, "RST (0x04)?"));
  p.push(ret(DROP, "any other flags"));
  if (window !== undefined && (synAck || rstAck)) {
    p.push(label("ack"));
    p.push(w(ACK, "acknowledgement number"));
    p.push(...ackInWindow(window, "accept", "drop"));
  }
  p.push(label("accept"), ret(ACCEPT, "a reply to one of our probes"));
  p.push(label("drop"), ret(DROP, "not ours"));
  return assemble(p);
}
