// Checks the pcap parser on hand-built files (both byte orders, both timestamp precisions, a torn
// last record) and on a real tcpdump capture in the lab, whose timestamps must be nanosecond.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab, parsePcap } from "../../src/lab/lab.js";
import { ping } from "../../src/lab/ping.js";

/** Builds a pcap file: magic chosen by `nano`, fields written in the given byte order. */
function buildPcap(le: boolean, nano: boolean, recs: { sec: number; frac: number; data: Buffer }[]): Buffer {
  const hdr = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, off: number) => (le ? b.writeUInt32LE(v, off) : b.writeUInt32BE(v, off));
  const w16 = (b: Buffer, v: number, off: number) => (le ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
  w32(hdr, nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(hdr, 2, 4);
  w16(hdr, 4, 6);
  w32(hdr, 65535, 16);
  w32(hdr, 1, 20);
  const parts: Buffer[] = [hdr];
  for (const r of recs) {
    const rh = Buffer.alloc(16);
    w32(rh, r.sec, 0);
    w32(rh, r.frac, 4);
    w32(rh, r.data.length, 8);
    w32(rh, r.data.length + 10, 12);
    parts.push(rh, r.data);
  }
  return Buffer.concat(parts);
}

describe("pcap parser", () => {
  const recs = [
    { sec: 1_700_000_000, frac: 123_456_789, data: Buffer.from("first packet") },
    { sec: 1_700_000_001, frac: 1, data: Buffer.from([1, 2, 3]) },
  ];

  test("nanosecond files in both byte orders keep every nanosecond", () => {
    for (const le of [true, false]) {
      const f = parsePcap(buildPcap(le, true, recs));
      assert.equal(f.nanosecond, true);
      assert.equal(f.linkType, 1);
      assert.equal(f.truncated, false);
      assert.deepEqual(
        f.records.map((r) => r.tsNs),
        [1_700_000_000_123_456_789n, 1_700_000_001_000_000_001n],
      );
      assert.deepEqual(f.records[0]?.data, Buffer.from("first packet"));
      assert.equal(f.records[1]?.origLen, 13);
    }
  });

  test("microsecond files are scaled to nanoseconds", () => {
    const f = parsePcap(buildPcap(true, false, [{ sec: 10, frac: 999_999, data: Buffer.alloc(1) }]));
    assert.equal(f.nanosecond, false);
    assert.equal(f.records[0]?.tsNs, 10_999_999_000n);
  });

  test("a torn last record is reported, not returned", () => {
    const full = buildPcap(true, true, recs);
    const f = parsePcap(full.subarray(0, full.length - 2));
    assert.equal(f.truncated, true);
    assert.equal(f.records.length, 1);
    const headerOnly = parsePcap(full.subarray(0, 30));
    assert.equal(headerOnly.truncated, true);
    assert.equal(headerOnly.records.length, 0);
  });

  test("a file that is not pcap is refused", () => {
    assert.throws(() => parsePcap(Buffer.alloc(24)), /not a pcap file/);
    assert.throws(() => parsePcap(Buffer.alloc(3)), /too short/);
  });
});

describe("lab capture (needs root)", () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ targets: [{ name: "a" }] });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("tcpdump in both namespaces records the pings with nanosecond timestamps (needs root)", async () => {
    const t = lab.target("a");
    const near = await lab.capture({ iface: t.hostIf, filter: "icmp" });
    const far = await lab.capture({ ns: t.ns, iface: t.targetIf, filter: "icmp" });
    const r = await ping(t.v4, { count: 20, interval: 0.005 });
    const [a, b] = [await near.stop(), await far.stop()];
    assert.equal(r.received, 20);
    for (const f of [a, b]) {
      assert.equal(f.nanosecond, true);
      assert.equal(f.linkType, 1);
      assert.equal(f.records.length, 40);
      // ICMP type at Ethernet 14 + IPv4 20: requests (8) and replies (0) alternate.
      assert.deepEqual(
        f.records.map((x) => x.data[34]),
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 8 : 0)),
      );
      for (let i = 1; i < f.records.length; i++) {
        assert.ok(f.records[i]!.tsNs >= f.records[i - 1]!.tsNs, "timestamps go forward");
      }
      // Real nanosecond resolution: not every stamp is a whole microsecond.
      assert.ok(f.records.some((x) => x.tsNs % 1000n !== 0n));
    }
    // Wire RTTs are positive and below what ping measured in user space (plus clock noise).
    for (let i = 0; i < 40; i += 2) {
      const wire = Number(a.records[i + 1]!.tsNs - a.records[i]!.tsNs) / 1e6;
      assert.ok(
        wire > 0 && wire < (r.rttsMs[i / 2] ?? 0) + 0.05,
        `wire ${wire} ms vs ping ${r.rttsMs[i / 2]} ms`,
      );
    }
    // The request is seen on the far side after the near side (same clock, veth in between).
    assert.ok(b.records[0]!.tsNs >= a.records[0]!.tsNs);
  });
});
