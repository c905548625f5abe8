// The engine's warm-up (src/engine/warmup.ts): a sample spread over the plan, run on fake sockets and
// answered, so that the first real iteration finds the hot functions compiled. Needs no privileges.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Engine } from "../../src/engine/engine.js";
import { answerEverySend } from "../../src/engine/fake-answers.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import {
  samplePlan,
  WARM_UP_ENV,
  WARM_UP_FIRST_KEY,
  WARM_UP_PROBES,
  warmUp,
  warmUpNetwork,
  warmUpProbes,
} from "../../src/engine/warmup.js";
import { FakeBinding } from "../../src/native/fake.js";
import { ADDRESS_BYTES, RawSockets, SEND_RECORD_WORDS } from "../../src/native/rawsock.js";
import { IPPROTO_TCP, IPV4_HEADER_LEN, TCP, TcpFlag } from "../../src/packet/index.js";
import { fakeEngine } from "../support/fake-engine.js";

const groups = [{ name: "g", srcPortA: 65000, srcPortZ: 65003, dscp: 0 }];
const target = (name: string, over: Partial<PlanTargetInput>): PlanTargetInput => ({
  name,
  type: "TCPsyn",
  family: "ipv4",
  addresses: ["198.18.1.1"],
  dstPort: 81,
  nbPackets: 10,
  dontFragment: false,
  timeout: 1,
  groups,
  ...over,
});
const v4 = (n: number) => Array.from({ length: n }, (_, i) => `198.18.1.${i + 1}`);
const v6 = (n: number) => Array.from({ length: n }, (_, i) => `fd18::1:${(i + 1).toString(16)}`);

/** Every type in both families: 6 series of 20 addresses × 10 packets. */
const mixed = () =>
  buildPlan(
    [
      target("t4", { addresses: v4(20) }),
      target("t6", { family: "ipv6", addresses: v6(20) }),
      target("i4", { type: "ICMPping", dstPort: undefined, addresses: v4(20) }),
      target("i6", { type: "ICMPping", dstPort: undefined, family: "ipv6", addresses: v6(20) }),
      target("u4", { type: "UDPunreachable", dstPort: 33434, addresses: v4(20) }),
      target("u6", { type: "UDPunreachable", dstPort: 33434, family: "ipv6", addresses: v6(20) }),
    ],
    (dst) => (dst.includes(":") ? "fd18::2" : "198.18.0.2"),
  );

describe("engine warm-up", () => {
  test("the sample spreads over the plan: every series (the plan's own objects), the plan's own flows", () => {
    const plan = mixed();
    assert.equal(plan.count, 1200);
    const s = samplePlan(plan, 300);
    assert.equal(s.count, 300);
    assert.deepEqual(new Set(s.seriesOf), new Set(plan.seriesOf), "every series is in the sample");
    for (let k = 0; k < s.count; k++) {
      const i = Math.floor((k * plan.count) / s.count);
      assert.deepEqual(
        [s.seriesOf[k], s.dst[k], s.src[k], s.srcPort[k], s.flowLabel[k]],
        [plan.seriesOf[i], plan.dst[i], plan.src[i], plan.srcPort[i], plan.flowLabel[i]],
      );
    }
    // The same objects, so the same shapes: code compiled for copies deoptimized on the real ones.
    assert.ok(s.series.every((x, k) => x === plan.series[k]));
    assert.equal(samplePlan(plan, 5000).count, 1200, "never more than the plan");
  });

  test("every type and family runs through the engine on fake sockets, every probe answered", async () => {
    const plan = mixed();
    const w = await warmUp(plan, { families: [4, 6], ports: { lo: 65000, hi: 65003 } }, 600);
    assert.equal(w.probes, 600);
    assert.equal(w.answered, 600, "the fake answers every probe: matching ran for each");
    const none = await warmUp(plan, { families: [4, 6], ports: { lo: 65000, hi: 65003 } }, 0);
    assert.deepEqual([none.probes, none.answered], [0, 0]);
  });

  test("the sample's TCP probes meet open and closed ports alike, and are answered either way", async () => {
    // A real target's closed port answers RST-ACK, an open one SYN-ACK (and the engine resets it):
    // trained on SYN-ACKs only, the first real iteration deoptimized the match path on its first RSTs.
    const { fake, engine } = fakeEngine({
      families: [4],
      ports: { lo: 65000, hi: 65003 },
      pps: Number.POSITIVE_INFINITY,
    });
    const flags: number[] = [];
    const inject = fake.inject.bind(fake);
    fake.inject = (p) => {
      if (p.protocol === IPPROTO_TCP) flags.push(p.bytes[IPV4_HEADER_LEN + TCP.FLAGS]!);
      return inject(p);
    };
    const net = answerEverySend(fake, 20_000n, undefined, 2);
    try {
      const plan = buildPlan([target("t4", { addresses: v4(10), nbPackets: 2 })], () => "198.18.0.2");
      const r = await engine.run(plan);
      assert.deepEqual([r.series[0]!.sent, r.series[0]!.lost], [20, 0], "every probe answered");
    } finally {
      net.stop();
      engine.close();
    }
    const rstAck = TcpFlag.RST | TcpFlag.ACK;
    const synAck = TcpFlag.SYN | TcpFlag.ACK;
    assert.deepEqual(
      [flags.filter((f) => f === rstAck).length, flags.filter((f) => f === synAck).length],
      [10, 10],
      "every second one answered as by a closed port",
    );
  });

  test("the fake kernel timestamps are as far from the engine's epoch as a running daemon's", () => {
    // The engine turns (sec, nsec) into ns since its epoch. A daemon's timestamps pass 2^31 ns from
    // its third second on; a warm-up that only saw smaller ones left code speculating on 32-bit
    // integers, which the daemon's 2nd and 3rd iterations deoptimized (reason: overflow).
    const fake = warmUpNetwork();
    const engine = new Engine({
      families: [4],
      ports: { lo: 65000, hi: 65003 },
      sockets: new RawSockets(fake),
    });
    try {
      const ns = fake.clockNs - BigInt(engine.epochSec) * 1_000_000_000n;
      assert.ok(ns > 2n ** 32n, `${ns} ns after the epoch: beyond 32-bit integers`);
      assert.ok(ns < BigInt(Number.MAX_SAFE_INTEGER), "and exact as a double (RTTs to the ns)");
      const sec = Number(fake.clockNs / 1_000_000_000n);
      const nsec = Number(fake.clockNs % 1_000_000_000n);
      const rtt = (sec - engine.epochSec) * 1e9 + nsec + 20_000 - ((sec - engine.epochSec) * 1e9 + nsec);
      assert.equal(rtt, 20_000);
    } finally {
      engine.close();
    }
  });

  test("the sample's keys are of both kinds a daemon's random first key gives: above 2^31 and small", () => {
    // V8 holds keys up to 2^31 - 1 as small integers and larger ones as doubles; code warmed up on one
    // kind deoptimized on the other in the daemon's first iteration.
    assert.ok(WARM_UP_FIRST_KEY >= 2 ** 31 && WARM_UP_FIRST_KEY < 2 ** 32);
    const last = WARM_UP_FIRST_KEY + WARM_UP_PROBES - 1;
    assert.ok(last >= 2 ** 32, "the default sample wraps past 2^32 to small keys");
  });

  test("rounds of the default sample, its keys across the 2^32 wrap: every probe answered in each", async () => {
    const plan = mixed();
    const w = await warmUp(plan, { families: [4, 6], ports: { lo: 65000, hi: 65003 } }, 1024, 2);
    assert.deepEqual([w.probes, w.answered], [1024, 1024]);
  });

  test("the fake send queue copies a submission's own addresses, not the whole table (the warm-up's garbage)", async () => {
    // The warm-up submits every batch and every RST of its sample to the fake: a copy of the plan's
    // address table each time was 160 KB at 10,000 addresses, 160 MB of garbage over one warm-up.
    const fake = new FakeBinding();
    const tx = new RawSockets(fake).openTx(4);
    try {
      tx.startSender(() => undefined);
      const table = new Uint8Array(10_000 * ADDRESS_BYTES);
      table.set([198, 18, 1, 2], 9_999 * ADDRESS_BYTES);
      table.set([198, 18, 1, 3], 5_000 * ADDRESS_BYTES);
      const data = new Uint8Array(80).fill(0x45);
      const records = Uint32Array.of(0, 40, 9_999, 0, 40, 40, 5_000, 0);
      assert.equal(records.length, 2 * SEND_RECORD_WORDS);
      fake.holdSends = true;
      assert.equal(tx.submit({ data, records, addresses: table }, 0, 2, 1), true);
      const queued = fake.sockets.map((s) => s.queuedBytes).reduce((a, b) => a + b, 0);
      assert.equal(queued, 80 + 2 * ADDRESS_BYTES, "the packets and their two addresses");
      fake.holdSends = false;
      for (const s of fake.sockets) s.wakeThread();
      for (let k = 0; k < 100 && fake.sent.length < 2; k++) await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        fake.sent.map((p) => [...p.dst]),
        [
          [198, 18, 1, 2],
          [198, 18, 1, 3],
        ],
      );
    } finally {
      tx.close();
    }
  });

  test(`${WARM_UP_ENV} sets the sample size (0: off); anything else keeps the default`, () => {
    assert.equal(warmUpProbes({}), WARM_UP_PROBES);
    assert.equal(warmUpProbes({ [WARM_UP_ENV]: "0" }), 0);
    assert.equal(warmUpProbes({ [WARM_UP_ENV]: "256" }), 256);
    assert.equal(warmUpProbes({ [WARM_UP_ENV]: "many" }), WARM_UP_PROBES);
    assert.equal(warmUpProbes({ [WARM_UP_ENV]: "-3" }), WARM_UP_PROBES);
  });
});
