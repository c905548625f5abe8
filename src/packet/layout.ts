// Field offsets, sizes and protocol numbers shared by the codecs, in one place, so that code patching
// a precomputed packet (RFC 1624 updates of a sequence number, an IP ID, an ICMP id/seq) names the
// field instead of hard-coding a number. Byte layouts are drawn in docs/packets.md.

/** IP protocol / IPv6 next-header numbers. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const IPV4_HEADER_LEN = 20;
export const IPV6_HEADER_LEN = 40;
export const TCP_HEADER_LEN = 20;
export const UDP_HEADER_LEN = 8;
export const ICMP_HEADER_LEN = 8;

/** Offsets inside an IPv4 header. */
export const IPV4 = {
  TOS: 1,
  TOTAL_LENGTH: 2,
  ID: 4,
  FLAGS_FRAGMENT: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
} as const;

/** Offsets inside an IPv6 header. */
export const IPV6 = {
  PAYLOAD_LENGTH: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
} as const;

/** Offsets inside a TCP header. */
export const TCP = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
} as const;

/** Offsets inside a UDP header; the data after it starts with the 32-bit tag when there is room. */
export const UDP = { SRC_PORT: 0, DST_PORT: 2, LENGTH: 4, CHECKSUM: 6, TAG: 8 } as const;

/** Offsets inside an ICMP / ICMPv6 header (echo: id and seq; errors: the quoted packet at 8). */
export const ICMP = { TYPE: 0, CODE: 1, CHECKSUM: 2, ID: 4, SEQ: 6, QUOTE: 8 } as const;

/** TCP flag bits (byte 13). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

export const IcmpType = {
  ECHO_REPLY: 0,
  DEST_UNREACHABLE: 3,
  ECHO_REQUEST: 8,
  TIME_EXCEEDED: 11,
} as const;

export const Icmp6Type = {
  DEST_UNREACHABLE: 1,
  TIME_EXCEEDED: 3,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
} as const;

/**
 * How many bytes a parser may read at buf[off...] given the caller's `len`: the smaller of `len` and
 * what the buffer holds, or -1 when off/len are not usable integers. This is what keeps every parser
 * from reading past the data or throwing, whatever it is handed.
 */
export function available(buf: Uint8Array, off: number, len: number): number {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0) return -1;
  const room = buf.length - off;
  if (room < 0) return -1;
  return Math.min(len, room);
}

export function u16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

export function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * The 32 bits at buf[off] as an int32 (`>>> 0` gives u32's value). The ...Into parsers keep 32-bit
 * fields so: V8 stores an int32 in an object field as is, but boxes a value ≥ 2^31 into a new heap
 * number on every store, one allocation per packet on the receive path.
 */
export function i32(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

export function put16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function put32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}
