// fast-check generators of filter options and packets for the BPF tests: pure noise, and packets built
// around the options' boundaries (ports and identifiers at lo - 1, lo, hi, hi + 1; acks at the window's
// edges; plausible flags and ICMP types), then sometimes truncated or corrupted, so that both verdicts
// are frequent.

import fc from "fast-check";
import type { IcmpFilterOptions } from "../../src/bpf/icmp.js";
import type { U16Range } from "../../src/bpf/match.js";
import type { TcpReplyFilterOptions } from "../../src/bpf/tcp.js";

export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const range = fc
  .tuple(u16, fc.integer({ min: 0, max: 300 }))
  .map(([lo, span]): U16Range => ({ lo, hi: Math.min(0xffff, lo + span) }));
export const idSet = fc.array(fc.oneof(u16, range), { minLength: 1, maxLength: 5 });

/** A value close to one of the edges of `r` (or anywhere), clamped to 16 bits. */
const near16 = (r: U16Range | undefined) =>
  likely(
    fc
      .constantFrom(...(r ? [r.lo - 1, r.lo, r.lo, r.hi, r.hi, r.hi + 1] : [0]))
      .map((v) => Math.max(0, Math.min(0xffff, v))),
    u16,
  );
const nearSet = (set: readonly (number | U16Range)[] | undefined) =>
  set === undefined || set.length === 0
    ? u16
    : fc.constantFrom(...set).chain((e) => near16(typeof e === "number" ? { lo: e, hi: e } : e));

/** An optional IPv4 header (random IHL and protocol, usually plausible) in front of `body`. */
function withIpv4(body: Uint8Array, proto: number) {
  return fc
    .record({
      ihl: likely(fc.constant(5), fc.integer({ min: 0, max: 15 })),
      proto: likely(fc.constant(proto), fc.integer({ min: 0, max: 255 })),
      fill: fc.integer({ min: 0, max: 255 }),
    })
    .map(({ ihl, proto: p, fill }) => {
      const hl = Math.max(ihl, 5) * 4;
      const b = new Uint8Array(hl + body.length).fill(fill, 20, hl);
      b[0] = 0x40 | ihl;
      b[9] = p;
      // When ihl < 5 the body still starts at 20 but the filter looks at ihl * 4: pure garbage, fine.
      b.set(body, hl);
      return b;
    });
}

/** Truncates and/or overwrites one byte, sometimes. */
function damage(pkt: Uint8Array) {
  return fc
    .record({
      cut: likely(fc.constant(null), fc.integer({ min: 0, max: pkt.length })),
      at: likely(fc.constant(null), fc.integer({ min: 0, max: Math.max(0, pkt.length - 1) })),
      byte: fc.integer({ min: 0, max: 255 }),
    })
    .map(({ cut, at, byte }) => {
      const b = Uint8Array.from(pkt);
      if (at !== null && at < b.length) b[at] = byte;
      return cut === null ? b : b.subarray(0, cut);
    });
}

export const noise = fc.uint8Array({ minLength: 0, maxLength: 100 });

/** `usual` three times out of four, `other` otherwise. */
export function likely<T, U>(usual: fc.Arbitrary<T>, other: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ arbitrary: usual, weight: 3 }, { arbitrary: other, weight: 1 });
}

export const tcpOpts = fc.record({
  family: fc.constantFrom(4 as const, 6 as const),
  ports: range,
  ackWindow: fc.option(fc.record({ lo: u32, hi: u32 }), { nil: undefined }),
  accept: fc
    .record({ synAck: fc.boolean(), rstAck: fc.boolean(), rst: fc.boolean() })
    .filter((a) => a.synAck || a.rstAck || a.rst),
}) as fc.Arbitrary<TcpReplyFilterOptions>;

export function tcpPacket(o: TcpReplyFilterOptions): fc.Arbitrary<Uint8Array> {
  const w = o.ackWindow;
  const ack = w
    ? likely(
        fc.constantFrom(w.lo, w.lo + 1, w.hi + 1, w.hi + 2).map((v) => v % 2 ** 32),
        u32,
      )
    : u32;
  const header = fc
    .record({
      dport: near16(o.ports),
      flags: likely(
        fc.constantFrom(0x12, 0x14, 0x04, 0x02, 0x10, 0x11, 0x5a, 0x1c),
        fc.integer({ min: 0, max: 255 }),
      ),
      ack,
      rest: fc.uint8Array({ minLength: 20, maxLength: 20 }),
    })
    .map(({ dport, flags, ack: a, rest }) => {
      const t = Buffer.from(rest);
      t.writeUInt16BE(dport, 2);
      t.writeUInt32BE(a, 8);
      t[13] = flags;
      return t;
    });
  const framed = o.family === 4 ? header.chain((t) => withIpv4(t, 6)) : header;
  return likely(framed.chain(damage), noise);
}

export const icmpOpts = fc
  .record(
    {
      echoReplyIds: idSet,
      quotedPorts: range,
      quotedEchoIds: idSet,
      quotedProtocols: fc.subarray(["tcp", "udp"] as ("tcp" | "udp")[], { minLength: 1 }),
      unreachable: fc.boolean(),
      timeExceeded: fc.boolean(),
    },
    { requiredKeys: [] },
  )
  .map((o) => o as IcmpFilterOptions);

export function icmpPacket(v6: boolean, o: IcmpFilterOptions): fc.Arbitrary<Uint8Array> {
  const ours = v6 ? [129, 1, 3] : [0, 3, 11];
  const others = v6 ? [128, 2, 4, 135] : [8, 5, 12];
  const qlen = v6 ? 40 : 20;
  const message = fc
    .record({
      type: likely(
        fc.constantFrom(...ours),
        fc.oneof(fc.constantFrom(...others), fc.integer({ min: 0, max: 255 })),
      ),
      echoId: nearSet(o.echoReplyIds),
      qfirst: likely(fc.constant(v6 ? 0x60 : 0x45), fc.integer({ min: 0, max: 255 })),
      qfrag: likely(fc.constantFrom(0, 0x4000, 0x2000, 0x0001, 0x1fff), u16),
      qproto: likely(fc.constantFrom(6, 17, v6 ? 58 : 1), fc.integer({ min: 0, max: 255 })),
      qport: near16(o.quotedPorts),
      qtype: likely(fc.constantFrom(v6 ? 128 : 8, v6 ? 129 : 0), fc.integer({ min: 0, max: 255 })),
      qid: nearSet(o.quotedEchoIds),
    })
    .map((f) => {
      const m = Buffer.alloc(8 + qlen + 8);
      m[0] = f.type;
      m.writeUInt16BE(f.echoId, 4);
      m[8] = f.qfirst;
      if (!v6) m.writeUInt16BE(f.qfrag, 8 + 6);
      m[8 + (v6 ? 6 : 9)] = f.qproto;
      const t = 8 + qlen;
      if (f.qproto === 6 || f.qproto === 17) m.writeUInt16BE(f.qport, t);
      else {
        m[t] = f.qtype;
        m.writeUInt16BE(f.qid, t + 4);
      }
      return m;
    });
  const framed = v6 ? message : message.chain((m) => withIpv4(m, 1));
  return likely(framed.chain(damage), noise);
}
