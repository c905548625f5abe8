// Whole probes from one options object, and the entry points for what raw sockets deliver.
// Building: IPv4 or IPv6 header (family from the address length) + TCP SYN / UDP / ICMP echo +
// patterned padding up to the requested IP payload size, all checksums filled, written at an offset
// of a caller-owned buffer with no allocation. `buildTransport` writes the same without the IP header,
// for IPv6 raw sockets that send from the transport header.
// Parsing: an IPv4 raw socket delivers from the IPv4 header (parseIPv4Packet); an IPv6 raw socket
// delivers from the transport header (parseIPv6Transport, the protocol known from the socket);
// parseIPv6Packet covers captures and quoted packets. Parsers return undefined for anything not ours.
// The ...Into parsers fill a caller's PacketScratch instead of new objects (the engine's receive path,
// which must allocate nothing per packet); the plain ones are the same parse into a fresh scratch.
import { onesSum, pseudoSum4, pseudoSum6, writeChecksum } from "./checksum.js";
import {
  blankIcmp,
  type IcmpMessage,
  type IcmpScratch,
  parseIcmp6Into,
  parseIcmpInto,
  unsignedIcmp,
  writeIcmpEcho,
} from "./icmp.js";
import {
  blankIPv4Header,
  type IPv4Header,
  parseIPv4HeaderInto,
  unsignedIPv4,
  writeIPv4HeaderOf,
} from "./ipv4.js";
import { blankIPv6Header, type IPv6Header, parseIPv6HeaderInto, writeIPv6HeaderOf } from "./ipv6.js";
import {
  ICMP,
  ICMP_HEADER_LEN,
  Icmp6Type,
  IcmpType,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HEADER_LEN,
  IPV6_HEADER_LEN,
  put32,
  TCP,
  TCP_HEADER_LEN,
  UDP,
  UDP_HEADER_LEN,
} from "./layout.js";
import { fillPattern } from "./payload.js";
import {
  blankTcpSegment,
  parseTcpInto,
  SYN_WINDOW,
  type TcpSegment,
  unsignedTcp,
  writeTcpSynOf,
} from "./tcp.js";
import { blankUdpDatagram, parseUdpInto, type UdpDatagram, writeUdpHeaderOf } from "./udp.js";

export type ProbeProtocol = "tcp-syn" | "udp" | "icmp-echo";

export interface PacketOptions {
  protocol: ProbeProtocol;
  /** 4-byte (IPv4) or 16-byte (IPv6) addresses, same family. */
  src: Uint8Array;
  dst: Uint8Array;
  /** TCP / UDP ports. */
  srcPort?: number;
  dstPort?: number;
  /** TCP sequence number (32 bits) or ICMP echo sequence number (16 bits). */
  seq?: number;
  /** ICMP echo identifier. */
  icmpId?: number;
  /** UDP tag: the first 4 data bytes, written when the datagram has room (payloadSize ≥ 12). */
  tag?: number;
  /** IPv4 Identification (ignored for IPv6). */
  id?: number;
  dscp?: number;
  ecn?: number;
  /** IPv4 Don't Fragment (ignored for IPv6, which never fragments in transit). */
  df?: boolean;
  /** TTL / hop limit; default 64. */
  ttl?: number;
  /** IPv6 flow label, 20 bits (ignored for IPv4). */
  flowLabel?: number;
  /** IP payload size: transport header + data. Default and minimum: the transport header size. */
  payloadSize?: number;
  /** Seed of the padding pattern; default: seq (TCP/ICMP) or tag (UDP). */
  patternSeed?: number;
}

const HEADER: Record<ProbeProtocol, number> = {
  "tcp-syn": TCP_HEADER_LEN,
  udp: UDP_HEADER_LEN,
  "icmp-echo": ICMP_HEADER_LEN,
};

/** Smallest IP payload (transport header) of a probe protocol. */
export function minPayloadSize(protocol: ProbeProtocol): number {
  return HEADER[protocol];
}

/** IP protocol / next header number of a probe protocol in a family. */
export function protocolNumber(protocol: ProbeProtocol, family: 4 | 6): number {
  if (protocol === "tcp-syn") return IPPROTO_TCP;
  if (protocol === "udp") return IPPROTO_UDP;
  return family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

function familyOfOptions(o: PacketOptions): 4 | 6 {
  const n = o.src.length;
  if ((n !== 4 && n !== 16) || o.dst.length !== n) {
    throw new RangeError(`src and dst must both be 4 or both be 16 bytes (got ${n} and ${o.dst.length})`);
  }
  return n === 4 ? 4 : 6;
}

function payloadSizeOf(o: PacketOptions, family: 4 | 6): number {
  const min = HEADER[o.protocol];
  const size = o.payloadSize ?? min;
  const max = family === 4 ? 0xffff - IPV4_HEADER_LEN : 0xffff;
  if (!Number.isInteger(size) || size < min || size > max) {
    throw new RangeError(`payloadSize ${size} out of range ${min}..${max} for ${o.protocol}`);
  }
  return size;
}

/** Total bytes buildPacket writes for these options. */
export function packetLength(o: PacketOptions): number {
  const family = familyOfOptions(o);
  return (family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN) + payloadSizeOf(o, family);
}

/** Writes the transport header + padding of `size` bytes at buf[off] with its checksum. */
function writeTransport(buf: Uint8Array, off: number, o: PacketOptions, family: 4 | 6, size: number): void {
  // 32-bit fields travel as int32 (`| 0`; the writers take the bits): a value ≥ 2^31 handed as is to
  // a call the JIT did not inline is boxed, one heap number per packet (bench/alloc.ts).
  const seq = (o.seq ?? 0) | 0;
  const proto = protocolNumber(o.protocol, family);
  let sumOff: number;
  let seed: number;
  let dataOff: number;
  if (o.protocol === "tcp-syn") {
    writeTcpSynOf(buf, off, o.srcPort ?? 0, o.dstPort ?? 0, seq, SYN_WINDOW);
    sumOff = off + TCP.CHECKSUM;
    seed = (o.patternSeed ?? seq) | 0;
    dataOff = off + TCP_HEADER_LEN;
  } else if (o.protocol === "udp") {
    writeUdpHeaderOf(buf, off, o.srcPort ?? 0, o.dstPort ?? 0, size);
    sumOff = off + UDP.CHECKSUM;
    seed = (o.patternSeed ?? o.tag ?? 0) | 0;
    dataOff = off + UDP_HEADER_LEN;
    if (size >= UDP_HEADER_LEN + 4) {
      put32(buf, off + UDP.TAG, (o.tag ?? 0) | 0);
      dataOff += 4;
    }
  } else {
    writeIcmpEcho(
      buf,
      off,
      family === 4 ? IcmpType.ECHO_REQUEST : Icmp6Type.ECHO_REQUEST,
      o.icmpId ?? 0,
      seq,
    );
    sumOff = off + ICMP.CHECKSUM;
    seed = (o.patternSeed ?? ((o.icmpId ?? 0) << 16) | (seq & 0xffff)) | 0;
    dataOff = off + ICMP_HEADER_LEN;
  }
  fillPattern(buf, dataOff, off + size - dataOff, seed);
  const pseudo =
    proto === IPPROTO_ICMP
      ? 0
      : family === 4
        ? pseudoSum4(o.src, 0, o.dst, 0, proto, size)
        : pseudoSum6(o.src, 0, o.dst, 0, proto, size);
  writeChecksum(buf, off, size, pseudo, sumOff, proto === IPPROTO_UDP);
}

function checkRoom(buf: Uint8Array, off: number, need: number): void {
  if (!Number.isInteger(off) || off < 0 || off + need > buf.length) {
    throw new RangeError(`buffer of ${buf.length} bytes has no room for ${need} bytes at offset ${off}`);
  }
}

/** Writes a whole IPv4 or IPv6 probe at buf[off]; returns its length. Throws RangeError on bad options. */
export function buildPacket(buf: Uint8Array, off: number, o: PacketOptions): number {
  const family = familyOfOptions(o);
  const size = payloadSizeOf(o, family);
  const hl = family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  checkRoom(buf, off, hl + size);
  writeTransport(buf, off + hl, o, family, size);
  const protocol = protocolNumber(o.protocol, family);
  const ttl = o.ttl ?? 64;
  const dscp = o.dscp ?? 0;
  const ecn = o.ecn ?? 0;
  if (family === 4) {
    writeIPv4HeaderOf(buf, off, dscp, ecn, hl + size, o.id ?? 0, o.df ?? false, ttl, protocol, o.src, o.dst);
  } else {
    writeIPv6HeaderOf(buf, off, dscp, ecn, o.flowLabel ?? 0, size, protocol, ttl, o.src, o.dst);
  }
  return hl + size;
}

/**
 * Writes only the transport part of the probe (header + padding, checksum over the pseudo-header of
 * o.src/o.dst) at buf[off]; returns its length. For IPv6 raw sockets without IPV6_HDRINCL.
 */
export function buildTransport(buf: Uint8Array, off: number, o: PacketOptions): number {
  const family = familyOfOptions(o);
  const size = payloadSizeOf(o, family);
  checkRoom(buf, off, size);
  writeTransport(buf, off, o, family, size);
  return size;
}

/** A received or captured packet: its IP header (when present) and exactly one parsed transport. */
export interface ParsedPacket {
  family: 4 | 6;
  /** Undefined when parsed from the transport header (IPv6 raw socket). */
  ip: IPv4Header | IPv6Header | undefined;
  protocol: number;
  tcp: TcpSegment | undefined;
  udp: UdpDatagram | undefined;
  icmp: IcmpMessage | undefined;
}

/** What the ...Into parsers fill: the packet, and one reusable object per layer it points to. */
export interface PacketScratch {
  readonly packet: ParsedPacket;
  readonly ip4: IPv4Header;
  readonly ip6: IPv6Header;
  readonly tcp: TcpSegment;
  readonly udp: UdpDatagram;
  readonly icmp: IcmpScratch;
}

export function packetScratch(): PacketScratch {
  return {
    packet: { family: 4, ip: undefined, protocol: 0, tcp: undefined, udp: undefined, icmp: undefined },
    ip4: blankIPv4Header(),
    ip6: blankIPv6Header(),
    tcp: blankTcpSegment(),
    udp: blankUdpDatagram(),
    icmp: blankIcmp(),
  };
}

function transport(
  s: PacketScratch,
  family: 4 | 6,
  ip: IPv4Header | IPv6Header | undefined,
  protocol: number,
  buf: Uint8Array,
  off: number,
  len: number,
): ParsedPacket | undefined {
  let tcp: TcpSegment | undefined;
  let udp: UdpDatagram | undefined;
  let icmp: IcmpMessage | undefined;
  if (protocol === IPPROTO_TCP) tcp = parseTcpInto(s.tcp, buf, off, len);
  else if (protocol === IPPROTO_UDP) udp = parseUdpInto(s.udp, buf, off, len);
  else if (family === 4 && protocol === IPPROTO_ICMP) icmp = parseIcmpInto(s.icmp, buf, off, len);
  else if (family === 6 && protocol === IPPROTO_ICMPV6) icmp = parseIcmp6Into(s.icmp, buf, off, len);
  if (tcp === undefined && udp === undefined && icmp === undefined) return undefined;
  const p = s.packet;
  p.family = family;
  p.ip = ip;
  p.protocol = protocol;
  p.tcp = tcp;
  p.udp = udp;
  p.icmp = icmp;
  return p;
}

/**
 * What an IPv4 raw socket delivers: IPv4 header + TCP, UDP or ICMP (parsed on the bytes Total Length
 * covers). Non-first fragments and other protocols give undefined. Never throws.
 */
export function parseIPv4Packet(buf: Uint8Array, off: number, len: number): ParsedPacket | undefined {
  return unsignedPacket(parseIPv4PacketInto(packetScratch(), buf, off, len));
}

/**
 * A packet parsed by the ...Into parsers with its 32-bit fields as unsigned values (the form the
 * allocating parsers return; the ...Into ones keep those fields as int32 bits, see layout.ts i32).
 */
function unsignedPacket(p: ParsedPacket | undefined): ParsedPacket | undefined {
  if (p === undefined) return p;
  if (p.family === 4) unsignedIPv4(p.ip as IPv4Header | undefined);
  unsignedTcp(p.tcp);
  unsignedIcmp(p.icmp);
  return p;
}

/** parseIPv4Packet into `s` (its packet, overwritten and returned): no allocation. */
export function parseIPv4PacketInto(
  s: PacketScratch,
  buf: Uint8Array,
  off: number,
  len: number,
): ParsedPacket | undefined {
  const ip = parseIPv4HeaderInto(s.ip4, buf, off, len);
  if (ip === undefined || ip.fragmentOffset !== 0) return undefined;
  return transport(s, 4, ip, ip.protocol, buf, ip.payloadOffset, ip.presentLength);
}

/** An IPv6 packet from its header (captures, HDRINCL): header directly followed by TCP, UDP or ICMPv6. */
export function parseIPv6Packet(buf: Uint8Array, off: number, len: number): ParsedPacket | undefined {
  const s = packetScratch();
  const ip = parseIPv6HeaderInto(s.ip6, buf, off, len);
  if (ip === undefined) return undefined;
  return unsignedPacket(transport(s, 6, ip, ip.nextHeader, buf, ip.payloadOffset, ip.presentLength));
}

/** What an IPv6 raw socket of protocol `nextHeader` delivers: the transport header onwards. */
export function parseIPv6Transport(
  buf: Uint8Array,
  off: number,
  len: number,
  nextHeader: number,
): ParsedPacket | undefined {
  return unsignedPacket(parseIPv6TransportInto(packetScratch(), buf, off, len, nextHeader));
}

/** parseIPv6Transport into `s` (its packet, overwritten and returned): no allocation. */
export function parseIPv6TransportInto(
  s: PacketScratch,
  buf: Uint8Array,
  off: number,
  len: number,
  nextHeader: number,
): ParsedPacket | undefined {
  return transport(s, 6, undefined, nextHeader, buf, off, len);
}

/** True when the TCP/UDP/ICMP checksum of the transport at buf[off, off+len) of an IPv4 packet verifies. */
export function transportChecksumOk4(
  buf: Uint8Array,
  off: number,
  len: number,
  protocol: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): boolean {
  if (protocol === IPPROTO_UDP && buf[off + UDP.CHECKSUM] === 0 && buf[off + UDP.CHECKSUM + 1] === 0)
    return true;
  const pseudo = protocol === IPPROTO_ICMP ? 0 : pseudoSum4(src, srcOff, dst, dstOff, protocol, len);
  return onesSum(buf, off, len, pseudo) === 0xffff;
}

/** As transportChecksumOk4 for IPv6 (UDP checksum is mandatory there; ICMPv6 covers the pseudo-header). */
export function transportChecksumOk6(
  buf: Uint8Array,
  off: number,
  len: number,
  nextHeader: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): boolean {
  return onesSum(buf, off, len, pseudoSum6(src, srcOff, dst, dstOff, nextHeader, len)) === 0xffff;
}
