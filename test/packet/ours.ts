// Our parsers' view of a packet in tshark's field names, so the tshark test can demand that both
// decoders agree field by field. Every value here comes from src/packet parsers and verifiers only.
import {
  formatAddress,
  type IPv4Header,
  type IPv6Header,
  ipv4HeaderChecksumOk,
  parseIPv4Header,
  parseIPv4Packet,
  parseIPv6Header,
  parseIPv6Packet,
  parseIPv6Transport,
  type QuotedPacket,
  transportChecksumOk4,
  transportChecksumOk6,
} from "../../src/packet/index.js";

const hex = (v: number, digits: number) => `0x${v.toString(16).padStart(digits, "0")}`;
const bit = (b: boolean) => (b ? "1" : "0");

function ip4(e: Record<string, string>, p: string, buf: Uint8Array, h: IPv4Header, off: number): void {
  Object.assign(e, {
    [`${p}ip.version`]: "4",
    [`${p}ip.hdr_len`]: String(h.headerLength),
    [`${p}ip.src`]: formatAddress(buf, h.srcOffset, 4),
    [`${p}ip.dst`]: formatAddress(buf, h.dstOffset, 4),
    [`${p}ip.dsfield.dscp`]: String(h.dscp),
    [`${p}ip.dsfield.ecn`]: String(h.ecn),
    [`${p}ip.len`]: String(h.totalLength),
    [`${p}ip.id`]: hex(h.id, 4),
    [`${p}ip.flags.df`]: bit(h.df),
    [`${p}ip.flags.mf`]: bit(h.mf),
    [`${p}ip.frag_offset`]: String(h.fragmentOffset * 8),
    [`${p}ip.ttl`]: String(h.ttl),
    [`${p}ip.proto`]: String(h.protocol),
    [`${p}ip.checksum.status`]: ipv4HeaderChecksumOk(buf, off, h.headerLength) ? "1" : "0",
  });
}

function ip6(e: Record<string, string>, p: string, buf: Uint8Array, h: IPv6Header): void {
  Object.assign(e, {
    [`${p}ipv6.version`]: "6",
    [`${p}ipv6.src`]: formatAddress(buf, h.srcOffset, 6),
    [`${p}ipv6.dst`]: formatAddress(buf, h.dstOffset, 6),
    [`${p}ipv6.tclass.dscp`]: String(h.dscp),
    [`${p}ipv6.tclass.ecn`]: String(h.ecn),
    [`${p}ipv6.flow`]: hex(h.flowLabel, 6),
    [`${p}ipv6.plen`]: String(h.payloadLength),
    [`${p}ipv6.nxt`]: String(h.nextHeader),
    [`${p}ipv6.hlim`]: String(h.hopLimit),
  });
}

function quoted(e: Record<string, string>, buf: Uint8Array, q: QuotedPacket): void {
  const p = "inner.";
  if (q.family === 4) {
    const h = parseIPv4Header(buf, q.offset, buf.length - q.offset);
    if (h) ip4(e, p, buf, h, q.offset);
  } else {
    const h = parseIPv6Header(buf, q.offset, buf.length - q.offset);
    if (h) ip6(e, p, buf, h);
  }
  const whole = q.transportLength + (q.transportOffset - q.offset) >= q.totalLength;
  const t = q.transportOffset;
  const ok = (proto: number) =>
    q.family === 4
      ? transportChecksumOk4(buf, t, q.transportLength, proto, buf, q.srcOffset, buf, q.dstOffset)
      : transportChecksumOk6(buf, t, q.transportLength, proto, buf, q.srcOffset, buf, q.dstOffset);
  if (q.protocol === 6) {
    e[`${p}tcp.srcport`] = String(q.srcPort);
    e[`${p}tcp.dstport`] = String(q.dstPort);
    e[`${p}tcp.seq`] = String(q.tcpSeq);
    if (whole) {
      const pkt =
        q.family === 4
          ? parseIPv4Packet(buf, q.offset, buf.length - q.offset)
          : parseIPv6Packet(buf, q.offset, buf.length - q.offset);
      const s = pkt?.tcp;
      if (s) tcpFields(e, p, s);
      e[`${p}tcp.checksum.status`] = ok(6) ? "1" : "0";
    }
  } else if (q.protocol === 17) {
    e[`${p}udp.srcport`] = String(q.srcPort);
    e[`${p}udp.dstport`] = String(q.dstPort);
    e[`${p}udp.length`] = String(q.udpLength);
    if (whole) e[`${p}udp.checksum.status`] = ok(17) ? "1" : "0";
  } else if (q.family === 4) {
    e[`${p}icmp.type`] = String(q.icmpType);
    e[`${p}icmp.code`] = String(buf[t + 1]);
    e[`${p}icmp.ident`] = String(q.icmpId);
    e[`${p}icmp.seq`] = String(q.icmpSeq);
    if (whole) e[`${p}icmp.checksum.status`] = ok(1) ? "1" : "0";
  } else {
    e[`${p}icmpv6.type`] = String(q.icmpType);
    e[`${p}icmpv6.code`] = String(buf[t + 1]);
    e[`${p}icmpv6.echo.identifier`] = hex(q.icmpId ?? 0, 4);
    e[`${p}icmpv6.echo.sequence_number`] = String(q.icmpSeq);
    if (whole) e[`${p}icmpv6.checksum.status`] = ok(58) ? "1" : "0";
  }
}

function tcpFields(
  e: Record<string, string>,
  p: string,
  s: { srcPort: number; dstPort: number; seq: number; ack: number; flags: number; headerLength: number } & {
    window: number;
    payloadLength: number;
  },
): void {
  Object.assign(e, {
    [`${p}tcp.srcport`]: String(s.srcPort),
    [`${p}tcp.dstport`]: String(s.dstPort),
    [`${p}tcp.seq`]: String(s.seq),
    [`${p}tcp.ack_raw`]: String(s.ack),
    [`${p}tcp.flags`]: hex(s.flags, 4),
    [`${p}tcp.hdr_len`]: String(s.headerLength),
    [`${p}tcp.window_size_value`]: String(s.window),
    [`${p}tcp.len`]: String(s.payloadLength),
  });
}

/** Fields of a whole packet (from its IP header) as our parsers see it; undefined if they reject it. */
export function ourFields(buf: Uint8Array): Record<string, string> | undefined {
  const v = buf[0]! >>> 4;
  const pkt = v === 4 ? parseIPv4Packet(buf, 0, buf.length) : parseIPv6Packet(buf, 0, buf.length);
  if (pkt === undefined || pkt.ip === undefined) return undefined;
  const e: Record<string, string> = {};
  const ip = pkt.ip;
  let tOff: number;
  let tLen: number;
  const ok = (proto: number) =>
    v === 4
      ? transportChecksumOk4(buf, tOff, tLen, proto, buf, ip.srcOffset, buf, ip.dstOffset)
      : transportChecksumOk6(buf, tOff, tLen, proto, buf, ip.srcOffset, buf, ip.dstOffset);
  if (v === 4) {
    const h = ip as IPv4Header;
    ip4(e, "", buf, h, 0);
    tOff = h.payloadOffset;
    tLen = h.presentLength;
  } else {
    const h = ip as IPv6Header;
    ip6(e, "", buf, h);
    tOff = h.payloadOffset;
    tLen = h.presentLength;
  }
  if (pkt.tcp) {
    tcpFields(e, "", pkt.tcp);
    e["tcp.checksum.status"] = ok(6) ? "1" : "0";
  } else if (pkt.udp) {
    e["udp.srcport"] = String(pkt.udp.srcPort);
    e["udp.dstport"] = String(pkt.udp.dstPort);
    e["udp.length"] = String(pkt.udp.length);
    e["udp.checksum.status"] = ok(17) ? "1" : "0";
  } else if (pkt.icmp) {
    const m = pkt.icmp;
    const k = v === 4 ? "icmp" : "icmpv6";
    e[`${k}.type`] = String(m.type);
    e[`${k}.code`] = String(m.code);
    e[`${k}.checksum.status`] = ok(v === 4 ? 1 : 58) ? "1" : "0";
    if (m.kind === "echo") {
      if (v === 4) {
        e["icmp.ident"] = String(m.id);
        e["icmp.seq"] = String(m.seq);
      } else {
        e["icmpv6.echo.identifier"] = hex(m.id, 4);
        e["icmpv6.echo.sequence_number"] = String(m.seq);
      }
    } else {
      quoted(e, buf, m.quoted);
    }
  }
  return e;
}

/**
 * For IPv6 packets: the raw-socket entry point (transport header onwards) must see exactly what the
 * whole-packet parser saw. Returns a description of the first difference, or undefined.
 */
export function ipv6EntryPointsDiffer(buf: Uint8Array): string | undefined {
  const whole = parseIPv6Packet(buf, 0, buf.length);
  if (whole === undefined) return "whole packet rejected";
  const h = whole.ip as IPv6Header;
  const t = parseIPv6Transport(buf, 40, h.presentLength, h.nextHeader);
  if (t === undefined) return "transport rejected";
  const a = JSON.stringify({ ...whole, ip: undefined });
  const b = JSON.stringify({ ...t, ip: undefined });
  return a === b ? undefined : `${a} != ${b}`;
}
