// The destination model: classification, counting without materialising, lazy bounded expansion,
// and source-subnet host indexing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  addressCount,
  expandDestination,
  parseCidr,
  parseDestination,
  subnetHost,
  subnetHostCount,
} from "../../src/targets/destination.js";

const ok = (s: string) => {
  const r = parseDestination(s);
  assert.ok(r.ok, `${s}: ${!r.ok && r.error}`);
  return r.value;
};
const bad = (s: string) => {
  const r = parseDestination(s);
  assert.ok(!r.ok, `${s} should be refused`);
  return r.error;
};

describe("parseDestination", () => {
  test("IP literals of both families, normalised", () => {
    assert.deepEqual(ok("198.18.0.1"), { kind: "ip", family: "ipv4", address: "198.18.0.1" });
    assert.deepEqual(ok("FD18:0:0::01"), { kind: "ip", family: "ipv6", address: "fd18::1" });
    assert.deepEqual(ok(" 198.18.0.1 "), { kind: "ip", family: "ipv4", address: "198.18.0.1" });
  });

  test("hostnames, lowercased; a trailing dot is allowed", () => {
    assert.deepEqual(ok("Example.ORG"), { kind: "hostname", name: "example.org" });
    assert.equal(ok("a-b.c_d.example.").kind, "hostname");
    assert.equal(ok("localhost").kind, "hostname");
  });

  test("CIDR subnets and ranges", () => {
    const c = ok("198.18.0.0/24");
    assert.equal(c.kind, "cidr");
    assert.equal(addressCount(c), 256n);
    assert.equal(addressCount(ok("fd18::/64")), 1n << 64n);
    const r = ok("198.18.*.1-5");
    assert.equal(r.kind, "range");
    assert.equal(addressCount(r), 256n * 5n);
    assert.equal(addressCount(ok("198.18.0.10-20")), 11n);
  });

  test("refusals say what is wrong", () => {
    assert.match(bad("198.18.0.256"), /octet "256"/);
    assert.match(bad("198.18.0.20-10"), /backwards/);
    assert.match(bad("198.18.0.0/33"), /0\.\.32/);
    assert.match(bad("fd18::/129"), /0\.\.128/);
    assert.match(bad("198.18.0"), /IPv4 address/);
    assert.match(bad("fd18:::1"), /IPv6/);
    assert.match(bad("-bad.example"), /hostname/);
    assert.match(bad(""), /empty/);
    assert.match(bad("fe80::1%eth0"), /IPv6/);
  });

  test("never throws on arbitrary strings", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const r = parseDestination(s);
        assert.equal(typeof r.ok, "boolean");
      }),
      { numRuns: 5000 },
    );
  });
});

describe("expandDestination", () => {
  test("a range expands in order to exactly its count", () => {
    const all = [...expandDestination(ok("198.18.0-1.254-255"), 100)];
    assert.deepEqual(all, ["198.18.0.254", "198.18.0.255", "198.18.1.254", "198.18.1.255"]);
  });

  test("a subnet includes every address (network and broadcast, as scapy did)", () => {
    const all = [...expandDestination(ok("198.18.0.0/30"), 100)];
    assert.deepEqual(all, ["198.18.0.0", "198.18.0.1", "198.18.0.2", "198.18.0.3"]);
    assert.deepEqual([...expandDestination(ok("fd18::fe/127"), 2)], ["fd18::fe", "fd18::ff"]);
  });

  test("over the ceiling it refuses before producing anything", () => {
    assert.throws(() => expandDestination(ok("198.18.0.0/16"), 65535).next(), RangeError);
    assert.equal([...expandDestination(ok("198.18.0.0/16"), 65536)].length, 65536);
  });

  test("count always equals the number of expanded addresses (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 3 }),
        (a, b, o) => {
          const lo = Math.min(a, b);
          const hi = Math.max(a, b);
          const parts = ["198", "18", "0", "1"];
          parts[o] = `${lo}-${hi}`;
          const d = ok(parts.join("."));
          assert.equal(BigInt([...expandDestination(d, 1 << 16)].length), addressCount(d));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("source subnets", () => {
  test("IPv4 leaves out network and broadcast below /31", () => {
    const c = parseCidr("198.18.0.32/29");
    assert.ok(c.ok);
    assert.equal(subnetHostCount(c.value), 6n);
    assert.equal(subnetHost(c.value, 0n), "198.18.0.33");
    assert.equal(subnetHost(c.value, 5n), "198.18.0.38");
    const p2p = parseCidr("198.18.0.0/31");
    assert.ok(p2p.ok);
    assert.equal(subnetHostCount(p2p.value), 2n);
  });

  test("IPv6 leaves out the subnet-router anycast address", () => {
    const c = parseCidr("fd18::/124");
    assert.ok(c.ok);
    assert.equal(subnetHostCount(c.value), 15n);
    assert.equal(subnetHost(c.value, 0n), "fd18::1");
  });
});
