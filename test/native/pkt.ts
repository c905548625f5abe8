// Test-only packet and cBPF builders for the native addon's integration tests. Deliberately tiny and
// independent of src/packet/ (the real codecs), so a bug there cannot hide a bug in the addon and
// vice versa. Builds IPv4/IPv6 headers with TCP SYN, UDP and ICMP/ICMPv6 echo payloads, and a few
// hand-written classic BPF filters (struct sock_filter, little-endian, 8 bytes each).

export const LO4 = Uint8Array.of(127, 0, 0, 1);
export const LO6 = Uint8Array.from([...new Array(15).fill(0), 1]);

function sum(b: Uint8Array, start: number, end: number, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return acc;
}

function fold(acc: number): number {
  let s = acc;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

function put32(b: Uint8Array, o: number, v: number): void {
  put16(b, o, v >>> 16);
  put16(b, o + 2, v & 0xffff);
}

/** IP header + transport bytes, with the transport checksum at `csumAt` (relative to transport). */
function wrap(
  family: 4 | 6,
  proto: number,
  src: Uint8Array,
  dst: Uint8Array,
  l4: Uint8Array,
  csumAt: number,
) {
  const ipLen = family === 4 ? 20 : 40;
  const p = new Uint8Array(ipLen + l4.length);
  if (family === 4) {
    p[0] = 0x45;
    put16(p, 2, p.length);
    put16(p, 4, 0x4242);
    p[8] = 64;
    p[9] = proto;
    p.set(src, 12);
    p.set(dst, 16);
    put16(p, 10, fold(sum(p, 0, 20)));
  } else {
    p[0] = 0x60;
    put16(p, 4, l4.length);
    p[6] = proto;
    p[7] = 64;
    p.set(src, 8);
    p.set(dst, 24);
  }
  p.set(l4, ipLen);
  if (csumAt >= 0) {
    // ICMPv4 has no pseudo-header; TCP, UDP and ICMPv6 do.
    let acc = 0;
    if (!(family === 4 && proto === 1)) {
      acc = sum(src, 0, src.length) + sum(dst, 0, dst.length) + proto + l4.length;
    }
    let c = fold(sum(p, ipLen, p.length, acc));
    if (proto === 17 && c === 0) c = 0xffff;
    put16(p, ipLen + csumAt, c);
  }
  return p;
}

export function tcpSyn(
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  seq: number,
) {
  const t = new Uint8Array(20);
  put16(t, 0, sport);
  put16(t, 2, dport);
  put32(t, 4, seq);
  t[12] = 5 << 4;
  t[13] = 0x02; // SYN
  put16(t, 14, 65535);
  return wrap(family, 6, src, dst, t, 16);
}

export function udp(
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload = 8,
) {
  const u = new Uint8Array(8 + payload);
  put16(u, 0, sport);
  put16(u, 2, dport);
  put16(u, 4, u.length);
  return wrap(family, 17, src, dst, u, 6);
}

export function echo(family: 4 | 6, src: Uint8Array, dst: Uint8Array, ident: number, seq: number) {
  const e = new Uint8Array(16);
  e[0] = family === 4 ? 8 : 128;
  put16(e, 4, ident);
  put16(e, 6, seq);
  return wrap(family, family === 4 ? 1 : 58, src, dst, e, 2);
}

// ---- classic BPF ----

type Insn = [code: number, jt: number, jf: number, k: number];

export function assemble(prog: Insn[]): Uint8Array {
  const out = new Uint8Array(prog.length * 8);
  const v = new DataView(out.buffer);
  prog.forEach(([code, jt, jf, k], i) => {
    v.setUint16(i * 8, code, true);
    out[i * 8 + 2] = jt;
    out[i * 8 + 3] = jf;
    v.setUint32(i * 8 + 4, k >>> 0, true);
  });
  return out;
}

const LDX_MSH = 0xb1; // X = 4 * (pkt[k] & 0xf)
const LDH_IND = 0x48; // A = u16 pkt[X + k]
const LDB_IND = 0x50; // A = u8 pkt[X + k]
const LDH_ABS = 0x28;
const LDB_ABS = 0x30;
const JEQ = 0x15;
const RET = 0x06;

/**
 * TCP segments from port `from` to port `to`. On IPv4 raw sockets the IP header comes first (skipped
 * with the MSH trick); on IPv6 raw sockets the TCP header is at offset 0.
 */
export function tcpPortsFilter(family: 4 | 6, from: number, to: number): Uint8Array {
  if (family === 4) {
    return assemble([
      [LDX_MSH, 0, 0, 0],
      [LDH_IND, 0, 0, 0],
      [JEQ, 0, 3, from],
      [LDH_IND, 0, 0, 2],
      [JEQ, 0, 1, to],
      [RET, 0, 0, 0xffff],
      [RET, 0, 0, 0],
    ]);
  }
  return assemble([
    [LDH_ABS, 0, 0, 0],
    [JEQ, 0, 3, from],
    [LDH_ABS, 0, 0, 2],
    [JEQ, 0, 1, to],
    [RET, 0, 0, 0xffff],
    [RET, 0, 0, 0],
  ]);
}

/** ICMP (v4: type at IP header + 0) or ICMPv6 (type at offset 0) messages of one of two types. */
export function icmpTypesFilter(family: 4 | 6, a: number, b: number): Uint8Array {
  const load: Insn[] =
    family === 4
      ? [
          [LDX_MSH, 0, 0, 0],
          [LDB_IND, 0, 0, 0],
        ]
      : [[LDB_ABS, 0, 0, 0]];
  return assemble([...load, [JEQ, 1, 0, a], [JEQ, 0, 1, b], [RET, 0, 0, 0xffff], [RET, 0, 0, 0]]);
}

/** Accept nothing: a socket with this filter never receives. */
export const DROP_ALL = assemble([[RET, 0, 0, 0]]);

/** Offset of the transport header in a received packet: IPv4 raw sockets include the IP header. */
export function l4Offset(family: 4 | 6, pkt: Uint8Array, at = 0): number {
  return family === 4 ? at + (pkt[at]! & 0xf) * 4 : at;
}

/** TCP segments from port `from` to a port in [lo, hi] (replies to a range of our source ports). */
export function tcpPortRangeFilter(family: 4 | 6, from: number, lo: number, hi: number): Uint8Array {
  const JGE = 0x35;
  const JGT = 0x25;
  const head: Insn[] =
    family === 4
      ? [
          [LDX_MSH, 0, 0, 0],
          [LDH_IND, 0, 0, 0],
        ]
      : [[LDH_ABS, 0, 0, 0]];
  const dport: Insn = family === 4 ? [LDH_IND, 0, 0, 2] : [LDH_ABS, 0, 0, 2];
  return assemble([
    ...head,
    [JEQ, 0, 4, from],
    dport,
    [JGE, 0, 2, lo],
    [JGT, 1, 0, hi],
    [RET, 0, 0, 0xffff],
    [RET, 0, 0, 0],
  ]);
}
