// engine.trace through the lab's router with real raw sockets: a trace probe with TTL 1 expires at
// the router, which answers "time exceeded" from its address toward the prober; TTL 2 reaches the
// target behind it. For the three probe types and both families, and on the wire (a capture on the
// link to the router) each trace probe carries exactly the regular probe's flow: addresses, ports,
// IPv6 flow label, ICMP identifier; only the TTL / hop limit (and the key, in fields ECMP ignores)
// differ. Needs root (lab namespaces, raw sockets, tcpdump); runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { IterationResult } from "../../src/engine/engine.js";
import type { TraceRequest, TraceResult } from "../../src/engine/trace.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { FAMILIES, KINDS, planAndEngine, series, seriesOf, sources, warmUp } from "./lib/labkit.js";
import { decodeAll, type WirePacket } from "./lib/wire.js";
import type { PlanTargetInput, ProbePlan } from "./support.js";

const N = 4;
/** Which regular probe of each series the trace copies. */
const COPY = 2;

/** The matching key a captured probe carries (TCP sequence, echo id << 16 | seq, UDP tag). */
function keyOf(p: WirePacket): number | undefined {
  const b = p.frame;
  if (p.proto === 6) return (b[p.l4 + 13]! & 0x02) !== 0 ? b.readUInt32BE(p.l4 + 4) : undefined;
  if (p.proto === 17) return p.l4Length >= 12 ? b.readUInt32BE(p.l4 + 8) : undefined;
  if ((p.proto === 1 && b[p.l4] === 8) || (p.proto === 58 && b[p.l4] === 128))
    return b.readUInt32BE(p.l4 + 4);
  return undefined;
}
const ttlOf = (p: WirePacket) => (p.v === 4 ? p.frame[14 + 8]! : p.frame[14 + 7]!);
/** What an ECMP hash reads: addresses, protocol, ports, flow label, ICMP identifier. */
const flowOf = (p: WirePacket) => ({
  src: p.src,
  dst: p.dst,
  proto: p.proto,
  sport: p.sport,
  dport: p.dport,
  flowLabel: p.flowLabel,
  icmpId: p.proto === 1 || p.proto === 58 ? p.frame.readUInt16BE(p.l4 + 4) : undefined,
  // Type, code and checksum: what routers hashing "the 4 bytes after the IP header" read for ICMP.
  icmpHead: p.proto === 1 || p.proto === 58 ? p.frame.readUInt32BE(p.l4) : undefined,
});

describe("engine.trace through the lab router (needs root)", () => {
  let lab: Lab;
  let regular: IterationResult;
  let traced: TraceResult[];
  let plan: ProbePlan;
  let wire: WirePacket[];
  const requests: TraceRequest[] = [];
  const names: string[] = [];

  before(async () => {
    lab = await createLab({ router: true, targets: [{ name: "far", behindRouter: true, tcpPorts: [80] }] });
    const far = lab.target("far");
    const src = await sources(far);
    const targets: PlanTargetInput[] = [];
    for (const type of KINDS)
      for (const family of FAMILIES) {
        names.push(`${type}-${family}`);
        targets.push(
          series(`${type}-${family}`, type, family, family === "ipv4" ? far.v4 : far.v6, src[family], {
            nbPackets: N,
            timeout: 1,
            ports: [61000, 61003],
            // ICMP echoes with data: a trace probe keeps the copied probe's checksum.
            payloadSize: type === "ICMPping" ? 16 : undefined,
          }),
        );
      }
    const pe = planAndEngine(targets);
    plan = pe.plan;
    const cap = await lab.capture({ iface: far.hostIf });
    try {
      await warmUp();
      regular = await pe.engine.run(plan);
      for (let s = 0; s < plan.series.length; s++) {
        // The COPY-th probe of series s, and a trace of its flow at TTL 1 and 2.
        let seen = 0;
        let i = 0;
        for (; i < plan.count; i++) if (plan.seriesOf[i] === s && seen++ === COPY) break;
        for (const ttl of [1, 2])
          requests.push({
            series: plan.series[s]!,
            dst: plan.addresses[plan.dst[i]!]!,
            src: plan.addresses[plan.src[i]!]!,
            srcPort: plan.srcPort[i]!,
            flowLabel: plan.flowLabel[i]!,
            copyKey: regular.inflight.keyOf(i),
            ttl,
          });
      }
      traced = await pe.engine.trace(requests);
    } finally {
      pe.engine.close();
    }
    wire = decodeAll((await cap.stop()).records);
  });
  after(async () => {
    await lab?.destroy();
  });

  test("the regular iteration is fully answered", () => {
    for (const n of names) assert.equal(seriesOf(regular, n).lost, 0, n);
  });

  test("TTL 1: time exceeded from the router's address, with the quoted TTL and an RTT", () => {
    const router = lab.router!;
    for (let q = 0; q < requests.length; q += 2) {
      const r = traced[q]!;
      const family = requests[q]!.series.family;
      assert.deepEqual(
        [r.request, r.ttl, r.fate, r.from, r.icmpType, r.icmpCode],
        [q, 1, "time-exceeded", family === "ipv4" ? router.v4 : router.v6, family === "ipv4" ? 11 : 3, 0],
        `${requests[q]!.series.target}`,
      );
      assert.equal(r.quotedTtl, 1, `${requests[q]!.series.target}: quoted TTL`);
      assert.ok(r.rtt > 0 && r.rtt < 1, `${requests[q]!.series.target}: rtt ${r.rtt}`);
    }
  });

  test("TTL 2: the destination answers", () => {
    for (let q = 1; q < requests.length; q += 2) {
      const r = traced[q]!;
      assert.deepEqual(
        [r.ttl, r.fate, r.from],
        [2, "answered", requests[q]!.dst],
        requests[q]!.series.target,
      );
      assert.ok(r.rtt > 0 && r.rtt < 1, `${requests[q]!.series.target}: rtt ${r.rtt}`);
    }
  });

  test("on the wire a trace probe carries the regular probe's flow; only TTL and key differ", () => {
    const byKey = new Map<number, WirePacket>();
    for (const p of wire) {
      const k = keyOf(p);
      if (k !== undefined && (p.src.startsWith("198.18.") || p.src.startsWith("fd18:"))) byKey.set(k, p);
    }
    for (let q = 0; q < requests.length; q++) {
      const name = requests[q]!.series.target;
      const s = plan.series.indexOf(requests[q]!.series);
      let seen = 0;
      let i = 0;
      for (; i < plan.count; i++) if (plan.seriesOf[i] === s && seen++ === COPY) break;
      const reg = byKey.get(regular.inflight.keyOf(i));
      const tr = byKey.get(traced[q]!.key);
      assert.ok(reg, `${name}: the regular probe on the wire`);
      assert.ok(tr, `${name}: the trace probe on the wire`);
      assert.deepEqual(flowOf(tr), flowOf(reg), name);
      assert.equal(ttlOf(reg), 64, name);
      assert.equal(ttlOf(tr), requests[q]!.ttl, name);
      assert.notEqual(traced[q]!.key, regular.inflight.keyOf(i), name);
    }
  });
});
