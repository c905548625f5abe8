// Property tests (fast-check): for random valid options, what the builders write is what the parsers
// read back, every checksum verifies, the RFC 1624 incremental update equals a full recomputation,
// and an ICMP error quoting a random probe (cut anywhere from 8 bytes on) yields its matching keys.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  buildPacket,
  buildTransport,
  formatAddress,
  ICMP,
  IPV4,
  type IPv4Header,
  type IPv6Header,
  internetChecksum,
  ipv4HeaderChecksumOk,
  onesSum,
  type PacketOptions,
  packetLength,
  parseAddress,
  parseIcmp,
  parseIcmp6,
  parseIPv4Packet,
  parseIPv6Packet,
  parseIPv6Transport,
  patch16,
  patch32,
  pseudoSum6,
  rstForSynAck,
  TCP,
  TcpFlag,
  transportChecksumOk4,
  transportChecksumOk6,
  UDP,
  writeChecksum,
  writeIcmpErrorHeader,
  writeIPv4Header,
  writeIPv6Header,
} from "../../src/packet/index.js";

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const options: fc.Arbitrary<PacketOptions> = fc
  .record({
    protocol: fc.constantFrom("tcp-syn" as const, "udp" as const, "icmp-echo" as const),
    v6: fc.boolean(),
    src4: bytes(4),
    dst4: bytes(4),
    src6: bytes(16),
    dst6: bytes(16),
    srcPort: u16,
    dstPort: u16,
    seq32: u32,
    seq16: u16,
    icmpId: u16,
    tag: u32,
    id: u16,
    dscp: fc.integer({ min: 0, max: 63 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    df: fc.boolean(),
    ttl: fc.integer({ min: 0, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    extra: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 1472 })),
  })
  .map((r) => ({
    protocol: r.protocol,
    src: r.v6 ? r.src6 : r.src4,
    dst: r.v6 ? r.dst6 : r.dst4,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    seq: r.protocol === "tcp-syn" ? r.seq32 : r.seq16,
    icmpId: r.icmpId,
    tag: r.tag,
    id: r.id,
    dscp: r.dscp,
    ecn: r.ecn,
    df: r.df,
    ttl: r.ttl,
    flowLabel: r.flowLabel,
    payloadSize: { "tcp-syn": 20, udp: 8, "icmp-echo": 8 }[r.protocol] + r.extra,
  }));

const buf = new Uint8Array(1600);

describe("packet codecs: build → parse round trip (fast-check)", () => {
  test("every field written is read back and every checksum verifies", () => {
    fc.assert(
      fc.property(options, (o) => {
        const n = buildPacket(buf, 0, o);
        assert.equal(n, packetLength(o));
        const v6 = o.src.length === 16;
        const p = v6 ? parseIPv6Packet(buf, 0, n) : parseIPv4Packet(buf, 0, n);
        assert.ok(p?.ip);
        const size = o.payloadSize!;
        assert.equal(formatAddress(buf, p.ip.srcOffset, v6 ? 6 : 4), formatAddress(o.src));
        assert.equal(formatAddress(buf, p.ip.dstOffset, v6 ? 6 : 4), formatAddress(o.dst));
        assert.equal(p.ip.dscp, o.dscp);
        assert.equal(p.ip.ecn, o.ecn);
        let tOff: number;
        if (v6) {
          const h = p.ip as IPv6Header;
          assert.deepEqual([h.flowLabel, h.payloadLength, h.hopLimit], [o.flowLabel, size, o.ttl]);
          tOff = h.payloadOffset;
          assert.ok(transportChecksumOk6(buf, tOff, size, p.protocol, o.src, 0, o.dst, 0));
          assert.deepEqual(parseIPv6Transport(buf, 40, size, p.protocol), { ...p, ip: undefined });
        } else {
          const h = p.ip as IPv4Header;
          assert.deepEqual(
            [h.id, h.df, h.ttl, h.totalLength, h.truncated],
            [o.id, o.df, o.ttl, 20 + size, false],
          );
          assert.ok(ipv4HeaderChecksumOk(buf, 0, n));
          tOff = h.payloadOffset;
          assert.ok(transportChecksumOk4(buf, tOff, size, p.protocol, o.src, 0, o.dst, 0));
        }
        if (o.protocol === "tcp-syn") {
          const t = p.tcp!;
          assert.deepEqual(
            [t.srcPort, t.dstPort, t.seq, t.ack, t.flags, t.payloadLength],
            [o.srcPort, o.dstPort, o.seq, 0, TcpFlag.SYN, size - 20],
          );
        } else if (o.protocol === "udp") {
          const u = p.udp!;
          assert.deepEqual(
            [u.srcPort, u.dstPort, u.length, u.payloadLength],
            [o.srcPort, o.dstPort, size, size - 8],
          );
          if (size >= 12) assert.equal(new DataView(buf.buffer).getUint32(tOff + UDP.TAG), o.tag);
        } else {
          const m = p.icmp!;
          assert.equal(m.kind, "echo");
          if (m.kind === "echo") assert.deepEqual([m.reply, m.id, m.seq], [false, o.icmpId, o.seq]);
        }
        const t2 = new Uint8Array(size);
        assert.equal(buildTransport(t2, 0, o), size);
        assert.deepEqual(t2, buf.subarray(tOff, tOff + size));
      }),
      { numRuns: 3000 },
    );
  });

  test("an ICMP error quoting a probe cut anywhere from 8 transport bytes on yields its keys", () => {
    fc.assert(
      fc.property(options, fc.integer({ min: 8, max: 1500 }), bytes(4), (o, cut, router) => {
        const v6 = o.src.length === 16;
        const hl = v6 ? 40 : 20;
        const inner = new Uint8Array(1600);
        const n = buildPacket(inner, 0, o);
        const quote = Math.min(n, hl + cut);
        const e = new Uint8Array(hl + 8 + quote);
        writeIcmpErrorHeader(e, hl, v6 ? 1 : 3, v6 ? 4 : 3);
        e.set(inner.subarray(0, quote), hl + 8);
        if (v6) {
          writeChecksum(e, hl, 8 + quote, pseudoSum6(o.dst, 0, o.src, 0, 58, 8 + quote), hl + ICMP.CHECKSUM);
          writeIPv6Header(e, 0, {
            payloadLength: 8 + quote,
            nextHeader: 58,
            hopLimit: 64,
            src: o.dst,
            dst: o.src,
          });
        } else {
          writeChecksum(e, hl, 8 + quote, 0, hl + ICMP.CHECKSUM);
          writeIPv4Header(e, 0, {
            totalLength: e.length,
            id: 0,
            df: false,
            ttl: 64,
            protocol: 1,
            src: router,
            dst: o.src,
          });
        }
        const m = v6 ? parseIcmp6(e, hl, 8 + quote) : parseIcmp(e, hl, 8 + quote);
        assert.equal(m?.kind, "error");
        if (m?.kind !== "error") return;
        const q = m.quoted;
        assert.equal(q.family, v6 ? 6 : 4);
        assert.equal(q.ipId, v6 ? undefined : o.id);
        assert.equal(q.flowLabel, v6 ? o.flowLabel : undefined);
        assert.equal(q.ttl, o.ttl);
        assert.equal(formatAddress(e, q.dstOffset, q.family), formatAddress(o.dst));
        if (o.protocol === "tcp-syn")
          assert.deepEqual([q.srcPort, q.dstPort, q.tcpSeq], [o.srcPort, o.dstPort, o.seq]);
        if (o.protocol === "udp") {
          const tagged = o.payloadSize! >= 12 && quote - hl >= 12;
          assert.deepEqual([q.srcPort, q.dstPort, q.tag], [o.srcPort, o.dstPort, tagged ? o.tag : undefined]);
        }
        if (o.protocol === "icmp-echo") assert.deepEqual([q.icmpId, q.icmpSeq], [o.icmpId, o.seq]);
        // The whole datagram parses too (the entry point a raw socket uses).
        const whole = v6 ? parseIPv6Packet(e, 0, e.length) : parseIPv4Packet(e, 0, e.length);
        assert.deepEqual(whole?.icmp, m);
      }),
      { numRuns: 2000 },
    );
  });
});

/** Reference: RFC 1071 one 16-bit word at a time. */
function naiveSum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

describe("checksums", () => {
  test("the 32-bit-step sum equals the word-by-word RFC 1071 sum on any range", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.nat(), (b, x, y) => {
        const off = b.length === 0 ? 0 : x % b.length;
        const len = b.length - off === 0 ? 0 : y % (b.length - off + 1);
        assert.equal(onesSum(b, off, len), naiveSum(b, off, len));
      }),
      { numRuns: 5000 },
    );
  });

  test("RFC 1624 patches equal a full recomputation (IPv4 ID, TCP seq, UDP tag, ICMP id/seq)", () => {
    fc.assert(
      fc.property(options, u32, u16, (o, v32, v16) => {
        const n = buildPacket(buf, 0, o);
        const v6 = o.src.length === 16;
        const t = v6 ? 40 : 20;
        const size = n - t;
        if (!v6) patch16(buf, IPV4.ID, v16, IPV4.CHECKSUM);
        if (o.protocol === "tcp-syn") patch32(buf, t + TCP.SEQ, v32, t + TCP.CHECKSUM);
        else if (o.protocol === "udp" && size >= 12) patch32(buf, t + UDP.TAG, v32, t + UDP.CHECKSUM, true);
        else if (o.protocol === "icmp-echo") {
          patch16(buf, t + ICMP.ID, v16, t + ICMP.CHECKSUM);
          patch16(buf, t + ICMP.SEQ, v32 & 0xffff, t + ICMP.CHECKSUM);
        }
        const p = v6 ? parseIPv6Packet(buf, 0, n) : parseIPv4Packet(buf, 0, n);
        assert.ok(p);
        if (!v6) {
          assert.ok(ipv4HeaderChecksumOk(buf, 0, n));
          assert.equal((p.ip as IPv4Header).id, v16);
        }
        const ok = v6
          ? transportChecksumOk6(buf, t, size, p.protocol, o.src, 0, o.dst, 0)
          : transportChecksumOk4(buf, t, size, p.protocol, o.src, 0, o.dst, 0);
        assert.ok(ok, "checksum after patch");
        if (o.protocol === "tcp-syn") assert.equal(p.tcp?.seq, v32);
        // And the patched field's checksum equals what a fresh computation writes (up to ±0 for UDP).
        const sumOff =
          t + { "tcp-syn": TCP.CHECKSUM, udp: UDP.CHECKSUM, "icmp-echo": ICMP.CHECKSUM }[o.protocol];
        const before = (buf[sumOff]! << 8) | buf[sumOff + 1]!;
        const pseudo = v6 || o.protocol !== "icmp-echo" ? undefined : 0;
        if (pseudo === 0) assert.equal(before, writeChecksum(buf, t, size, 0, sumOff));
      }),
      { numRuns: 3000 },
    );
  });

  test("checksum of the RFC 1071 §3 example bytes", () => {
    const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    assert.equal(onesSum(b, 0, 8), 0xddf2);
    assert.equal(internetChecksum(b, 0, 8), 0x220d);
  });
});

describe("addresses and TCP replies", () => {
  test("text → bytes → text is the canonical form", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const a = parseAddress(text);
        assert.ok(a);
        const back = formatAddress(a);
        assert.deepEqual(parseAddress(back), a);
        assert.equal(formatAddress(parseAddress(back)!), back);
      }),
    );
    assert.equal(formatAddress(parseAddress("fd18:0:0:1:0:0:0:0")!), "fd18:0:0:1::");
    assert.equal(formatAddress(parseAddress("fd18:0:1:0:0:1:0:0")!), "fd18:0:1::1:0:0");
    assert.equal(parseAddress("198.18.0.256"), undefined);
  });

  test("the RST answering a SYN-ACK swaps ports and uses its ACK as sequence", () => {
    fc.assert(
      fc.property(u16, u16, u32, (sp, dp, ack) => {
        const r = rstForSynAck({ srcPort: sp, dstPort: dp, ack });
        assert.deepEqual([r.srcPort, r.dstPort, r.seq, r.flags], [dp, sp, ack, TcpFlag.RST]);
      }),
    );
  });
});
