// ICMP echo flows over a source subnet, without the network: the plan's ICMP probes form one flow per
// source address (IPv4) or per source address and flow label (IPv6, whose label follows the group's
// port cycle), each flow's probes carrying one source and one label; a source whose probes are all
// lost is flagged by the detector, and its trace probes leave with that source and label.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { flowIndex, summarizeFlows } from "../../src/engine/flows.js";
import { InFlight } from "../../src/engine/inflight.js";
import { buildPlan, type ProbePlan } from "../../src/engine/plan.js";
import type { TraceRequest } from "../../src/engine/trace.js";
import { detect } from "../../src/paths/anomaly.js";
import { engineRunner } from "../../src/paths/engine-runner.js";
import { Ledger } from "../../src/paths/ledger.js";
import { parseCidr } from "../../src/targets/destination.js";

function icmpPlan(family: "ipv4" | "ipv6", subnet: string, ports: number, nbPackets: number): ProbePlan {
  const cidr = parseCidr(subnet);
  if (!cidr.ok) throw new Error(cidr.error);
  return buildPlan(
    [
      {
        name: "t",
        type: "ICMPping",
        family,
        addresses: [family === "ipv4" ? "198.18.1.1" : "fd18:1::1"],
        nbPackets,
        dontFragment: true,
        timeout: 1,
        groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1000 + ports - 1, dscp: 0, srcSubnet: cidr.value }],
      },
    ],
    () => {
      throw new Error("a source subnet needs no routed source");
    },
  );
}

/** Every flow's probes share its source and label; returns the flows' "src|label" keys. */
function checkFlows(p: ProbePlan): string[] {
  const idx = flowIndex(p);
  for (let i = 0; i < p.count; i++) {
    const fl = idx.flows[idx.flowOf[i]!]!;
    assert.equal(fl.src, p.addresses[p.src[i]!], `probe ${i}: source`);
    assert.equal(fl.flowLabel, p.flowLabel[i], `probe ${i}: flow label`);
    assert.equal(fl.srcPort, 0);
  }
  return idx.flows.map((f) => `${f.src}|${f.flowLabel}`);
}

describe("ICMP flows over a source subnet", () => {
  test("IPv4: one flow per source address (6 hosts of a /29), whatever the port range", () => {
    const p = icmpPlan("ipv4", "198.18.7.0/29", 4, 48);
    const keys = checkFlows(p);
    assert.equal(keys.length, 6);
    assert.deepEqual([...new Set(keys.map((k) => k.split("|")[0]))].sort(), [
      "198.18.7.1",
      "198.18.7.2",
      "198.18.7.3",
      "198.18.7.4",
      "198.18.7.5",
      "198.18.7.6",
    ]);
    const idx = flowIndex(p);
    for (let f = 0; f < idx.flows.length; f++) assert.equal(idx.start[f + 1]! - idx.start[f]!, 8);
  });

  test("IPv6: one flow per source address and flow label (7 hosts × 2 labels), each label its own flow", () => {
    const p = icmpPlan("ipv6", "fd18:7::/125", 2, 56);
    const keys = checkFlows(p);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(keys.length, 14, "7 sources × 2 ports of the group's cycle, each giving a label");
    assert.equal(new Set(keys.map((k) => k.split("|")[1])).size, 14, "14 distinct labels");
  });

  test("a source losing every probe is flagged, and its trace probes leave from it with its label", async () => {
    for (const [family, subnet] of [
      ["ipv4", "198.18.7.0/28"],
      ["ipv6", "fd18:7::/124"],
    ] as const) {
      const p = icmpPlan(family, subnet, 1, 14 * 8);
      const bad = p.addresses[p.src[3]!]!;
      const ledger = new Ledger();
      const series = p.series.map((s) => ({ target: s.target, group: s.group }));
      for (let it = 0; it < 4; it++) {
        const f = new InFlight(0, p.count, () => 1000);
        for (let i = 0; i < p.count; i++) {
          f.markSent(i, 0);
          if (p.addresses[p.src[i]!] === bad) continue;
          f.setTx(i, 1e9);
          f.reply(i, 1e9 + 1e6);
        }
        f.expire(10_000);
        ledger.record(series, summarizeFlows(p, f));
      }
      const flows = ledger.flows("t", "g");
      assert.equal(flows.length, family === "ipv4" ? 14 : 15);
      const { flagged } = detect(flows);
      assert.deepEqual(
        flagged.map((f) => f.src),
        [bad],
        `${family}: only the lossy source is flagged`,
      );
      const sent: TraceRequest[] = [];
      const runner = engineRunner(
        () => ({
          trace: async (r: readonly TraceRequest[]) => {
            sent.push(...r);
            return [];
          },
        }),
        () => p,
      );
      const f = flagged[0]!;
      await runner.trace([{ target: "t", group: "g", flow: f, ttl: 2, count: 3 }]);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.src, bad);
      assert.equal(sent[0]!.flowLabel, f.flowLabel);
      if (family === "ipv6") assert.notEqual(f.flowLabel, 0);
      assert.equal(sent[0]!.series.type, "ICMPping");
    }
  });
});
