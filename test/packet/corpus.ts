// The packet corpus checked against tshark: our probes (TCP SYN, UDP, ICMP echo, both families, many
// option combinations), the replies we must parse (SYN-ACK, RST, echo reply) and ICMP / ICMPv6 errors
// quoting our probes, whole or cut to 8 transport bytes. Each case carries the fields tshark must
// report, derived from the options it was built from (never from parsing its bytes), in tshark's
// names; fields inside an ICMP error's quote are prefixed "inner.".
//
// `node dist/test/packet/corpus.js --write` regenerates test/fixtures/packet/corpus.pcap (+ .json,
// the case names); corpus.test.ts fails when the committed files differ from what the code builds.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import {
  addressBytes,
  buildPacket,
  type PacketOptions,
  pseudoSum4,
  pseudoSum6,
  rstForSynAck,
  TcpFlag,
  writeChecksum,
  writeIcmpEcho,
  writeIcmpErrorHeader,
  writeIPv4Header,
  writeIPv6Header,
  writeTcpHeader,
} from "../../src/packet/index.js";
import { FIXTURES } from "../support/paths.js";
import { rng } from "../support/rng.js";
import { writePcap } from "./pcap.js";

export interface IpSpec {
  src: string;
  dst: string;
  dscp: number;
  ecn: number;
  ttl: number;
  id: number;
  df: boolean;
  flowLabel: number;
}

/** Probe options with text addresses (so expectations can use the same text tshark prints). */
export type ProbeSpec = Omit<PacketOptions, "src" | "dst"> & { src: string; dst: string };

export interface Case {
  name: string;
  bytes: Uint8Array;
  /** tshark field name (or "inner." + name) → expected value as tshark prints it in -T json. */
  expect: Record<string, string>;
}

const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, "0")}`;
const is6 = (addr: string) => addr.includes(":");

function ipExpect(p: string, ip: IpSpec, proto: number, ipPayload: number): Record<string, string> {
  if (!is6(ip.src)) {
    return {
      [`${p}ip.version`]: "4",
      [`${p}ip.hdr_len`]: "20",
      [`${p}ip.src`]: ip.src,
      [`${p}ip.dst`]: ip.dst,
      [`${p}ip.dsfield.dscp`]: String(ip.dscp),
      [`${p}ip.dsfield.ecn`]: String(ip.ecn),
      [`${p}ip.len`]: String(20 + ipPayload),
      [`${p}ip.id`]: hex(ip.id, 4),
      [`${p}ip.flags.df`]: ip.df ? "1" : "0",
      [`${p}ip.flags.mf`]: "0",
      [`${p}ip.frag_offset`]: "0",
      [`${p}ip.ttl`]: String(ip.ttl),
      [`${p}ip.proto`]: String(proto),
      [`${p}ip.checksum.status`]: "1",
    };
  }
  return {
    [`${p}ipv6.version`]: "6",
    [`${p}ipv6.src`]: ip.src,
    [`${p}ipv6.dst`]: ip.dst,
    [`${p}ipv6.tclass.dscp`]: String(ip.dscp),
    [`${p}ipv6.tclass.ecn`]: String(ip.ecn),
    [`${p}ipv6.flow`]: hex(ip.flowLabel, 6),
    [`${p}ipv6.plen`]: String(ipPayload),
    [`${p}ipv6.nxt`]: String(proto),
    [`${p}ipv6.hlim`]: String(ip.ttl),
  };
}

function ipOfProbe(o: ProbeSpec): IpSpec {
  const v6 = is6(o.src);
  return {
    src: o.src,
    dst: o.dst,
    dscp: o.dscp ?? 0,
    ecn: o.ecn ?? 0,
    ttl: o.ttl ?? 64,
    id: v6 ? 0 : (o.id ?? 0),
    df: v6 ? false : (o.df ?? false),
    flowLabel: v6 ? (o.flowLabel ?? 0) : 0,
  };
}

const MIN: Record<ProbeSpec["protocol"], number> = { "tcp-syn": 20, udp: 8, "icmp-echo": 8 };

function protoOf(o: ProbeSpec): number {
  if (o.protocol === "tcp-syn") return 6;
  if (o.protocol === "udp") return 17;
  return is6(o.src) ? 58 : 1;
}

/** Expected fields of a probe; `quoted` = transport bytes present when it is inside an ICMP error. */
export function probeExpect(o: ProbeSpec, p = "", quoted?: number): Record<string, string> {
  const size = o.payloadSize ?? MIN[o.protocol];
  const whole = quoted === undefined || quoted >= size;
  const e = ipExpect(p, ipOfProbe(o), protoOf(o), size);
  const seq = o.seq ?? 0;
  if (o.protocol === "tcp-syn") {
    e[`${p}tcp.srcport`] = String(o.srcPort ?? 0);
    e[`${p}tcp.dstport`] = String(o.dstPort ?? 0);
    // tshark shows only the ports of a TCP header cut to 8 bytes inside an ICMPv6 error.
    if (whole || !is6(o.src)) e[`${p}tcp.seq`] = String(seq >>> 0);
    if (whole) {
      e[`${p}tcp.ack_raw`] = "0";
      e[`${p}tcp.flags`] = hex(TcpFlag.SYN, 4);
      e[`${p}tcp.hdr_len`] = "20";
      e[`${p}tcp.window_size_value`] = "65535";
      if (p === "") e["tcp.len"] = String(size - 20);
      e[`${p}tcp.checksum.status`] = "1";
    }
  } else if (o.protocol === "udp") {
    e[`${p}udp.srcport`] = String(o.srcPort ?? 0);
    e[`${p}udp.dstport`] = String(o.dstPort ?? 0);
    e[`${p}udp.length`] = String(size);
    if (whole) e[`${p}udp.checksum.status`] = "1";
  } else if (!is6(o.src)) {
    e[`${p}icmp.type`] = "8";
    e[`${p}icmp.code`] = "0";
    e[`${p}icmp.ident`] = String(o.icmpId ?? 0);
    e[`${p}icmp.seq`] = String(seq);
    // tshark does not verify the checksum of an ICMP message quoted inside an ICMP error.
    if (p === "") e["icmp.checksum.status"] = "1";
  } else {
    e[`${p}icmpv6.type`] = "128";
    e[`${p}icmpv6.code`] = "0";
    e[`${p}icmpv6.echo.identifier`] = hex(o.icmpId ?? 0, 4);
    e[`${p}icmpv6.echo.sequence_number`] = String(seq);
    if (p === "") e["icmpv6.checksum.status"] = "1";
  }
  return e;
}

function ipHeader(buf: Uint8Array, ip: IpSpec, proto: number, payload: number): number {
  const src = addressBytes(ip.src);
  const dst = addressBytes(ip.dst);
  if (src.length === 4) {
    return writeIPv4Header(buf, 0, { ...ip, src, dst, protocol: proto, totalLength: 20 + payload });
  }
  return writeIPv6Header(buf, 0, {
    ...ip,
    src,
    dst,
    nextHeader: proto,
    payloadLength: payload,
    hopLimit: ip.ttl,
  });
}

function pseudo(ip: IpSpec, proto: number, len: number): number {
  const s = addressBytes(ip.src);
  const d = addressBytes(ip.dst);
  return s.length === 4 ? pseudoSum4(s, 0, d, 0, proto, len) : pseudoSum6(s, 0, d, 0, proto, len);
}

function probe(name: string, o: ProbeSpec): Case {
  const buf = new Uint8Array(2000);
  const n = buildPacket(buf, 0, { ...o, src: addressBytes(o.src), dst: addressBytes(o.dst) });
  return { name, bytes: buf.slice(0, n), expect: probeExpect(o) };
}

/** A TCP reply (SYN-ACK, RST) with no payload. */
function tcpReply(
  name: string,
  ip: IpSpec,
  f: { srcPort: number; dstPort: number; seq: number; ack: number; flags: number; window: number },
): Case {
  const v6 = is6(ip.src);
  const hl = v6 ? 40 : 20;
  const buf = new Uint8Array(hl + 20);
  writeTcpHeader(buf, hl, f);
  writeChecksum(buf, hl, 20, pseudo(ip, 6, 20), hl + 16);
  ipHeader(buf, ip, 6, 20);
  const e = ipExpect("", ip, 6, 20);
  Object.assign(e, {
    "tcp.srcport": String(f.srcPort),
    "tcp.dstport": String(f.dstPort),
    "tcp.seq": String(f.seq >>> 0),
    "tcp.ack_raw": String(f.ack >>> 0),
    "tcp.flags": hex(f.flags, 4),
    "tcp.hdr_len": "20",
    "tcp.window_size_value": String(f.window),
    "tcp.checksum.status": "1",
  });
  return { name, bytes: buf, expect: e };
}

function echoReply(name: string, ip: IpSpec, id: number, seq: number, data: number): Case {
  const v6 = is6(ip.src);
  const hl = v6 ? 40 : 20;
  const proto = v6 ? 58 : 1;
  const buf = new Uint8Array(hl + 8 + data);
  for (let i = 0; i < data; i++) buf[hl + 8 + i] = (i * 7 + seq) & 0xff;
  writeIcmpEcho(buf, hl, v6 ? 129 : 0, id, seq);
  writeChecksum(buf, hl, 8 + data, v6 ? pseudo(ip, 58, 8 + data) : 0, hl + 2);
  ipHeader(buf, ip, proto, 8 + data);
  const e = ipExpect("", ip, proto, 8 + data);
  if (v6) {
    Object.assign(e, {
      "icmpv6.type": "129",
      "icmpv6.code": "0",
      "icmpv6.echo.identifier": hex(id, 4),
      "icmpv6.echo.sequence_number": String(seq),
      "icmpv6.checksum.status": "1",
    });
  } else {
    Object.assign(e, {
      "icmp.type": "0",
      "icmp.code": "0",
      "icmp.ident": String(id),
      "icmp.seq": String(seq),
      "icmp.checksum.status": "1",
    });
  }
  return { name, bytes: buf, expect: e };
}

/** An ICMP(v6) error from `ip` quoting the first `transportBytes` transport bytes of probe `o`. */
function icmpError(
  name: string,
  ip: IpSpec,
  type: number,
  code: number,
  o: ProbeSpec,
  transportBytes: number,
): Case {
  const v6 = is6(ip.src);
  const hl = v6 ? 40 : 20;
  const proto = v6 ? 58 : 1;
  const inner = new Uint8Array(2000);
  const innerLen = buildPacket(inner, 0, { ...o, src: addressBytes(o.src), dst: addressBytes(o.dst) });
  const quoteLen = Math.min(innerLen, hl + transportBytes);
  const icmpLen = 8 + quoteLen;
  const buf = new Uint8Array(hl + icmpLen);
  writeIcmpErrorHeader(buf, hl, type, code);
  buf.set(inner.subarray(0, quoteLen), hl + 8);
  writeChecksum(buf, hl, icmpLen, v6 ? pseudo(ip, 58, icmpLen) : 0, hl + 2);
  ipHeader(buf, ip, proto, icmpLen);
  const e = ipExpect("", ip, proto, icmpLen);
  const k = v6 ? "icmpv6" : "icmp";
  e[`${k}.type`] = String(type);
  e[`${k}.code`] = String(code);
  e[`${k}.checksum.status`] = "1";
  Object.assign(e, probeExpect(o, "inner.", transportBytes));
  return { name, bytes: buf, expect: e };
}

const V4 = { a: "198.18.0.1", b: "198.18.7.200", r: "198.19.255.254" };
const V6 = { a: "fd18::1", b: "fd18:0:7:0:1::c8", r: "fd18:ffff::fe" };

export function corpus(): Case[] {
  const cases: Case[] = [];
  const r = rng(20240601);
  const int = (max: number) => Math.floor(r() * (max + 1));
  const protocols: ProbeSpec["protocol"][] = ["tcp-syn", "udp", "icmp-echo"];
  for (let i = 0; i < 36; i++) {
    const v6 = i % 2 === 1;
    const protocol = protocols[Math.floor(i / 2) % 3]!;
    const min = MIN[protocol];
    const sizes = [min, min + 1, min + 3, min + 4, 64, 200 + int(1200)];
    const o: ProbeSpec = {
      protocol,
      src: v6 ? V6.a : V4.a,
      dst: v6 ? V6.b : V4.b,
      srcPort: 1024 + int(64511),
      dstPort: int(65535),
      seq: protocol === "tcp-syn" ? int(0xffffffff) : int(0xffff),
      icmpId: int(0xffff),
      tag: int(0xffffffff),
      id: int(0xffff),
      dscp: int(63),
      ecn: int(3),
      df: int(1) === 1,
      ttl: 1 + int(254),
      flowLabel: int(0xfffff),
      payloadSize: sizes[Math.floor(i / 6) % sizes.length]!,
    };
    cases.push(probe(`probe-${i}-${protocol}-v${v6 ? 6 : 4}-${o.payloadSize}`, o));
  }
  for (const v6 of [false, true]) {
    const f = v6 ? V6 : V4;
    const fam = v6 ? "v6" : "v4";
    const back: IpSpec = {
      src: f.b,
      dst: f.a,
      dscp: 0,
      ecn: 0,
      ttl: 60,
      id: v6 ? 0 : 4321,
      df: !v6,
      flowLabel: v6 ? 0x12345 : 0,
    };
    const router: IpSpec = { ...back, src: f.r, ttl: 255, id: v6 ? 0 : 7 };
    const synAck = {
      srcPort: 443,
      dstPort: 40001,
      seq: 0x80000001,
      ack: 0xfffffffe + 1,
      flags: 0x12,
      window: 64240,
    };
    cases.push(tcpReply(`synack-${fam}`, back, synAck));
    const rst = rstForSynAck(synAck);
    cases.push(
      tcpReply(`rst-for-synack-${fam}`, { ...back, src: f.a, dst: f.b }, { ...rst, ack: 0, window: 0 }),
    );
    cases.push(tcpReply(`rst-ack-${fam}`, back, { ...synAck, seq: 0, flags: 0x14, window: 0 }));
    cases.push(echoReply(`echo-reply-${fam}`, back, 0xbeef, 513, 56));
    const base = { src: f.a, dst: f.b, dscp: 46, ttl: 9, id: 0xabcd, df: true, flowLabel: 0xfedcb };
    const udp: ProbeSpec = {
      ...base,
      protocol: "udp",
      srcPort: 50001,
      dstPort: 33434,
      tag: 0x01020304,
      payloadSize: 100,
    };
    const syn: ProbeSpec = {
      ...base,
      protocol: "tcp-syn",
      srcPort: 50002,
      dstPort: 22,
      seq: 0xc0ffee00,
      payloadSize: 60,
    };
    const echo: ProbeSpec = { ...base, protocol: "icmp-echo", icmpId: 4242, seq: 17, payloadSize: 64 };
    const unreach = v6 ? 1 : 3;
    const exceeded = v6 ? 3 : 11;
    cases.push(icmpError(`port-unreachable-udp-whole-${fam}`, back, unreach, v6 ? 4 : 3, udp, 1000));
    cases.push(icmpError(`port-unreachable-udp-8-${fam}`, back, unreach, v6 ? 4 : 3, udp, 8));
    cases.push(icmpError(`port-unreachable-udp-12-${fam}`, back, unreach, v6 ? 4 : 3, udp, 12));
    cases.push(icmpError(`admin-prohibited-tcp-8-${fam}`, router, unreach, v6 ? 1 : 13, syn, 8));
    cases.push(icmpError(`time-exceeded-tcp-whole-${fam}`, router, exceeded, 0, { ...syn, ttl: 1 }, 1000));
    cases.push(icmpError(`time-exceeded-tcp-8-${fam}`, router, exceeded, 0, { ...syn, ttl: 1 }, 8));
    cases.push(icmpError(`time-exceeded-echo-whole-${fam}`, router, exceeded, 0, { ...echo, ttl: 1 }, 1000));
    cases.push(icmpError(`time-exceeded-udp-8-${fam}`, router, exceeded, 0, { ...udp, ttl: 1 }, 8));
    cases.push(icmpError(`host-unreachable-echo-8-${fam}`, router, unreach, v6 ? 3 : 1, echo, 8));
  }
  return cases;
}

export const CORPUS_PCAP = `${FIXTURES}packet/corpus.pcap`;
export const CORPUS_JSON = `${FIXTURES}packet/corpus.json`;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes("--write")) {
    const cases = corpus();
    writeFileSync(CORPUS_PCAP, writePcap(cases.map((c) => c.bytes)));
    writeFileSync(
      CORPUS_JSON,
      `${JSON.stringify(
        cases.map((c) => ({ name: c.name, expect: c.expect })),
        null,
        1,
      )}\n`,
    );
    console.log(`wrote ${cases.length} packets to ${CORPUS_PCAP}`);
  }
}
