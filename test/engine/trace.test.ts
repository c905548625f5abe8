// engine.trace on the fake sockets: TTL-limited probes that copy a regular flow (ports, flow label,
// ICMP identifier) and end as answered, time exceeded from a router, another error, or lost; and the
// regular probes' semantics kept (a router's time exceeded is no answer to them). Pure: no root, no lab.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Engine } from "../../src/engine/engine.js";
import { buildPlan, type PlanTargetInput, type ProbeKind } from "../../src/engine/plan.js";
import type { TraceRequest } from "../../src/engine/trace.js";
import type { FakeBinding, FakeSentPacket } from "../../src/native/fake.js";
import {
  addressBytes,
  type ParsedPacket,
  parseIPv4Packet,
  parseIPv6Packet,
  TcpFlag,
} from "../../src/packet/index.js";
import { fakeEngine } from "../support/fake-engine.js";
import { type Answer, network } from "../support/fake-network.js";

const ROUTER = { 4: "198.18.0.1", 6: "fd18::1" } as const;
const DST = { 4: "198.18.1.1", 6: "fd18:1::1" } as const;
const SRC = { 4: "198.18.0.2", 6: "fd18::2" } as const;

function target(type: ProbeKind, family: 4 | 6): PlanTargetInput {
  return {
    name: `${type}${family}`,
    type,
    family: family === 4 ? "ipv4" : "ipv6",
    addresses: [DST[family]],
    dstPort: type === "ICMPping" ? undefined : 33434,
    // ICMP echoes with data, so that a trace probe can keep the copied probe's checksum.
    payloadSize: type === "ICMPping" ? 16 : undefined,
    nbPackets: 2,
    dontFragment: true,
    timeout: 0.2,
    groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65009, dscp: 0, src: SRC[family] }],
  };
}

const ttlOf = (s: FakeSentPacket) => (s.socket.family === 4 ? s.bytes[8]! : s.bytes[7]!);
const parse = (s: FakeSentPacket): ParsedPacket =>
  (s.socket.family === 4 ? parseIPv4Packet : parseIPv6Packet)(s.bytes, 0, s.bytes.length)!;
/** Ports, flow label and ICMP id of a sent packet: what ECMP hashes. */
function flowOf(s: FakeSentPacket) {
  const p = parse(s);
  const label = s.socket.family === 6 ? ((s.bytes[1]! & 0x0f) << 16) | (s.bytes[2]! << 8) | s.bytes[3]! : 0;
  const l4 = p.tcp ?? p.udp;
  return {
    proto: p.protocol,
    src: l4?.srcPort,
    dst: l4?.dstPort,
    label,
    icmpId: p.icmp?.kind === "echo" ? p.icmp.id : undefined,
    // What routers hashing "the 4 bytes after the IP header" read for ICMP: type, code, checksum.
    icmpHead: p.icmp
      ? new DataView(s.bytes.buffer, s.bytes.byteOffset).getUint32(s.socket.family === 4 ? 20 : 40)
      : undefined,
  };
}

/** The matching key a sent probe carries (TCP sequence, echo id << 16 | seq, UDP tag). */
function keyOfSent(s: FakeSentPacket): number | undefined {
  const p = parse(s);
  if (p.tcp) return p.tcp.flags & TcpFlag.SYN ? p.tcp.seq : undefined;
  if (p.icmp?.kind === "echo") return ((p.icmp.id << 16) | p.icmp.seq) >>> 0;
  if (p.udp) return new DataView(s.bytes.buffer, s.bytes.byteOffset).getUint32(p.udp.payloadOffset);
  return undefined;
}

/** One router before the destination: TTL 1 expires there (unless `silent`), anything higher arrives. */
function oneHop(opts: { silent?: boolean; destinationDown?: boolean } = {}) {
  return (_p: ParsedPacket, sent: FakeSentPacket): Answer => {
    const f = sent.socket.family as 4 | 6;
    if (ttlOf(sent) <= 1) {
      if (opts.silent) return { kind: "none" };
      return {
        kind: "error",
        rttNs: 300_000n,
        src: addressBytes(ROUTER[f]),
        type: f === 4 ? 11 : 3,
        code: 0,
        quoteBytes: f === 4 ? 28 : undefined,
      };
    }
    if (opts.destinationDown)
      return {
        kind: "error",
        rttNs: 500_000n,
        src: addressBytes(ROUTER[f]),
        type: f === 4 ? 3 : 1,
        code: f === 4 ? 1 : 3,
      };
    return { kind: "reply", rttNs: 700_000n };
  };
}

async function withEngine<T>(
  script: ReturnType<typeof oneHop>,
  body: (e: Engine, fake: FakeBinding) => Promise<T>,
) {
  const { fake, engine } = fakeEngine();
  const net = network(fake, script);
  try {
    return await body(engine, fake);
  } finally {
    net.stop();
    engine.close();
  }
}

/** Trace requests copying probe `i` of a plan, at each TTL. */
function copyFlow(
  plan: ReturnType<typeof buildPlan>,
  i: number,
  icmpKey: number,
  ttls: number[],
): TraceRequest[] {
  const series = plan.series[plan.seriesOf[i]!]!;
  return ttls.map((ttl) => ({
    series,
    dst: plan.addresses[plan.dst[i]!]!,
    src: plan.addresses[plan.src[i]!]!,
    srcPort: plan.srcPort[i]!,
    flowLabel: plan.flowLabel[i]!,
    copyKey: icmpKey,
    ttl,
  }));
}

describe("engine.trace (fake sockets)", () => {
  for (const type of ["TCPsyn", "ICMPping", "UDPunreachable"] as const)
    for (const family of [4, 6] as const)
      test(`${type} IPv${family}: TTL 1 -> time exceeded from the router, TTL 2 -> the destination, same flow on the wire`, async () => {
        await withEngine(oneHop(), async (engine, fake) => {
          const plan = buildPlan([target(type, family)], () => assert.fail("fixed sources"));
          const regular = await engine.run(plan);
          assert.equal(regular.series[0]!.lost, 0);
          const sentBefore = fake.sent.length;
          const traced = await engine.trace(copyFlow(plan, 1, regular.inflight.keyOf(1), [1, 2]));
          assert.deepEqual(
            traced.map((r) => [r.request, r.ttl, r.fate, r.from]),
            [
              [0, 1, "time-exceeded", ROUTER[family]],
              [1, 2, "answered", DST[family]],
            ],
          );
          assert.equal(traced[0]!.icmpType, family === 4 ? 11 : 3);
          assert.equal(traced[0]!.quotedTtl, 1);
          assert.ok(Math.abs(traced[0]!.rtt - 0.0003) < 1e-9, `rtt ${traced[0]!.rtt}`);
          assert.ok(Math.abs(traced[1]!.rtt - 0.0007) < 1e-9, `rtt ${traced[1]!.rtt}`);
          // On the wire: the regular probe's flow, only the TTL differs (and the key, in fields ECMP ignores).
          // The regular packet of probe 1, found by the key it carried.
          const regularKey = regular.inflight.keyOf(1);
          const reference = flowOf(fake.sent.slice(0, sentBefore).find((s) => keyOfSent(s) === regularKey)!);
          const traceSent = fake.sent.slice(sentBefore).filter((s) => ttlOf(s) !== 64);
          assert.equal(traceSent.length, 2);
          assert.deepEqual(
            traceSent.map(keyOfSent),
            traced.map((r) => r.key),
          );
          for (const s of traceSent) {
            const f = flowOf(s);
            assert.deepEqual(f, reference);
            if (family === 6) assert.equal(f.label, plan.flowLabel[1]);
          }
          assert.deepEqual(traceSent.map(ttlOf), [1, 2]);
        });
      });

  test("the kernel filters' key window reaches back to an old copied ICMP probe's identifier", async () => {
    await withEngine(oneHop(), async (engine) => {
      const plan = buildPlan([target("ICMPping", 4)], () => assert.fail("fixed sources"));
      await engine.run(plan);
      const old = (engine.keyWindow.lo - 5 * 65536) >>> 0;
      const traced = await engine.trace(copyFlow(plan, 0, old, [1]));
      assert.equal(traced[0]!.key >>> 16, old >>> 16, "the old identifier on the wire");
      const w = engine.keyWindow;
      assert.ok((old - w.lo) >>> 0 <= (w.hi - w.lo) >>> 0, `window ${w.lo}..${w.hi} holds ${old}`);
      assert.equal(traced[0]!.fate, "time-exceeded");
    });
  });

  test("a silent router: lost; another error: error (with its type); nothing counted in the next iteration", async () => {
    await withEngine(oneHop({ silent: true, destinationDown: true }), async (engine) => {
      const plan = buildPlan([target("TCPsyn", 4)], () => assert.fail("fixed sources"));
      const traced = await engine.trace(copyFlow(plan, 0, 0, [1, 3]));
      assert.deepEqual(
        traced.map((r) => [r.fate, r.from, r.icmpType, r.icmpCode, Number.isNaN(r.rtt)]),
        [
          ["lost", undefined, 0, 0, true],
          ["error", ROUTER[4], 3, 1, false],
        ],
      );
      const next = await engine.run(plan);
      assert.equal(next.foreign.unknownKey, 0);
      assert.equal(next.foreign.settledError, 0);
      assert.equal(next.series[0]!.late, 0);
    });
  });

  test("regular probes keep their semantics: a router's time exceeded leaves them unreachable", async () => {
    // Regular probes go out with TTL 64; a router answering them with time exceeded (a loop) is no answer.
    const loop = (_p: ParsedPacket, sent: FakeSentPacket): Answer => ({
      kind: "error",
      rttNs: 200_000n,
      src: addressBytes(ROUTER[sent.socket.family as 4 | 6]),
      type: sent.socket.family === 4 ? 11 : 3,
      code: 0,
    });
    await withEngine(loop, async (engine) => {
      const plan = buildPlan([target("UDPunreachable", 4), target("ICMPping", 6)], () =>
        assert.fail("fixed sources"),
      );
      const r = await engine.run(plan);
      for (const s of r.series)
        assert.deepEqual([s.sent, s.lost, s.unreachable, s.rtts.length], [2, 0, 2, 0], s.target);
      const traced = await engine.trace(copyFlow(plan, 0, r.inflight.keyOf(0), [5]));
      assert.equal(traced[0]!.fate, "time-exceeded");
    });
  });

  test("an iteration asked for during a trace starts after it; a TTL out of range is refused", async () => {
    await withEngine(oneHop(), async (engine) => {
      const plan = buildPlan([target("TCPsyn", 6)], () => assert.fail("fixed sources"));
      const trace = engine.trace(copyFlow(plan, 0, 0, [1, 1, 2]));
      const run = engine.run(plan);
      const [t, r] = await Promise.all([trace, run]);
      assert.deepEqual(
        t.map((x) => x.fate),
        ["time-exceeded", "time-exceeded", "answered"],
      );
      assert.equal(r.series[0]!.lost, 0);
      await assert.rejects(engine.trace(copyFlow(plan, 0, 0, [0])), RangeError);
    });
  });
});
