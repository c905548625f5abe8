// The per-type facts table (src/probes/types.ts) against what users and the wire depend on: the
// config enum, the original's minimum payload sizes and metric prefixes (compat), the protocol numbers
// a built packet carries; and pinChecksum, which keeps a trace's ICMP checksum. Pure: no root.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PROBE_TYPES } from "../../src/config/schema.js";
import { CATALOG, type MetricDecl } from "../../src/metrics/catalog.js";

import {
  addressBytes,
  buildPacket,
  internetChecksum,
  minPayloadSize,
  pinChecksum,
  protocolNumber,
} from "../../src/packet/index.js";
import { isProbeKind, isTcp, PROBE_KINDS, PROBE_TYPE, tcpDataBytes } from "../../src/probes/types.js";

const DECLS: readonly MetricDecl[] = CATALOG;

describe("probe type facts (src/probes/types.ts)", () => {
  test("the config enum is the table's, in the original's order; iperf is no probe type", () => {
    assert.deepEqual([...PROBE_TYPES], ["TCPsyn", "ICMPping", "UDPunreachable"]);
    assert.deepEqual(PROBE_KINDS, PROBE_TYPES);
    assert.equal(isProbeKind("iperf"), false);
    assert.equal(isProbeKind("toString"), false, "not an inherited property");
    assert.deepEqual(["TCPsyn", "ICMPping", "UDPunreachable", "iperf", undefined].map(isTcp), [
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  test("per type: protocol numbers and header sizes agree with the codecs; compat prefixes unchanged", () => {
    const rows: [string, number, number, number, string, number][] = [
      // type, IPv4 proto, IPv6 proto, L4 header, metric prefix, tag bytes
      ["TCPsyn", 6, 6, 20, "tcpsyn", 0],
      ["ICMPping", 1, 58, 8, "icmp", 0],
      ["UDPunreachable", 17, 17, 8, "udp_unreachable", 4],
    ];
    for (const [kind, p4, p6, l4, prefix, tag] of rows) {
      assert.ok(isProbeKind(kind));
      const f = PROBE_TYPE[kind];
      assert.deepEqual(
        [f.ipProtocol[4], f.ipProtocol[6], f.l4Header, f.metricPrefix, f.tagBytes],
        [p4, p6, l4, prefix, tag],
        kind,
      );
      assert.equal(protocolNumber(f.protocol, 4), p4, kind);
      assert.equal(protocolNumber(f.protocol, 6), p6, kind);
      assert.equal(minPayloadSize(f.protocol), l4, kind);
      for (const suffix of ["sent_total", "loss_total", "loss_ratio", "round_trip_seconds"])
        assert.ok(
          DECLS.some((m) => m.name === `${prefix}_${suffix}` && m.probeType === kind),
          `${prefix}_${suffix}`,
        );
      if (f.portMismatchMetric)
        assert.ok(DECLS.some((m) => m.name === f.portMismatchMetric && m.probeType === kind));
    }
    assert.deepEqual(PROBE_TYPE.UDPunreachable.taggedPayload, { 4: 12, 6: 12 });
    assert.deepEqual(
      [tcpDataBytes("TCPsyn", 50), tcpDataBytes("TCPsyn", undefined), tcpDataBytes("UDPunreachable", 50)],
      [30, 0, 0],
    );
  });

  test("pinChecksum: any target checksum, the packet stays valid (ICMP echo, both families)", () => {
    const buf = new Uint8Array(80);
    for (const [src, dst] of [
      ["198.18.0.2", "198.18.1.1"],
      ["fd18::2", "fd18:1::1"],
    ] as const) {
      const v4 = !src.includes(":");
      const hl = v4 ? 20 : 40;
      for (let n = 0; n < 2000; n++) {
        const len = buildPacket(buf, 0, {
          protocol: "icmp-echo",
          src: addressBytes(src),
          dst: addressBytes(dst),
          icmpId: n,
          seq: n * 7,
          payloadSize: 16,
        });
        const target = n === 0 ? 0 : n === 1 ? 0xfffe : (n * 40503) & 0xffff;
        pinChecksum(buf, hl + 8, hl + 2, target);
        assert.equal((buf[hl + 2]! << 8) | buf[hl + 3]!, target, `${src} target ${target}`);
        // Valid: the one's-complement sum over the message (and IPv6 pseudo-header) is all ones.
        const pseudo = v4 ? 0 : sumPseudo6(buf, len - hl);
        assert.equal(internetChecksum(buf, hl, len - hl, pseudo), 0, `${src} target ${target}`);
      }
    }
  });
});

/** The IPv6 pseudo-header's sum for the packet in buf (addresses from its header, ICMPv6). */
function sumPseudo6(buf: Uint8Array, len: number): number {
  const p = new Uint8Array(40);
  p.set(buf.subarray(8, 40), 0);
  p[34] = len >> 8;
  p[35] = len & 0xff;
  p[39] = 58;
  let s = 0;
  for (let i = 0; i < 40; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
