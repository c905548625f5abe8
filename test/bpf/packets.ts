// Hand-built packets for the BPF tests, written byte by byte here rather than with src/packet so that
// the filters are checked against an independent idea of the wire format. Checksums are computed
// because the kernel test sends some of these through real raw sockets.

export interface TcpFields {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: number;
}

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const ECE = 0x40;

/** RFC 1071 checksum of the concatenation of `parts`. */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts) {
    for (const byte of p) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/** A 20-byte TCP header (data offset 5, window 65535), checksum 0 unless `pseudo` is given. */
export function tcp(f: TcpFields, pseudo?: Uint8Array): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(f.sport, 0);
  b.writeUInt16BE(f.dport, 2);
  b.writeUInt32BE((f.seq ?? 0) >>> 0, 4);
  b.writeUInt32BE((f.ack ?? 0) >>> 0, 8);
  b[12] = 5 << 4;
  b[13] = f.flags;
  b.writeUInt16BE(65535, 14);
  if (pseudo !== undefined) b.writeUInt16BE(inetChecksum(pseudo, b), 16);
  return b;
}

/** An 8-byte UDP header followed by `payload`, checksum 0 (optional in IPv4, fine in quotes). */
export function udp(sport: number, dport: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  b.writeUInt16BE(b.length, 4);
  b.set(payload, 8);
  return b;
}

/** An ICMP / ICMPv6 message: type, code, checksum (ICMPv4 only; the kernel fills ICMPv6's), rest. */
export function icmp(type: number, code: number, rest: Uint8Array, v4 = true): Buffer {
  const b = Buffer.alloc(4 + rest.length);
  b[0] = type;
  b[1] = code;
  b.set(rest, 4);
  if (v4) b.writeUInt16BE(inetChecksum(b), 2);
  return b;
}

/** An echo request/reply: identifier, sequence, payload. */
export function echo(
  type: number,
  id: number,
  seq: number,
  payload: Uint8Array = Buffer.alloc(8),
  v4 = true,
) {
  const rest = Buffer.alloc(4 + payload.length);
  rest.writeUInt16BE(id, 0);
  rest.writeUInt16BE(seq, 2);
  rest.set(payload, 4);
  return icmp(type, 0, rest, v4);
}

/** An ICMP error (unreachable, time exceeded): 4 unused bytes, then the quoted packet. */
export function icmpError(type: number, code: number, quoted: Uint8Array, v4 = true): Buffer {
  const rest = Buffer.alloc(4 + quoted.length);
  rest.set(quoted, 4);
  return icmp(type, code, rest, v4);
}

export interface Ipv4Fields {
  proto: number;
  src?: string;
  dst?: string;
  ttl?: number;
  /** Option bytes, padded to a multiple of 4 with end-of-options (0). */
  options?: Uint8Array;
  /** Flags (3 bits) and fragment offset (13 bits) field. */
  fragment?: number;
}

const v4bytes = (a: string): number[] => a.split(".").map(Number);

/** An IPv4 packet with a valid header checksum. */
export function ipv4(f: Ipv4Fields, payload: Uint8Array): Buffer {
  const optLen = f.options === undefined ? 0 : Math.ceil(f.options.length / 4) * 4;
  const hl = 20 + optLen;
  const b = Buffer.alloc(hl + payload.length);
  b[0] = 0x40 | (hl / 4);
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(0x1234, 4);
  b.writeUInt16BE(f.fragment ?? 0x4000, 6);
  b[8] = f.ttl ?? 64;
  b[9] = f.proto;
  b.set(v4bytes(f.src ?? "198.18.0.2"), 12);
  b.set(v4bytes(f.dst ?? "198.18.0.1"), 16);
  if (f.options !== undefined) b.set(f.options, 20);
  b.writeUInt16BE(inetChecksum(b.subarray(0, hl)), 10);
  b.set(payload, hl);
  return b;
}

/** The IPv4 pseudo-header for a transport checksum. */
export function pseudo4(src: string, dst: string, proto: number, len: number): Buffer {
  const b = Buffer.alloc(12);
  b.set(v4bytes(src), 0);
  b.set(v4bytes(dst), 4);
  b[9] = proto;
  b.writeUInt16BE(len, 10);
  return b;
}

/** fd18::1 and fd18::2, the addresses quoted packets use by default. */
export const FD18_1 = Uint8Array.from([0xfd, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
export const FD18_2 = Uint8Array.from([0xfd, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
/** ::1 */
export const LO6 = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/** A 40-byte IPv6 header followed by `payload`. */
export function ipv6(
  nextHeader: number,
  payload: Uint8Array,
  hopLimit = 64,
  src: Uint8Array = FD18_1,
  dst: Uint8Array = FD18_2,
): Buffer {
  const b = Buffer.alloc(40 + payload.length);
  b.writeUInt32BE(0x60000000, 0);
  b.writeUInt16BE(payload.length, 4);
  b[6] = nextHeader;
  b[7] = hopLimit;
  b.set(src, 8);
  b.set(dst, 24);
  b.set(payload, 40);
  return b;
}

/** The IPv6 pseudo-header for a transport checksum (RFC 8200 section 8.1). */
export function pseudo6(src: Uint8Array, dst: Uint8Array, nextHeader: number, len: number): Buffer {
  const b = Buffer.alloc(40);
  b.set(src, 0);
  b.set(dst, 16);
  b.writeUInt32BE(len, 32);
  b[39] = nextHeader;
  return b;
}

/** Writes the checksum of `msg` (with `pseudo` in front) at `offset`, which must hold 0. Returns msg. */
export function withChecksum(msg: Buffer, pseudo: Uint8Array, offset: number): Buffer {
  msg.writeUInt16BE(0, offset);
  msg.writeUInt16BE(inetChecksum(pseudo, msg), offset);
  return msg;
}
