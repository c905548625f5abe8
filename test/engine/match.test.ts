// Table tests of the reply-matching predicates (src/engine/match.ts): which probe a reply's key
// designates, and whether the reply's type, address and ports really make it that probe's answer.
// Pure: no sockets, no root, no lab.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InFlight } from "../../src/engine/inflight.js";
import { errorAnswers, isTimeExceeded, Matcher, traceFate } from "../../src/engine/match.js";
import { buildPlan, type PlanTargetInput, type ProbeKind } from "../../src/engine/plan.js";
import { Trace, type TraceRequest } from "../../src/engine/trace.js";
import { addressBytes } from "../../src/packet/index.js";
import { blankReplyKey, type ReplyKey } from "../../src/probes/kinds.js";

const BASE = 0xfffffffc; // keys wrap through 2^32 inside the plan (8 probes)
const target = (name: string, type: ProbeKind, address: string, o: Partial<PlanTargetInput> = {}) =>
  ({
    name,
    type,
    family: address.includes(":") ? "ipv6" : "ipv4",
    addresses: [address],
    dstPort: type === "ICMPping" ? 0 : 80,
    nbPackets: 2,
    dontFragment: true,
    timeout: 1,
    groups: [
      {
        name: "g",
        srcPortA: 61000,
        srcPortZ: 61001,
        dscp: 0,
        src: address.includes(":") ? "fd18::2" : "198.18.0.2",
      },
    ],
    ...o,
  }) satisfies PlanTargetInput;

/** tcp (ipv4, 198.18.1.1), icmp (ipv6, fd18:1::1), udp (ipv4, 198.18.1.3), tcpdata (ipv4, 30 data bytes). */
function setup() {
  const plan = buildPlan(
    [
      target("tcp", "TCPsyn", "198.18.1.1"),
      target("icmp", "ICMPping", "fd18:1::1"),
      target("udp", "UDPunreachable", "198.18.1.3", { payloadSize: 16 }),
      target("tcpdata", "TCPsyn", "198.18.1.4", { payloadSize: 50 }),
    ],
    () => assert.fail("sources are fixed"),
  );
  const inflight = new InFlight(BASE, plan.count, () => 1000);
  for (let i = 0; i < plan.count; i++) inflight.markSent(i, 0);
  const m = new Matcher(plan, inflight, plan.addresses.map(addressBytes));
  /** Index of the k-th probe of a target. */
  const probe = (name: string, k = 0) => {
    let seen = 0;
    for (let i = 0; i < plan.count; i++)
      if (plan.series[plan.seriesOf[i]!]!.target === name && seen++ === k) return i;
    throw new Error(`no probe ${k} of ${name}`);
  };
  return { plan, inflight, m, probe };
}

function key(o: Partial<ReplyKey>): ReplyKey {
  return { ...blankReplyKey(), kind: "TCPsyn", synAck: true, ...o };
}

/** Receive metadata with the reply's source address at offset 16 (as the engine reads it). */
function metaFrom(address: string): Uint8Array {
  const meta = new Uint8Array(32);
  meta.set(addressBytes(address), 16);
  return meta;
}

/** A packet buffer holding `address` at offset 40 (a quoted destination). */
function quoting(address: string): Uint8Array {
  const data = new Uint8Array(64);
  data.set(addressBytes(address), 40);
  return data;
}

describe("reply matching predicates (src/engine/match.ts)", () => {
  const { plan, inflight, m, probe } = setup();
  const none = new Uint8Array(64);
  const portsOf = (i: number) => ({ probeSrcPort: plan.srcPort[i]!, probeDstPort: 80 });

  test("locate: the key minus the base is the index, across the 2^32 wrap; a foreign key is -1", () => {
    const rows: [string, ReplyKey, number][] = [
      ["first probe", key({ key: BASE }), 0],
      ["after the wrap", key({ key: (BASE + 5) >>> 0 }), 5],
      ["last probe", key({ key: (BASE + plan.count - 1) >>> 0 }), plan.count - 1],
      ["below the base", key({ key: (BASE - 1) >>> 0 }), -1],
      ["after the last probe", key({ key: (BASE + plan.count) >>> 0 }), -1],
      ["no key at all", key({ key: undefined }), -1],
    ];
    for (const [what, k, want] of rows) assert.equal(m.locate(k, none, none, 16), want, what);
  });

  test("locate: a RST-ACK to a SYN with data acknowledges seq + 1 + data length", () => {
    const i = probe("tcpdata", 1);
    const meta = metaFrom("198.18.1.4");
    const rst = key({ key: (inflight.keyOf(i) + 30) >>> 0, synAck: false, ...portsOf(i) });
    assert.equal(m.tcpDataLen(i), 30);
    assert.equal(m.locate(rst, none, meta, 16), i);
    // The same ack from another address is not taken for the data-carrying probe.
    const j = m.locate(rst, none, metaFrom("198.18.1.9"), 16);
    assert.notEqual(j, i);
  });

  test("sameAddress: a direct reply must come from the probe's destination, with the probe's type", () => {
    const t = probe("tcp");
    const u = probe("udp");
    const rows: [string, number, ReplyKey, Uint8Array, Uint8Array, boolean][] = [
      ["TCP reply from the destination", t, key({}), none, metaFrom("198.18.1.1"), true],
      ["TCP reply from elsewhere", t, key({}), none, metaFrom("198.18.1.2"), false],
      ["ICMP echo reply to a TCP probe", t, key({ kind: "ICMPping" }), none, metaFrom("198.18.1.1"), false],
      [
        "ICMP error quoting the destination",
        u,
        key({ kind: "UDPunreachable", how: "icmp-error", quotedDstOffset: 40 }),
        quoting("198.18.1.3"),
        metaFrom("198.18.9.9"),
        true,
      ],
      [
        "ICMP error quoting another destination",
        u,
        key({ kind: "UDPunreachable", how: "icmp-error", quotedDstOffset: 40 }),
        quoting("198.18.1.4"),
        metaFrom("198.18.1.3"),
        false,
      ],
    ];
    for (const [what, i, k, data, meta, want] of rows)
      assert.equal(m.sameAddress(i, k, data, meta, 16), want, what);
  });

  test("samePorts: source and destination port must be the probe's; ICMP echo has none", () => {
    const t = probe("tcp", 1);
    const e = probe("icmp");
    const rows: [string, number, ReplyKey, boolean][] = [
      ["both ports", t, key(portsOf(t)), true],
      ["other source port", t, key({ ...portsOf(t), probeSrcPort: plan.srcPort[t]! ^ 1 }), false],
      ["other destination port", t, key({ ...portsOf(t), probeDstPort: 81 }), false],
      ["echo: ports ignored", e, key({ kind: "ICMPping", probeSrcPort: 5, probeDstPort: 6 }), true],
    ];
    for (const [what, i, k, want] of rows) assert.equal(m.samePorts(i, k), want, what);
  });

  test("byKey16: an IPv4 quote without the tag is found by IP ID, source port and quoted destination", () => {
    const u = probe("udp", 1);
    const id = inflight.keyOf(u) & 0xffff;
    const port = plan.srcPort[u]!;
    const rows: [string, number, number, Uint8Array, number, number][] = [
      ["id, port and destination", id, port, quoting("198.18.1.3"), 40, u],
      ["no quoted destination to check", id, port, none, -1, u],
      ["other source port", id, port ^ 1, quoting("198.18.1.3"), 40, -1],
      ["other destination", id, port, quoting("198.18.1.1"), 40, -1],
    ];
    for (const [what, k16, p, data, off, want] of rows)
      assert.equal(m.byKey16(k16, p, data, off), want, what);
  });

  test("fromDestination: the reply's source address is the probe's destination", () => {
    const t = probe("tcp");
    assert.equal(m.fromDestination(t, metaFrom("198.18.1.1"), 16), true);
    assert.equal(m.fromDestination(t, metaFrom("198.18.0.1"), 16), false);
  });

  test("errorAnswers: the original's capture filter, per type x family x sender x ICMP type", () => {
    // [type, family, from the destination, ICMP type, answers] (docs/engine.md "Which replies answer")
    const rows: [ProbeKind, 4 | 6, boolean, number, boolean][] = [
      // TCPsyn: only TCP was let in; no ICMP error answers a SYN, whoever sends it.
      ["TCPsyn", 4, true, 3, false],
      ["TCPsyn", 4, false, 3, false],
      ["TCPsyn", 6, true, 1, false],
      ["TCPsyn", 6, false, 3, false],
      // UDPunreachable over IPv4: ICMP type 3 from the destination only.
      ["UDPunreachable", 4, true, 3, true],
      ["UDPunreachable", 4, true, 11, false],
      ["UDPunreachable", 4, false, 3, false],
      ["UDPunreachable", 4, false, 11, false],
      // UDPunreachable over IPv6: any ICMPv6 from the destination.
      ["UDPunreachable", 6, true, 1, true],
      ["UDPunreachable", 6, true, 3, true],
      ["UDPunreachable", 6, false, 1, false],
      // ICMPping: any ICMP from the destination.
      ["ICMPping", 4, true, 3, true],
      ["ICMPping", 4, true, 11, true],
      ["ICMPping", 4, false, 3, false],
      ["ICMPping", 6, true, 1, true],
      ["ICMPping", 6, false, 3, false],
    ];
    for (const [kind, family, fromDst, type, want] of rows)
      assert.equal(
        errorAnswers(kind, family, type, fromDst),
        want,
        `${kind} IPv${family} type ${type} from ${fromDst ? "destination" : "elsewhere"}`,
      );
  });

  test("traceFate: a trace probe's first reply, answer or router report (the fourth kind of reply)", () => {
    // [what, reply, answers (errorAnswers or a direct reply), family, fate]
    const err = (icmpType: number, kind: ProbeKind = "UDPunreachable") =>
      key({ kind, how: "icmp-error", icmpType, synAck: false, quotedTtl: 1 });
    const rows: [string, ReplyKey, boolean, 4 | 6, string][] = [
      ["SYN-ACK from the destination", key({}), true, 4, "answered"],
      ["echo reply", key({ kind: "ICMPping" }), true, 6, "answered"],
      ["UDP port unreachable from the destination", err(3), true, 4, "answered"],
      ["ICMPv6 port unreachable from the destination", err(1), true, 6, "answered"],
      ["time exceeded from a router (IPv4 type 11)", err(11), false, 4, "time-exceeded"],
      ["time exceeded from a router (ICMPv6 type 3)", err(3), false, 6, "time-exceeded"],
      ["time exceeded quoting a SYN", err(11, "TCPsyn"), false, 4, "time-exceeded"],
      ["host unreachable from a router (IPv4 3)", err(3), false, 4, "error"],
      ["no route from a router (ICMPv6 1)", err(1), false, 6, "error"],
      ["IPv4 type 3 is not time exceeded, ICMPv6 type 11 does not exist", err(11), false, 6, "error"],
      ["destination's ICMP error to a SYN (never an answer)", err(3, "TCPsyn"), false, 4, "error"],
    ];
    for (const [what, k, answers, family, want] of rows)
      assert.equal(traceFate(k, answers, family), want, what);
    assert.deepEqual(
      [isTimeExceeded(4, 11), isTimeExceeded(6, 3), isTimeExceeded(4, 3), isTimeExceeded(6, 11)],
      [true, true, false, false],
    );
  });

  test("a trace's key space: ICMP wire keys (the copied identifier) lead to the probe, their unsent keys do not", () => {
    const { plan: p } = setup();
    const series = (name: string) => p.series.find((s) => s.target === name)!;
    const flow = (name: string, copyKey?: number): TraceRequest => ({
      series: series(name),
      dst: name === "icmp" ? "fd18:1::1" : "198.18.1.1",
      src: name === "icmp" ? "fd18::2" : "198.18.0.2",
      srcPort: 61000,
      flowLabel: 7,
      copyKey,
      ttl: 1,
    });
    const base = 0x0001fffe;
    const t = new Trace([flow("tcp"), flow("icmp", 0xabcd1234), flow("tcp"), flow("icmp")], () => base);
    const f = new InFlight(base, t.plan.count, () => 1000);
    const ks = t.keySpace(f);
    // TCP: its own fresh keys. ICMP with copyKey: the copied id, the fresh key's low bits as sequence.
    assert.deepEqual([...t.wire], [0x0001fffe, 0xabcdffff, 0x00020000, 0x00020001]);
    const rows: [string, number, number][] = [
      ["TCP probe 0 by its key", 0x0001fffe, 0],
      ["ICMP probe 1 by the copied identifier", 0xabcdffff, 1],
      ["ICMP probe 1's in-flight key never went out", 0x0001ffff, -1],
      ["TCP probe 2 across the 16-bit boundary", 0x00020000, 2],
      ["ICMP probe 3 without copyKey: its own key", 0x00020001, 3],
      ["the copied probe's own key is not the trace's", 0xabcd1234, -1],
      ["past the trace's keys", 0x00020002, -1],
    ];
    for (const [what, k, want] of rows) assert.equal(ks.indexOf(k), want, what);
    assert.deepEqual([...t.plan.ttl!], [1, 1, 1, 1]);
    assert.deepEqual([...t.plan.srcPort], [61000, 0, 61000, 0], "ICMP has no ports");
    assert.throws(() => new Trace([{ ...flow("tcp"), ttl: 256 }], () => base), RangeError);
  });
});
