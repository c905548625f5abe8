// The probe plan: round robin of source ports and addresses, stable flows, round-by-round order.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildPlan, flowLabelFor, type PlanTargetInput, sourceFor } from "../../src/engine/plan.js";
import { parseCidr } from "../../src/targets/destination.js";

const subnet = (s: string) => {
  const c = parseCidr(s);
  assert.ok(c.ok);
  return c.value;
};

const target = (over: Partial<PlanTargetInput>): PlanTargetInput => ({
  name: "t",
  type: "TCPsyn",
  family: "ipv4",
  addresses: ["198.18.1.1"],
  dstPort: 443,
  nbPackets: 4,
  dontFragment: true,
  timeout: 1,
  groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65002, dscp: 0 }],
  ...over,
});

describe("source round robin", () => {
  test("ports cycle over the range", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((k) => sourceFor(k, 10, 12, 1).port),
      [10, 11, 12, 10, 11],
    );
  });
  test("with a subnet the host cycles first, then the port advances", () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((k) => sourceFor(k, 10, 11, 3)),
      [
        { host: 0, port: 10 },
        { host: 1, port: 10 },
        { host: 2, port: 10 },
        { host: 0, port: 11 },
        { host: 1, port: 11 },
        { host: 2, port: 11 },
        { host: 0, port: 10 },
      ],
    );
  });
});

describe("buildPlan", () => {
  test("kernel-chosen source, ports round robin, one route lookup per destination", () => {
    const lookups: string[] = [];
    const p = buildPlan([target({})], (dst) => {
      lookups.push(dst);
      return "198.18.0.2";
    });
    assert.equal(p.count, 4);
    assert.deepEqual([...p.srcPort], [65000, 65001, 65002, 65000]);
    assert.deepEqual(lookups, ["198.18.1.1"]);
    assert.ok([...p.src].every((i) => p.addresses[i] === "198.18.0.2"));
  });

  test("packets are ordered round by round across series and addresses", () => {
    const p = buildPlan(
      [
        target({ name: "a", addresses: ["198.18.1.1", "198.18.1.2"], nbPackets: 2 }),
        target({
          name: "b",
          nbPackets: 3,
          groups: [{ name: "g", srcPortA: 1, srcPortZ: 1, dscp: 0, src: "198.18.0.9" }],
        }),
      ],
      () => "198.18.0.2",
    );
    const order = [...p.seriesOf].map((s, i) => `${p.series[s]!.target}:${p.addresses[p.dst[i]!]}`);
    assert.deepEqual(order, [
      "a:198.18.1.1",
      "a:198.18.1.2",
      "b:198.18.1.1",
      "a:198.18.1.1",
      "a:198.18.1.2",
      "b:198.18.1.1",
      "b:198.18.1.1",
    ]);
    assert.equal(p.addresses[p.src[2]!], "198.18.0.9", "a fixed group source is used");
  });

  test("source subnet round robin over its hosts", () => {
    const p = buildPlan(
      [
        target({
          nbPackets: 4,
          groups: [{ name: "g", srcPortA: 100, srcPortZ: 101, dscp: 0, srcSubnet: subnet("198.18.0.0/30") }],
        }),
      ],
      () => assert.fail("no route lookup with a source subnet"),
    );
    assert.deepEqual(
      [...p.src].map((i) => p.addresses[i]),
      ["198.18.0.1", "198.18.0.2", "198.18.0.1", "198.18.0.2"],
    );
    assert.deepEqual([...p.srcPort], [100, 100, 101, 101]);
  });

  test("IPv6 flow labels are 20-bit, non-zero, equal for equal flows and stable across rebuilds", () => {
    const t = target({ family: "ipv6", addresses: ["fd18:1::1"], nbPackets: 6 });
    const a = buildPlan([t], () => "fd18::2");
    const b = buildPlan([t], () => "fd18::2");
    assert.deepEqual(a.flowLabel, b.flowLabel);
    for (let i = 0; i < a.count; i++) {
      assert.ok(a.flowLabel[i]! > 0 && a.flowLabel[i]! < 1 << 20);
      const same = [...a.srcPort].indexOf(a.srcPort[i]!);
      assert.equal(a.flowLabel[i], a.flowLabel[same], "same source port, same label");
    }
    assert.notEqual(
      flowLabelFor("fd18::2", "fd18:1::1", 65000, 443, 6),
      flowLabelFor("fd18::2", "fd18:1::1", 65001, 443, 6),
    );
  });

  test("series carry the group's DSCP and payload unless the target overrides it", () => {
    const p = buildPlan(
      [
        target({
          name: "x",
          payloadSize: 100,
          groups: [{ name: "g", srcPortA: 1, srcPortZ: 2, dscp: 46, payloadSize: 60 }],
        }),
        target({ name: "y", groups: [{ name: "g", srcPortA: 1, srcPortZ: 2, dscp: 46, payloadSize: 60 }] }),
      ],
      () => "198.18.0.2",
    );
    assert.deepEqual(
      p.series.map((s) => [s.target, s.dscp, s.payloadSize]),
      [
        ["x", 46, 100],
        ["y", 46, 60],
      ],
    );
  });
});
