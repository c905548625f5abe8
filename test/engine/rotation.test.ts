// The order in which an iteration sends each lane's flows (src/engine/rotation.ts): iteration 0 is the
// plan's, every iteration sends each flow of the plan as often (a permutation inside each lane), a
// position in the burst is a different flow each iteration, and, fed through the real ledger and
// detector, a target that answers only the first probes of each burst flags nothing while a faulty
// member still is flagged. Through the engine on the fake sockets: the packets leave with the
// rotated flows and their answers match (ports included), iteration after iteration.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { flowIndex } from "../../src/engine/flows.js";
import { buildPlan, type PlanTargetInput, type ProbePlan } from "../../src/engine/plan.js";
import { laneShift, Rotation } from "../../src/engine/rotation.js";
import { samplePlan } from "../../src/engine/warmup.js";
import { detect } from "../../src/paths/anomaly.js";
import { Ledger } from "../../src/paths/ledger.js";
import { parseCidr } from "../../src/targets/destination.js";
import { fakeEngine } from "../support/fake-engine.js";
import { network } from "../support/fake-network.js";

const subnet = (s: string) => {
  const c = parseCidr(s);
  assert.ok(c.ok);
  return c.value;
};

const T = (o: Partial<PlanTargetInput>): PlanTargetInput => ({
  name: "t",
  type: "UDPunreachable",
  family: "ipv4",
  addresses: ["198.18.1.1"],
  dstPort: 33434,
  nbPackets: 16,
  dontFragment: true,
  timeout: 1,
  groups: [{ name: "g", srcPortA: 30000, srcPortZ: 30015, dscp: 0, src: "198.18.0.2" }],
  ...o,
});

const plan = (targets: PlanTargetInput[]) => buildPlan(targets, () => assert.fail("sources are fixed"));

/** A flow's fields as one string. */
const fieldsAt = (p: ProbePlan, j: number) => `${p.src[j]}|${p.srcPort[j]}|${p.flowLabel[j]}`;

/** Probe i's flow in iteration `it`, as an index of flowIndex(p).flows. */
const flowAt = (p: ProbePlan, it: number) => {
  const r = new Rotation(p, it);
  const { flowOf } = flowIndex(p);
  return (i: number) => flowOf[r.of(i)]!;
};

describe("flow rotation", () => {
  const mixed = plan([
    T({ name: "syn", type: "TCPsyn", dstPort: 443, addresses: ["198.18.1.1", "198.18.1.2"], nbPackets: 5 }),
    T({
      name: "ping6",
      type: "ICMPping",
      family: "ipv6",
      addresses: ["fd18:1::1"],
      nbPackets: 7,
      groups: [
        { name: "g", srcPortA: 30000, srcPortZ: 30001, dscp: 0, srcSubnet: subnet("fd18:7::/125") },
        { name: "h", srcPortA: 40000, srcPortZ: 40002, dscp: 0, src: "fd18::2" },
      ],
    }),
    T({ name: "udp", nbPackets: 16 }),
    T({ name: "none", nbPackets: 0 }),
    T({ name: "one", nbPackets: 1 }),
  ]);

  test("iteration 0 is the plan's order; later ones move the flows of every lane with more than one round", () => {
    const r0 = new Rotation(mixed, 0);
    for (let i = 0; i < mixed.count; i++) assert.equal(r0.of(i), i);
    assert.equal(laneShift(0, 16), 0);
    const moved = new Set<string>();
    for (let it = 1; it < 8; it++) {
      const r = new Rotation(mixed, it);
      for (let i = 0; i < mixed.count; i++)
        if (r.of(i) !== i) moved.add(mixed.series[mixed.seriesOf[i]!]!.target);
    }
    assert.deepEqual([...moved].sort(), ["ping6", "syn", "udp"]);
  });

  test("every iteration sends each flow of the plan as often, from the same series to the same address", () => {
    const base = new Map<string, number>();
    for (let i = 0; i < mixed.count; i++) {
      const k = `${mixed.seriesOf[i]}|${mixed.dst[i]}|${fieldsAt(mixed, i)}`;
      base.set(k, (base.get(k) ?? 0) + 1);
    }
    for (let it = 0; it < 100; it++) {
      const r = new Rotation(mixed, it);
      const seen = new Uint8Array(mixed.count);
      const counts = new Map<string, number>();
      for (let i = 0; i < mixed.count; i++) {
        const j = r.of(i);
        seen[j]!++;
        assert.equal(mixed.seriesOf[j], mixed.seriesOf[i], "same series");
        assert.equal(mixed.dst[j], mixed.dst[i], "same destination");
        const k = `${mixed.seriesOf[i]}|${mixed.dst[i]}|${fieldsAt(mixed, j)}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      assert.ok(
        seen.every((n) => n === 1),
        `iteration ${it}: a permutation`,
      );
      assert.deepEqual(counts, base, `iteration ${it}: the plan's flows, each as often`);
    }
  });

  test("the warm-up's sample turns too, each probe taking the flow of another of its series", () => {
    const sample = samplePlan(mixed, 13);
    let moved = 0;
    for (let it = 1; it < 4; it++) {
      const r = new Rotation(sample, it);
      const seen = new Uint8Array(sample.count);
      for (let i = 0; i < sample.count; i++) {
        const j = r.of(i);
        seen[j]!++;
        assert.equal(sample.seriesOf[j], sample.seriesOf[i]);
        if (j !== i) moved++;
      }
      assert.ok(seen.every((n) => n === 1));
    }
    assert.ok(moved > 0, "the rotated path is taken");
  });

  test("the source ports of a lane are the round robin, turned: consecutive probes take consecutive ports", () => {
    const p = plan([T({ nbPackets: 16 })]);
    for (let it = 0; it < 20; it++) {
      const r = new Rotation(p, it);
      const ports = Array.from({ length: 16 }, (_, i) => p.srcPort[r.of(i)]!);
      const first = ports[0]! - 30000;
      assert.equal(first, laneShift(it, 16));
      assert.deepEqual(
        ports,
        Array.from({ length: 16 }, (_, k) => 30000 + ((first + k) % 16)),
      );
    }
  });

  test("the last positions of a burst fall evenly on the flows: over 16 iterations each of 16 flows is among the last 10 between 8 and 12 times", () => {
    const p = plan([T({ nbPackets: 16 })]);
    const count = (rotate: boolean) => {
      const c = new Array<number>(16).fill(0);
      for (let it = 0; it < 16; it++) {
        const f = flowAt(p, rotate ? it : 0);
        for (let i = 6; i < 16; i++) c[f(i)]!++;
      }
      return c;
    };
    const before = count(false);
    assert.deepEqual([...new Set(before)].sort(), [0, 16], "without rotation: the same 10 flows every time");
    const after = count(true);
    assert.ok(
      after.every((n) => n >= 8 && n <= 12),
      `with rotation: ${after.join(" ")}`,
    );
  });

  /**
   * A target that answers only the first `answered` probes of each iteration (an ICMP rate limit that
   * refills between iterations), with `dead` flows dropped before it (a faulty member: their probes
   * never reach it and use none of its budget), through the real ledger and detector for 80
   * iterations. Returns the flows flagged at any evaluation, and the evaluations that flagged.
   */
  function rateLimited(o: { nb: number; answered: number; dead?: number[]; rotate: boolean }) {
    const p = plan([T({ nbPackets: o.nb })]);
    const { flows } = flowIndex(p);
    const ledger = new Ledger();
    const flagged = new Set<number>();
    let evaluations = 0;
    const nan = () => new Float64Array(flows.length).fill(Number.NaN);
    for (let it = 0; it < 80; it++) {
      const flowOf = flowAt(p, o.rotate ? it : 0);
      const sent = new Uint32Array(flows.length);
      const lost = new Uint32Array(flows.length);
      let budget = o.answered;
      for (let i = 0; i < p.count; i++) {
        const f = flowOf(i);
        sent[f]!++;
        if (o.dead?.includes(flows[f]!.srcPort)) lost[f]!++;
        else if (budget > 0) budget--;
        else lost[f]!++;
      }
      ledger.record([{ target: "t", group: "g" }], {
        flows,
        sent,
        lost,
        unreachable: new Uint32Array(flows.length),
        samples: new Uint32Array(flows.length),
        rttMin: nan(),
        rttP50: nan(),
        rttMax: nan(),
        replyTtl: new Uint8Array(flows.length),
      });
      const d = detect(ledger.flows("t", "g"));
      if (d.flagged.length > 0) evaluations++;
      for (const f of d.flagged) flagged.add(f.srcPort);
    }
    return { flagged: [...flagged].sort(), evaluations };
  }

  for (const [nb, answered] of [
    [16, 6],
    [16, 10],
    [16, 14],
    [32, 26],
    [64, 50],
  ] as const) {
    test(`a target answering the first ${answered} of ${nb} probes per iteration over 16 ports: flagged in the plan's order, never once rotated`, () => {
      const before = rateLimited({ nb, answered, rotate: false });
      assert.ok(before.evaluations > 0, "the old order flags the last flows of the burst");
      const after = rateLimited({ nb, answered, rotate: true });
      assert.deepEqual(after, { flagged: [], evaluations: 0 });
    });
  }

  test("a faulty member behind a rate-limited target is still flagged, and nothing else", () => {
    const r = rateLimited({ nb: 16, answered: 12, dead: [30003, 30011], rotate: true });
    assert.deepEqual(r.flagged, [30003, 30011]);
    const all = rateLimited({ nb: 64, answered: 60, dead: [30005], rotate: true });
    assert.deepEqual(all.flagged, [30005]);
  });

  test("the engine sends the rotated flows and matches their answers: each probe's flow is counted, no port mismatch", async () => {
    const { fake, engine } = fakeEngine({ ports: { lo: 30000, hi: 30015 } });
    const group6 = [{ name: "g", srcPortA: 30000, srcPortZ: 30015, dscp: 0, src: "fd18::2" }];
    const p = plan([
      T({ name: "syn4", type: "TCPsyn", dstPort: 443 }),
      T({ name: "udp6", family: "ipv6", addresses: ["fd18:1::1"], groups: group6 }),
    ]);
    const { flows } = flowIndex(p);
    // Per family (one target each): the source ports and flow labels as sent, in send order.
    let sent: Record<4 | 6, { port: number; label: number }[]> = { 4: [], 6: [] };
    const net = network(fake, (pk) => {
      const mine = sent[pk.family];
      const l4 = pk.tcp ?? pk.udp!;
      const label = pk.ip && "flowLabel" in pk.ip ? pk.ip.flowLabel : 0;
      mine.push({ port: l4.srcPort, label });
      // The first 12 of each target's burst are answered, the rest lost (a rate limit).
      return mine.length <= 12 ? { kind: "reply", rttNs: 50_000n } : { kind: "none" };
    });
    try {
      for (const it of [0, 1, 2, 3, 7]) {
        sent = { 4: [], 6: [] };
        const result = await engine.run(p, it);
        const r = new Rotation(p, it);
        const order = (family: 4 | 6) => {
          const out: number[] = [];
          for (let i = 0; i < p.count; i++)
            if (p.series[p.seriesOf[i]!]!.family === (family === 4 ? "ipv4" : "ipv6")) out.push(i);
          return out;
        };
        for (const family of [4, 6] as const) {
          const probes = order(family);
          assert.deepEqual(
            sent[family].map((x) => x.port),
            probes.map((i) => p.srcPort[r.of(i)]),
            `iteration ${it}, IPv${family}: the rotated ports`,
          );
          if (family === 6)
            assert.deepEqual(
              sent[6].map((x) => x.label),
              probes.map((i) => p.flowLabel[r.of(i)]),
              `iteration ${it}: the rotated flow labels`,
            );
        }
        if (it === 0) assert.deepEqual(sent[4].map((x) => x.port).slice(0, 3), [30000, 30001, 30002]);
        else assert.notEqual(sent[4][0]!.port, 30000, `iteration ${it} starts elsewhere`);
        for (const s of result.series) assert.deepEqual([s.target, s.sent, s.lost], [s.target, 16, 4]);
        assert.equal(result.foreign.portMismatch.size, 0, "no port mismatch");
        const { flowOf } = flowIndex(p);
        const expectLost = new Uint32Array(flows.length);
        for (const family of [4, 6] as const)
          for (const i of order(family).slice(12)) expectLost[flowOf[r.of(i)]!]!++;
        assert.deepEqual(result.flows!.lost, expectLost, `iteration ${it}: the lost probes' flows`);
        assert.deepEqual(
          [...result.flows!.sent],
          flows.map(() => 1),
        );
      }
    } finally {
      net.stop();
      engine.close();
    }
  });
});
