// What each filter is meant to accept, written as plain TypeScript over bytes, independently of the
// BPF code: no shared offsets table, the ack window as a case split instead of one subtraction, set
// membership tested on the caller's list instead of merged ranges. The property test checks that the
// interpreter's verdict on random packets always equals these predicates.
//
// A filter that reads a field beyond the end of the packet drops it, so every predicate requires the
// bytes it inspects to be present; whichever failing condition a program hits first, the verdict is
// the same drop, so the order of the checks here does not matter.

import type { IcmpFilterOptions } from "../../src/bpf/icmp.js";
import type { IdSet } from "../../src/bpf/match.js";
import type { TcpReplyFilterOptions } from "../../src/bpf/tcp.js";

const be16 = (p: Uint8Array, o: number): number => p[o]! * 256 + p[o + 1]!;
const be32 = (p: Uint8Array, o: number): number => be16(p, o) * 65536 + be16(p, o + 2);

function inSet(set: IdSet, v: number): boolean {
  return set.some((e) => (typeof e === "number" ? e === v : e.lo <= v && v <= e.hi));
}

/** `v` lies in lo..hi going upwards modulo 2^32. */
function inWindow(lo: number, hi: number, v: number): boolean {
  return lo <= hi ? lo <= v && v <= hi : v >= lo || v <= hi;
}

export function tcpReplyExpected(opts: TcpReplyFilterOptions, p: Uint8Array): boolean {
  let t = 0;
  if (opts.family === 4) {
    if (p.length < 10 || p[9] !== 6) return false;
    t = (p[0]! % 16) * 4;
  }
  if (p.length < t + 14) return false;
  const port = be16(p, t + 2);
  if (port < opts.ports.lo || port > opts.ports.hi) return false;
  const f = p[t + 13]!;
  const syn = (f & 0x02) !== 0;
  const rst = (f & 0x04) !== 0;
  const ack = (f & 0x10) !== 0;
  const fin = (f & 0x01) !== 0;
  if (fin || syn === rst) return false;
  const kind = syn ? (ack ? "synAck" : "syn") : ack ? "rstAck" : "rst";
  if (kind === "syn") return false;
  if (opts.accept?.[kind] === false) return false;
  if (kind === "rst" || opts.ackWindow === undefined) return true;
  return inWindow(opts.ackWindow.lo, opts.ackWindow.hi, (be32(p, t + 8) + 0xffffffff) % 2 ** 32);
}

function icmpExpected(v6: boolean, opts: IcmpFilterOptions, p: Uint8Array): boolean {
  let m = 0;
  if (!v6) {
    if (p.length < 10 || p[9] !== 1) return false;
    m = (p[0]! & 15) << 2;
  }
  if (p.length < m + 1) return false;
  const type = p[m]!;
  if (type === (v6 ? 129 : 0)) {
    return opts.echoReplyIds !== undefined && p.length >= m + 6 && inSet(opts.echoReplyIds, be16(p, m + 4));
  }
  const quotes = opts.quotedPorts !== undefined || opts.quotedEchoIds !== undefined;
  const unreach = quotes && opts.unreachable !== false && type === (v6 ? 1 : 3);
  const exceeded = quotes && opts.timeExceeded !== false && type === (v6 ? 3 : 11);
  if (!unreach && !exceeded) return false;
  const q = m + 8;
  let proto: number;
  let t: number;
  if (v6) {
    if (p.length < q + 40 || p[q]! >> 4 !== 6) return false;
    proto = p[q + 6]!;
    t = q + 40;
  } else {
    if (p.length < q + 20 || p[q] !== 0x45 || be16(p, q + 6) % 8192 !== 0) return false;
    proto = p[q + 9]!;
    t = q + 20;
  }
  const protos = opts.quotedProtocols ?? ["tcp", "udp"];
  const transport = (proto === 6 && protos.includes("tcp")) || (proto === 17 && protos.includes("udp"));
  if (transport && opts.quotedPorts !== undefined) {
    if (p.length < t + 2) return false;
    const port = be16(p, t);
    return opts.quotedPorts.lo <= port && port <= opts.quotedPorts.hi;
  }
  if (proto === (v6 ? 58 : 1) && opts.quotedEchoIds !== undefined) {
    return p.length >= t + 6 && p[t] === (v6 ? 128 : 8) && inSet(opts.quotedEchoIds, be16(p, t + 4));
  }
  return false;
}

export const icmpExpectedV4 = (opts: IcmpFilterOptions, p: Uint8Array): boolean =>
  icmpExpected(false, opts, p);
export const icmpExpectedV6 = (opts: IcmpFilterOptions, p: Uint8Array): boolean =>
  icmpExpected(true, opts, p);
