// The engine against the in-memory fake sockets and a scripted "network" that answers what was sent:
// matching, RTT from kernel timestamps, loss, duplicates, late and forged replies, failed sends, and the
// RST we owe a SYN-ACK. Privileges and real packets are covered by the lab tests.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Engine, type EngineOptions, RX_SLOT_BYTES } from "../../src/engine/engine.js";
import { replyTo } from "../../src/engine/fake-answers.js";
import { ProbeState } from "../../src/engine/inflight.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import { lossRatio } from "../../src/engine/results.js";
import { FakeBinding, FakeSocket } from "../../src/native/fake.js";
import { monotonicNs, RawSockets } from "../../src/native/rawsock.js";
import { parseIPv4Packet, TcpFlag } from "../../src/packet/index.js";
import { fakeEngine } from "../support/fake-engine.js";
import { network, type Script } from "../support/fake-network.js";

const T = (o: Partial<PlanTargetInput>): PlanTargetInput => ({
  name: "t",
  type: "TCPsyn",
  family: "ipv4",
  addresses: ["198.18.1.1"],
  dstPort: 80,
  nbPackets: 3,
  dontFragment: true,
  timeout: 0.2,
  groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65009, dscp: 0, src: "198.18.0.2" }],
  ...o,
});

const v6group = [{ name: "g", srcPortA: 65000, srcPortZ: 65009, dscp: 0, src: "fd18::2" }];

async function runWith(
  targets: PlanTargetInput[],
  script: Script,
  setup?: (fake: FakeBinding) => void,
  options: Partial<EngineOptions> = {},
) {
  const { fake, engine } = fakeEngine(options);
  setup?.(fake);
  const net = network(fake, script);
  try {
    const plan = buildPlan(targets, () => assert.fail("sources are fixed"));
    const result = await engine.run(plan);
    return { result, fake };
  } finally {
    net.stop();
    engine.close();
  }
}

describe("engine (fake sockets)", () => {
  test("firstKey sets the first probe key; keys wrap past 2^32 and every probe is still matched", async () => {
    const { result } = await runWith(
      [T({ type: "ICMPping", dstPort: undefined, addresses: ["198.18.1.1", "198.18.1.2"] })],
      () => ({ kind: "reply", rttNs: 100_000n }),
      undefined,
      { firstKey: 2 ** 32 - 2 },
    );
    assert.equal(result.inflight.base, 2 ** 32 - 2);
    assert.deepEqual(
      Array.from({ length: 6 }, (_, i) => result.inflight.keyOf(i)),
      [2 ** 32 - 2, 2 ** 32 - 1, 0, 1, 2, 3],
    );
    const s = result.series[0]!;
    assert.deepEqual([s.sent, s.lost, s.rtts.length], [6, 0, 6]);
  });

  test("all three types, both families: every probe matched, RTT from kernel timestamps", async () => {
    const { result, fake } = await runWith(
      [
        T({ name: "syn4" }),
        T({ name: "ping6", type: "ICMPping", family: "ipv6", addresses: ["fd18:1::1"], groups: v6group }),
        T({ name: "udp4", type: "UDPunreachable", dstPort: 33434, payloadSize: 20 }),
        T({
          name: "udp6",
          type: "UDPunreachable",
          family: "ipv6",
          addresses: ["fd18:1::2"],
          dstPort: 33434,
          payloadSize: 20,
          groups: v6group,
        }),
      ],
      () => ({ kind: "reply", rttNs: 250_000n }),
    );
    for (const s of result.series) {
      assert.deepEqual([s.target, s.sent, s.lost, s.failed, s.rtts.length], [s.target, 3, 0, 0, 3]);
      for (const r of s.rtts) assert.ok(Math.abs(r - 0.00025) < 1e-9, `${s.target} rtt ${r}`);
    }
    assert.equal(result.series.find((s) => s.target === "udp4")!.icmpErrors.get("3/3"), 3);
    assert.equal(result.series.find((s) => s.target === "udp6")!.icmpErrors.get("1/4"), 3);
    const rsts = fake.sent.filter((p) => p.bytes[9] === 6 && (p.bytes[20 + 13]! & TcpFlag.RST) !== 0);
    assert.equal(rsts.length, 3, "each SYN-ACK gets our RST");
    assert.equal(result.timedOut, false);
  });

  test("answers longer than a receive slot (quotes of 1,200-byte UDP probes, echo replies) match from their headers", async () => {
    // The rings keep RX_SLOT_BYTES of each packet: what matching reads, not the whole answer.
    const slotBytes: number[] = [];
    const start = FakeSocket.prototype.startReceiver;
    FakeSocket.prototype.startReceiver = function (this: FakeSocket, mode, slots, bytes, cb) {
      if (bytes > 0) slotBytes.push(bytes);
      return start.call(this, mode, slots, bytes, cb);
    };
    try {
      const big = { dstPort: 33434, payloadSize: 1200 };
      const { result } = await runWith(
        [
          T({ name: "udp4", type: "UDPunreachable", ...big }),
          T({
            name: "udp6",
            type: "UDPunreachable",
            family: "ipv6",
            addresses: ["fd18:1::2"],
            ...big,
            groups: v6group,
          }),
          T({ name: "ping4", type: "ICMPping", payloadSize: 1200 }),
          T({
            name: "ping6",
            type: "ICMPping",
            family: "ipv6",
            addresses: ["fd18:1::1"],
            payloadSize: 1200,
            groups: v6group,
          }),
        ],
        () => ({ kind: "reply", rttNs: 250_000n }),
      );
      assert.equal(RX_SLOT_BYTES, 256);
      assert.deepEqual(slotBytes, [256, 256, 256, 256], "two RX sockets per family, 256 bytes a slot");
      for (const s of result.series)
        assert.deepEqual([s.target, s.sent, s.lost, s.rtts.length], [s.target, 3, 0, 3]);
    } finally {
      FakeSocket.prototype.startReceiver = start;
    }
  });

  test("per flow, the reply's TTL (IPv4 header) and hop limit (IPv6, from the receive metadata) are kept", async () => {
    // The fake network answers with TTL / hop limit 60 (the fake addon's own default is 64).
    const { result } = await runWith(
      [
        T({ name: "syn4" }),
        T({ name: "syn6", family: "ipv6", addresses: ["fd18:1::1"], groups: v6group }),
        T({ name: "ping6", type: "ICMPping", family: "ipv6", addresses: ["fd18:1::2"], groups: v6group }),
      ],
      () => ({ kind: "reply", rttNs: 250_000n }),
    );
    const f = result.flows!;
    const byDst = new Map<string, number[]>();
    for (const [i, x] of f.flows.entries()) byDst.set(x.dst, [...(byDst.get(x.dst) ?? []), f.replyTtl[i]!]);
    assert.deepEqual([...byDst.keys()].sort(), ["198.18.1.1", "fd18:1::1", "fd18:1::2"]);
    for (const [dst, ttls] of byDst)
      assert.ok(
        ttls.every((t) => t === 60),
        `${dst}: ${ttls}`,
      );
  });

  test("loss, duplicates and late answers are counted apart", async () => {
    const { result } = await runWith([T({ nbPackets: 6, timeout: 0.05 })], (_p, _s, i) => {
      if (i === 0) return { kind: "none" };
      if (i === 1) return { kind: "reply", rttNs: 1_000_000n, times: 3 };
      if (i === 2) return { kind: "reply", rttNs: 400_000_000n }; // after its 50 ms timeout
      return { kind: "reply", rttNs: 1_000_000n };
    });
    const s = result.series[0]!;
    assert.deepEqual([s.sent, s.lost, s.duplicates, s.rtts.length], [6, 2, 2, 4]);
  });

  test("forged replies never match: wrong ack, wrong source, wrong port", async () => {
    const { result } = await runWith([T({ nbPackets: 3, timeout: 0.05 })], (_p, _s, i) => {
      // The ack's top byte changed: the key falls outside every iteration's range.
      if (i === 0)
        return { kind: "reply", rttNs: 1_000_000n, mutate: (b) => (b[20 + 8] = (b[20 + 8]! + 0x80) & 0xff) };
      if (i === 1) return { kind: "reply", rttNs: 1_000_000n, src: Uint8Array.of(198, 18, 9, 9) };
      return { kind: "reply", rttNs: 1_000_000n, mutate: (b) => (b[20 + 1] = (b[20 + 1]! + 1) & 0xff) };
    });
    const s = result.series[0]!;
    assert.deepEqual([s.sent, s.lost], [3, 3]);
    assert.equal(result.foreign.tcpAckMismatch.get("198.18.1.1"), 1);
    assert.equal(result.foreign.addressMismatch, 1);
    assert.equal(result.foreign.portMismatch.get("t"), 1);
  });

  test("an ICMP error from a router is not an answer: the probe ends unreachable, counted by type/code", async () => {
    const router4 = Uint8Array.of(198, 18, 0, 1);
    const router6 = Uint8Array.from([0xfd, 0x18, ...new Array(13).fill(0), 1]);
    const udp = (family: "ipv4" | "ipv6", name: string) =>
      T({
        name,
        type: "UDPunreachable",
        family,
        addresses: [family === "ipv4" ? "198.18.1.1" : "fd18::1:1"],
        dstPort: 33434,
        payloadSize: 16,
        nbPackets: 4,
        timeout: 0.05,
        ...(family === "ipv6" ? { groups: v6group } : {}),
      });
    const { result } = await runWith([udp("ipv4", "u4"), udp("ipv6", "u6")], (p, _s, i) => {
      // Probes 0 and 1 of each family: port unreachable from a router on the way; the rest from
      // the destination (the answer).
      if ((i >> 1) % 2 === 0)
        return { kind: "reply", rttNs: 1_000_000n, src: p.family === 4 ? router4 : router6 };
      return { kind: "reply", rttNs: 1_000_000n };
    });
    for (const s of result.series) {
      assert.equal(s.sent, 4, s.target);
      assert.equal(s.sent - s.lost - s.unreachable, s.rtts.length + s.untimed + s.negativeRtt, s.target);
      assert.deepEqual([s.lost, s.unreachable], [0, s.sent - s.rtts.length], s.target);
      assert.ok(s.unreachable > 0, `${s.target}: some probes unreachable`);
      const code = s.target === "u4" ? "3/3" : "1/4";
      assert.deepEqual([...s.unreachableBy], [[code, s.unreachable]], s.target);
      assert.deepEqual(
        [...s.icmpErrors],
        [[code, s.rtts.length]],
        `${s.target}: the destination's errors answer`,
      );
      assert.equal(lossRatio(s), s.unreachable / s.sent, `${s.target}: the compat loss counts them`);
    }
    assert.deepEqual(
      [...result.foreign.unreachableFrom.keys()].sort(),
      ["198.18.0.1", "fd18::1"],
      "the router's addresses, for the log",
    );
  });

  test("a failed send is counted as failed, not as network loss", async () => {
    const fake = new FakeBinding();
    fake.clockNs = BigInt(Date.now()) * 1_000_000n;
    fake.failNext(101, 1); // ENETUNREACH
    const engine = new Engine({
      sockets: new RawSockets(fake),
      families: [4],
      ports: { lo: 65000, hi: 65009 },
    });
    try {
      const net = network(fake, () => ({ kind: "reply", rttNs: 1000n }));
      const r = await engine.run(buildPlan([T({ nbPackets: 2 })], () => "x"));
      net.stop();
      assert.deepEqual([r.series[0]!.failed, r.series[0]!.sent, r.series[0]!.lost], [1, 1, 0]);
      assert.deepEqual([...r.sendErrors], [["ENETUNREACH", 1]]);
    } finally {
      engine.close();
    }
  });

  test("a reply with the key of a probe the kernel refused does not answer it, and is counted as foreign", async () => {
    const { fake, engine } = fakeEngine({ families: [4] });
    fake.failNext(101, 1); // ENETUNREACH: the first probe never leaves
    // Its very reply, from its destination (forged, or another prober's packet with that key), is
    // on the wire before the second probe's answer: injected when the network sees the second
    // probe, so it reaches the engine while the iteration still listens (a timer of its own raced
    // the answer, and the iteration could end before the forgery was sent).
    const net = network(fake, () => {
      for (const sent of fake.refused.splice(0)) {
        const p = parseIPv4Packet(sent.bytes, 0, sent.bytes.length)!;
        const r = replyTo(p, sent);
        fake.inject({ family: 4, protocol: r.protocol, bytes: r.bytes, src: sent.dst });
      }
      return { kind: "reply", rttNs: 1000n };
    });
    try {
      const r = await engine.run(buildPlan([T({ type: "ICMPping", dstPort: 0, nbPackets: 2 })], () => "x"));
      const s = r.series[0]!;
      assert.deepEqual([s.failed, s.sent, s.lost, s.rtts.length], [1, 1, 0, 1]);
      assert.equal(r.received, 2);
      assert.equal(r.foreign.unknownKey, 1, "counted, not dropped silently");
    } finally {
      net.stop();
      engine.close();
    }
  });

  test("a receive handler that throws and a receive thread that stops are counted, and the sockets are read again", async () => {
    // A bug stands in: handling the first TCP packet throws. That record is skipped and counted.
    const proto = Engine.prototype as unknown as {
      onPacket: (rx: { protocol: number }, ...a: unknown[]) => void;
    };
    const onPacket = proto.onPacket;
    let left = 1;
    proto.onPacket = function (this: unknown, rx, ...a) {
      if (rx.protocol === 6 && left-- > 0) throw new TypeError("a receive handler failed");
      return onPacket.call(this, rx, ...a);
    };
    const { result } = await runWith(
      [
        T({ name: "tcp", nbPackets: 4, timeout: 5 }),
        T({ name: "ping", type: "ICMPping", nbPackets: 4, timeout: 5 }),
      ],
      () => ({ kind: "reply", rttNs: 1000n }),
      (fake) => {
        const rx = (protocol: number) => fake.sockets.find((x) => x.family === 4 && x.protocol === protocol)!;
        rx(1).failPoll(9); // EBADF: the ICMP socket's receive thread stops on an error
      },
    ).finally(() => {
      proto.onPacket = onPacket;
    });
    const lost = result.series.map((s) => [s.target, s.sent, s.lost]);
    assert.deepEqual(lost, [
      ["tcp", 4, 1], // the answer whose handling threw
      ["ping", 4, 0], // read again once the thread was restarted
    ]);
    assert.deepEqual([...result.faults], [["receive", 2]]);
  });

  test("a full send queue pauses the send loop until the send thread reports; nothing is lost", async () => {
    let submits = 0;
    const { result, fake } = await runWith(
      [T({ nbPackets: 2000, timeout: 5 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      (f) => {
        f.holdSends = true;
        const tx = f.sockets.find((x) => x.family === 4 && x.protocol === 255)!;
        const submit = tx.submit.bind(tx);
        tx.submit = (...a) => {
          submits++;
          return submit(...a);
        };
        // the thread is held: the loop fills the 16-batch queue, is refused once, and waits (polled:
        // building the first packets takes a while in cold code on a busy machine)
        const check = () => {
          if (submits < 17) return void setTimeout(check, 5);
          setTimeout(() => {
            const [sent, n] = [f.sent.length, submits];
            f.holdSends = false;
            assert.equal(sent, 0);
            assert.equal(n, 17, "16 batches queued, one refused, then no spinning");
          }, 20);
        };
        setTimeout(check, 5);
      },
    );
    const s = result.series[0]!;
    assert.deepEqual([s.sent, s.lost, s.failed, s.rtts.length], [2000, 0, 0, 2000]);
    // and every SYN-ACK got our RST, although the queue was full when most of them came
    assert.equal(fake.sentBy(4).length, 4000);
  });

  test("two send threads per family (nb_proc 2) take batches in turn; every probe sent, answered and timed", async () => {
    const { result, fake } = await runWith(
      [
        T({ nbPackets: 300, timeout: 5 }),
        T({
          name: "p6",
          type: "ICMPping",
          family: "ipv6",
          addresses: ["fd18:1::1"],
          nbPackets: 300,
          timeout: 5,
          groups: v6group,
        }),
      ],
      () => ({ kind: "reply", rttNs: 2000n }),
      undefined,
      { sendThreads: 2 },
    );
    for (const s of result.series)
      assert.deepEqual([s.sent, s.lost, s.failed, s.rtts.length], [300, 0, 0, 300]);
    for (const s of result.series)
      for (const r of s.rtts) assert.ok(Math.abs(r - 0.000002) < 1e-9, `rtt ${r}`);
    const txs = fake.sockets.filter((x) => x.protocol === 255);
    assert.equal(txs.length, 4);
    for (const tx of txs)
      assert.ok(fake.sent.filter((p) => p.socket === tx).length >= 64, "each thread sent");
  });

  test("a paced iteration's batches carry their release time on CLOCK_MONOTONIC, all to one send thread per family, the first of each iteration starting a new schedule", async () => {
    const { fake, engine } = fakeEngine({ sendThreads: 2, intervalPacketsMs: 2 });
    const net = network(fake, () => ({ kind: "reply", rttNs: 2000n }));
    const txs = fake.sockets.filter((x) => x.protocol === 255);
    assert.equal(txs.length, 4);
    const subs: { tx: number; at: number; fresh: boolean; t0: number }[] = [];
    txs.forEach((tx, k) => {
      const submit = tx.submit.bind(tx);
      tx.submit = (d, r, a, first, count, cookie, at = 0, fresh = false) => {
        subs.push({ tx: k, at, fresh, t0: monotonicNs() });
        return submit(d, r, a, first, count, cookie, at, fresh);
      };
    });
    try {
      const plan = buildPlan(
        [
          T({ nbPackets: 4, addresses: ["198.18.1.1", "198.18.1.2"] }),
          T({ name: "p6", type: "ICMPping", family: "ipv6", addresses: ["fd18:1::1"], groups: v6group }),
        ],
        () => assert.fail("sources are fixed"),
      );
      const perIteration: number[] = [];
      for (let it = 0; it < 2; it++) {
        const before = subs.length;
        const r = await engine.run(plan);
        for (const s of r.series) assert.equal(s.lost, 0);
        perIteration.push(subs.length - before);
      }
      // rounds of one family each (4 of IPv4, 3 of IPv6) per iteration, and our RSTs (unscheduled)
      assert.ok(perIteration.every((n) => n >= 4));
      const paced = subs.filter((s) => s.at !== 0);
      assert.ok(
        subs.some((s) => s.at === 0 && !s.fresh),
        "RSTs go at once",
      );
      // the first TX socket opened per family (IPv4: 0, IPv6: 2) takes every paced batch
      assert.deepEqual([...new Set(paced.map((s) => s.tx))].sort(), [0, 2]);
      for (const s of paced) {
        // released just before the submit, on the same clock
        assert.ok(s.at > 0 && s.at <= s.t0 && s.t0 - s.at < 1e9, `at ${s.at}, submitted ${s.t0}`);
      }
      // per thread: one fresh schedule per iteration, at its first batch
      for (const tx of [0, 2]) {
        const mine = paced.filter((s) => s.tx === tx);
        assert.equal(mine.filter((s) => s.fresh).length, 2, `thread ${tx}`);
        assert.ok(mine[0]!.fresh);
        for (let k = 1; k < mine.length; k++) assert.ok(mine[k]!.at >= mine[k - 1]!.at);
      }
    } finally {
      net.stop();
      engine.close();
    }
  });

  test("an unpaced iteration's batches carry no schedule", async () => {
    const { fake, engine } = fakeEngine({ sendThreads: 2 });
    const net = network(fake, () => ({ kind: "reply", rttNs: 2000n }));
    const subs: [number, boolean][] = [];
    for (const tx of fake.sockets.filter((x) => x.protocol === 255)) {
      const submit = tx.submit.bind(tx);
      tx.submit = (d, r, a, first, count, cookie, at = 0, fresh = false) => {
        subs.push([at, fresh]);
        return submit(d, r, a, first, count, cookie, at, fresh);
      };
    }
    try {
      await engine.run(buildPlan([T({ nbPackets: 100 })], () => assert.fail("sources are fixed")));
      assert.ok(subs.length >= 2);
      assert.deepEqual(new Set(subs.map((s) => s.join())), new Set(["0,false"]));
    } finally {
      net.stop();
      engine.close();
    }
  });

  test("a settled iteration leaves no timer behind (the process can exit)", async () => {
    await runWith([T({ nbPackets: 3, timeout: 30 })], () => ({ kind: "reply", rttNs: 1000n }));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      process.getActiveResourcesInfo().filter((x) => x === "Timeout"),
      [],
    );
  });

  test("socket drops are summed over every RX socket during the iteration", async () => {
    const fake = new FakeBinding();
    fake.clockNs = BigInt(Date.now()) * 1_000_000n;
    fake.rxQueueLimit = 1;
    const engine = new Engine({
      sockets: new RawSockets(fake),
      families: [4, 6],
      ports: { lo: 65000, hi: 65009 },
    });
    try {
      const run = engine.run(buildPlan([T({ nbPackets: 1, timeout: 0.05 })], () => "x"));
      // Before the event loop drains anything: 3 packets for the IPv4 TCP socket, 5 for the IPv6 one.
      for (let k = 0; k < 3; k++)
        fake.inject({ family: 4, protocol: 6, bytes: new Uint8Array(40), src: Uint8Array.of(198, 18, 0, 9) });
      for (let k = 0; k < 5; k++)
        fake.inject({ family: 6, protocol: 6, bytes: new Uint8Array(20), src: new Uint8Array(16) });
      const r = await run;
      assert.equal(r.socketDrops, 2 + 4);
    } finally {
      engine.close();
    }
  });

  test("global.timeout bounds an iteration", async () => {
    const fake = new FakeBinding();
    const engine = new Engine({
      sockets: new RawSockets(fake),
      families: [4],
      ports: { lo: 65000, hi: 65009 },
      iterationLimitMs: 100,
    });
    try {
      const t0 = performance.now();
      const r = await engine.run(buildPlan([T({ nbPackets: 2, timeout: 10 })], () => "x"));
      assert.ok(performance.now() - t0 < 2000);
      assert.equal(r.timedOut, true);
      assert.equal(r.series[0]!.lost, 2);
    } finally {
      engine.close();
    }
  });
});

describe("engine send path (fake sockets): each probe answered, lost or refused, only lost is loss", () => {
  const ENOBUFS = 105;
  const EPERM = 1;
  const ENETUNREACH = 101;
  /** Per series: sent + refused = planned, and every refusal counted under an errno. */
  function assertBooks(result: Awaited<ReturnType<typeof runWith>>["result"], planned: number): void {
    for (const s of result.series) assert.equal(s.sent + s.failed, planned, `${s.target}: sent + refused`);
    const failed = result.series.reduce((n, s) => n + s.failed, 0);
    assert.equal(
      [...result.sendErrors.values()].reduce((a, b) => a + b, 0),
      failed,
    );
  }

  test("refusals in the middle of a batch are counted by errno; the probes after them are sent and timed", async () => {
    const { result } = await runWith(
      [T({ name: "a", nbPackets: 10 }), T({ name: "b", nbPackets: 10, addresses: ["198.18.1.2"] })],
      () => ({ kind: "reply", rttNs: 300_000n }),
      (fake) => fake.sendErrors.push(0, ENOBUFS, 0, EPERM, ENOBUFS, 0, 0, ENETUNREACH),
    );
    assertBooks(result, 10);
    assert.deepEqual([...result.sendErrors].sort(), [
      ["ENETUNREACH", 1],
      ["ENOBUFS", 2],
      ["EPERM", 1],
    ]);
    for (const s of result.series) {
      assert.equal(s.lost, 0, `${s.target}: a refusal is never loss`);
      assert.equal(s.rtts.length, s.sent, `${s.target}: every sent probe timed despite the id holes`);
      for (const r of s.rtts) assert.ok(Math.abs(r - 0.0003) < 1e-9, `${s.target} rtt ${r}`);
    }
  });

  test("a local drop is refused, not lost: the TX socket asks for IP_RECVERR, without which the kernel hides ENOBUFS", async () => {
    const { result, fake } = await runWith(
      [T({ nbPackets: 6, timeout: 0.05 })],
      () => ({ kind: "reply", rttNs: 300_000n }),
      (f) => f.failNext(ENOBUFS, 4),
    );
    assert.deepEqual([result.series[0]!.sent, result.series[0]!.failed, result.series[0]!.lost], [2, 4, 0]);
    assert.equal(fake.silentlyDropped, 0);
  });

  test("error-queue entries that are not timestamps, and the socket error they set, shift no RTT and fail no send", async () => {
    let queued = 0;
    const { result, fake } = await runWith([T({ nbPackets: 8 })], (_p, sent) => {
      // An ICMP error for every other probe lands in the TX socket's error queue, after its timestamp.
      if (queued++ % 2 === 0) sent.socket.queueError(111);
      return { kind: "reply", rttNs: 200_000n };
    });
    const s = result.series[0]!;
    assert.deepEqual([s.sent, s.failed, s.lost, s.rtts.length], [8, 0, 0, 8]);
    for (const r of s.rtts) assert.ok(Math.abs(r - 0.0002) < 1e-9, `rtt ${r}`);
    const tx = fake.sockets[0]!;
    assert.ok(tx.errorQueueSkipped() > 0, "the entries were consumed");
  });

  test("a send that throws refuses its probes by errno instead of escaping into the event loop", async () => {
    const { result } = await runWith(
      [T({ nbPackets: 4 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      (fake) => fake.sockets.find((x) => x.family === 4 && x.protocol === 255)!.close(),
    );
    assertBooks(result, 4);
    assert.deepEqual([...result.sendErrors], [["EBADF", 4]]);
    assert.equal(result.series[0]!.lost, 0);
  });

  test("with interval_packets, rounds whose sends throw still follow one another (nothing waits for a send report)", async () => {
    const t0 = performance.now();
    const { result } = await runWith(
      [T({ nbPackets: 4 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      (fake) => fake.sockets.find((x) => x.family === 4 && x.protocol === 255)!.close(),
      { intervalPacketsMs: 10, iterationLimitMs: 5000 },
    );
    assertBooks(result, 4);
    assert.deepEqual([...result.sendErrors], [["EBADF", 4]], "no probe left for the time limit to refuse");
    assert.ok(performance.now() - t0 >= 30, "the rounds were still spaced");
  });

  test("probes still unsent when global.timeout passes are refused (ETIMEDOUT), never lost", async () => {
    const { result } = await runWith(
      [T({ nbPackets: 40, timeout: 0.05 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      undefined,
      { pps: 50, batch: 4, iterationLimitMs: 150 },
    );
    assertBooks(result, 40);
    const s = result.series[0]!;
    assert.ok(s.sent > 0 && s.failed > 0, `sent ${s.sent}, refused ${s.failed}`);
    assert.deepEqual([...result.sendErrors], [["ETIMEDOUT", s.failed]]);
    for (let i = 0; i < result.inflight.count; i++)
      assert.notEqual(result.inflight.state[i], ProbeState.Unsent, "every probe has a fate");
  });
});

describe("prebuilt packets (fake sockets): the first probes are built before the first send", () => {
  type Submit = { records: number; first: number; count: number; at: number };
  /** Every submit of probes (SYNs, not our RSTs): its records array's length and the first record's index. */
  function watchSubmits(fake: FakeBinding, log: Submit[]) {
    for (const tx of fake.sockets.filter((x) => x.protocol === 255)) {
      const submit = tx.submit.bind(tx);
      tx.submit = (data, records, addresses, first, count, cookie) => {
        const ok = submit(data, records, addresses, first, count, cookie);
        const syn = data[records[first * 4]! + 33] === TcpFlag.SYN;
        if (ok && syn) log.push({ records: records.length, first, count, at: performance.now() });
        return ok;
      };
    }
  }

  test("past prebuildBytes the rest are built as they go, also across a full queue; every probe answered once", async () => {
    const log: Submit[] = [];
    const { result, fake } = await runWith(
      [T({ nbPackets: 1500, timeout: 5 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      (f) => {
        watchSubmits(f, log);
        // the queue (16 batches of 64) fills across the boundary (1,000 prebuilt): resumed, nothing lost
        f.holdSends = true;
        setTimeout(() => {
          f.holdSends = false;
        }, 30);
      },
      { prebuildBytes: 128 * 1000 },
    );
    const s = result.series[0]!;
    assert.deepEqual([s.sent, s.lost, s.failed, s.rtts.length], [1500, 0, 0, 1500]);
    const probes = log;
    // probes 0..999 come from the prebuilt records (indexed by probe), the rest from a batch of 64
    const pre = probes.filter((l) => l.records >= 1000 * 4);
    assert.equal(
      pre.reduce((n, l) => n + l.count, 0),
      1000,
    );
    let next = 0;
    for (const l of pre) {
      assert.equal(l.first, next, "prebuilt records are read at the probe's own index");
      next += l.count;
    }
    assert.ok(probes.slice(pre.length).every((l) => l.records === 64 * 4 && l.first === 0));
    // each probe left once, with its own key (the SYN's sequence number), in plan order
    const syns = fake.sentBy(4).filter((p) => p.bytes[33] === TcpFlag.SYN);
    assert.equal(syns.length, 1500);
    const seq = (b: Uint8Array) => ((b[24]! << 24) | (b[25]! << 16) | (b[26]! << 8) | b[27]!) >>> 0;
    syns.forEach((p, i) => {
      assert.equal(seq(p.bytes), result.inflight.keyOf(i), `probe ${i}`);
    });
  });

  test("interval_packets: a round its send thread sends late delays the next by as much (the gap stays >= interval)", async () => {
    const interval = 20;
    // When each packet really left (the modelled send thread's send), per destination.
    const left = new Map<string, number[]>();
    const { result } = await runWith(
      [T({ addresses: ["198.18.1.1", "198.18.1.2"], nbPackets: 3, timeout: 5 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      (f) => {
        const push = f.sent.push.bind(f.sent);
        f.sent.push = (...ps) => {
          for (const p of ps) {
            const dst = p.dst.join(".");
            if (p.bytes[9] === 6 && (p.bytes[33]! & 0x02) !== 0)
              left.set(dst, [...(left.get(dst) ?? []), performance.now()]);
          }
          return push(...ps);
        };
        // The thread runs 2.5 intervals after round 0 was released (a loaded machine), then promptly.
        f.holdSends = true;
        setTimeout(() => {
          f.holdSends = false;
          for (const s of f.sockets) if (!s.closed) s.wakeThread();
        }, 2.5 * interval);
      },
      { intervalPacketsMs: interval },
    );
    assert.deepEqual([result.series[0]!.sent, result.series[0]!.lost], [6, 0]);
    assert.deepEqual([...left.keys()].sort(), ["198.18.1.1", "198.18.1.2"]);
    for (const [dst, times] of left) {
      assert.equal(times.length, 3, dst);
      for (let k = 1; k < times.length; k++)
        assert.ok(
          times[k]! - times[k - 1]! >= interval,
          `${dst}: packet ${k} left ${times[k]! - times[k - 1]!} ms after ${k - 1}`,
        );
    }
  });

  test("pacing holds: prebuilt packets leave no faster than global.max_packets_per_second", async () => {
    const log: Submit[] = [];
    const t0 = performance.now();
    const { result } = await runWith(
      [T({ nbPackets: 60, timeout: 5 })],
      () => ({ kind: "reply", rttNs: 1000n }),
      (f) => watchSubmits(f, log),
      { pps: 400, batch: 4 },
    );
    assert.equal(result.series[0]!.sent, 60);
    let submitted = 0;
    for (const l of log) {
      submitted += l.count;
      // at most the burst plus the rate since the run was asked for (load only makes it later)
      assert.ok(
        submitted <= 4 + (400 * (l.at - t0)) / 1000,
        `${submitted} probes by ${(l.at - t0).toFixed(1)} ms`,
      );
    }
    assert.equal(submitted, 60);
  });
});
