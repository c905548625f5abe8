// Whole probes from one options object, and the entry points for what raw sockets deliver.
// Building: IPv4 or IPv6 header (family from the address length) + TCP SYN / UDP / ICMP echo +
// patterned padding up to the requested IP payload size, all checksums filled, written at an offset
// of a caller-owned buffer with no allocation. `buildTransport` writes the same without the IP header,
// for IPv6 raw sockets that send from the transport header.
// Parsing: an IPv4 raw socket delivers from the IPv4 header (parseIPv4Packet); an IPv6 raw socket
// delivers from the transport header (parseIPv6Transport, the protocol known from the socket);
// parseIPv6Packet covers captures and quoted packets. Parsers return undefined for anything not ours.
import { onesSum, pseudoSum4, pseudoSum6, writeChecksum } from "./checksum.js";
import { type IcmpMessage, parseIcmp, parseIcmp6, writeIcmpEcho } from "./icmp.js";
import { type IPv4Header, parseIPv4Header, writeIPv4Header } from "./ipv4.js";
import { type IPv6Header, parseIPv6Header, writeIPv6Header } from "./ipv6.js";
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
import { parseTcp, type TcpSegment, writeTcpSyn } from "./tcp.js";
import { parseUdp, type UdpDatagram, writeUdpHeader } from "./udp.js";

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
  const seq = o.seq ?? 0;
  const proto = protocolNumber(o.protocol, family);
  let sumOff: number;
  let seed: number;
  let dataOff: number;
  if (o.protocol === "tcp-syn") {
    writeTcpSyn(buf, off, { srcPort: o.srcPort ?? 0, dstPort: o.dstPort ?? 0, seq });
    sumOff = off + TCP.CHECKSUM;
    seed = o.patternSeed ?? seq;
    dataOff = off + TCP_HEADER_LEN;
  } else if (o.protocol === "udp") {
    writeUdpHeader(buf, off, { srcPort: o.srcPort ?? 0, dstPort: o.dstPort ?? 0, length: size });
    sumOff = off + UDP.CHECKSUM;
    seed = o.patternSeed ?? o.tag ?? 0;
    dataOff = off + UDP_HEADER_LEN;
    if (size >= UDP_HEADER_LEN + 4) {
      put32(buf, off + UDP.TAG, (o.tag ?? 0) >>> 0);
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
    seed = o.patternSeed ?? ((o.icmpId ?? 0) << 16) | (seq & 0xffff);
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
  if (family === 4) {
    writeIPv4Header(buf, off, {
      dscp: o.dscp ?? 0,
      ecn: o.ecn ?? 0,
      totalLength: hl + size,
      id: o.id ?? 0,
      df: o.df ?? false,
      ttl,
      protocol,
      src: o.src,
      dst: o.dst,
    });
  } else {
    writeIPv6Header(buf, off, {
      dscp: o.dscp ?? 0,
      ecn: o.ecn ?? 0,
      flowLabel: o.flowLabel ?? 0,
      payloadLength: size,
      nextHeader: protocol,
      hopLimit: ttl,
      src: o.src,
      dst: o.dst,
    });
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

function transport(
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
  if (protocol === IPPROTO_TCP) tcp = parseTcp(buf, off, len);
  else if (protocol === IPPROTO_UDP) udp = parseUdp(buf, off, len);
  else if (family === 4 && protocol === IPPROTO_ICMP) icmp = parseIcmp(buf, off, len);
  else if (family === 6 && protocol === IPPROTO_ICMPV6) icmp = parseIcmp6(buf, off, len);
  if (tcp === undefined && udp === undefined && icmp === undefined) return undefined;
  return { family, ip, protocol, tcp, udp, icmp };
}

/**
 * What an IPv4 raw socket delivers: IPv4 header + TCP, UDP or ICMP (parsed on the bytes Total Length
 * covers). Non-first fragments and other protocols give undefined. Never throws.
 */
export function parseIPv4Packet(buf: Uint8Array, off: number, len: number): ParsedPacket | undefined {
  const ip = parseIPv4Header(buf, off, len);
  if (ip === undefined || ip.fragmentOffset !== 0) return undefined;
  return transport(4, ip, ip.protocol, buf, ip.payloadOffset, ip.presentLength);
}

/** An IPv6 packet from its header (captures, HDRINCL): header directly followed by TCP, UDP or ICMPv6. */
export function parseIPv6Packet(buf: Uint8Array, off: number, len: number): ParsedPacket | undefined {
  const ip = parseIPv6Header(buf, off, len);
  if (ip === undefined) return undefined;
  return transport(6, ip, ip.nextHeader, buf, ip.payloadOffset, ip.presentLength);
}

/** What an IPv6 raw socket of protocol `nextHeader` delivers: the transport header onwards. */
export function parseIPv6Transport(
  buf: Uint8Array,
  off: number,
  len: number,
  nextHeader: number,
): ParsedPacket | undefined {
  return transport(6, undefined, nextHeader, buf, off, len);
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
