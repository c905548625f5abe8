// `npm run bench:alloc`: heap bytes the JS thread allocates per packet on the engine's hot paths,
// offline. Receive: replies of every kind (ICMP echo reply, TCP SYN-ACK, ICMP port unreachable quoting
// a UDP probe; IPv4 and IPv6) written into a receive ring as the addon lays it out, then drained by the
// real Engine (ring → parse → key → match/count). Send: the engine's packet building (reused options,
// stampKey, buildPacket) for the three probe types and both families. Each path runs warm-up rounds
// (the JIT's), then a measured round between a forced GC and a heap reading, with a new space large
// enough that no scavenge happens in between (checked; a round with a GC is reported as such); the
// smallest of 5 such rounds: what a path allocates per packet it allocates in every round, while
// the JIT installing code (V8's workers finish when they finish: on a loaded machine, inside 3 of 5
// rounds, 29 B/reply at the median in one CI run) adds to some rounds only.
// Must run with: node --expose-gc --min-semi-space-size=64 --max-semi-space-size=64 dist/bench/alloc.js
// Also: replies that answer a running iteration (matched and recorded). Prints one JSON line:
// { receive, matched, send } bytes per packet (and gcs, rounds); test/engine/no-alloc.test.ts
// asserts on it. --where: V8's sampling heap profiler over 20 more rounds of each path, the functions
// that allocated (bytes per packet), to find what is left.
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { Engine } from "../src/engine/engine.js";
import { replyTo } from "../src/engine/fake-answers.js";
import type { ProbeKind } from "../src/engine/plan.js";
import { buildPlan } from "../src/engine/plan.js";
import { FakeBinding, type FakeSentPacket } from "../src/native/fake.js";
import { META_HAS_TIMESTAMP, RawSockets, RECV_META_WORDS, Ring } from "../src/native/rawsock.js";
import { allocRing, fillRing } from "../src/native/ring.js";
import { buildPacket, type PacketOptions, parseIPv4Packet, parseIPv6Packet } from "../src/packet/index.js";
import { PROTOCOL_OF, stampKey } from "../src/probes/kinds.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc (see the header of bench/alloc.ts)");

const ROUND = 8192;
/** Probes per iteration of the matched-replies measurement. */
const MATCH_PROBES = 4096;
const WARMUP_ROUNDS = 20;
/** Measured rounds; the smallest is reported (a round may catch the JIT installing code). */
const MEASURED_ROUNDS = 5;
const KINDS: ProbeKind[] = ["ICMPping", "TCPsyn", "UDPunreachable"];
const SRC4 = Uint8Array.of(198, 18, 0, 2);
const DST4 = Uint8Array.of(198, 19, 0, 7);
const SRC6 = Uint8Array.from([0xfd, 0x18, ...new Array(13).fill(0), 2]);
const DST6 = Uint8Array.from([0xfd, 0x18, 0, 1, ...new Array(11).fill(0), 7]);

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ["gc"] });

/** Heap bytes allocated per call of `round` (which handles `n` packets), after warm-up. */
async function perPacket(
  n: number,
  round: () => void,
  prepare: () => void = () => {},
): Promise<{ bytes: number; gcs: number }> {
  for (let k = 0; k < WARMUP_ROUNDS; k++) {
    prepare();
    round();
  }
  const bytes: number[] = [];
  let inRounds = 0;
  for (let k = 0; k < MEASURED_ROUNDS; k++) {
    prepare();
    gc!();
    await new Promise((r) => setTimeout(r, 20)); // the observer's entries of the forced GC
    const before = gcs;
    const h0 = getHeapStatistics().used_heap_size;
    round();
    const h1 = getHeapStatistics().used_heap_size;
    await new Promise((r) => setTimeout(r, 20));
    inRounds += gcs - before;
    bytes.push((h1 - h0) / n);
  }
  const r = { bytes: Math.min(...bytes), gcs: inRounds };
  if (process.argv.includes("--where")) await where(n, round, prepare);
  return r;
}

/** Prints the functions that allocated over 20 rounds, in bytes per packet (V8's sampling profiler). */
async function where(n: number, round: () => void, prepare: () => void): Promise<void> {
  const s = new Session();
  s.connect();
  await s.post("HeapProfiler.startSampling", {
    samplingInterval: 32,
    includeObjectsCollectedByMinorGC: true,
    includeObjectsCollectedByMajorGC: true,
  });
  for (let k = 0; k < 20; k++) {
    prepare();
    round();
  }
  const { profile } = await s.post("HeapProfiler.stopSampling");
  s.disconnect();
  type Node = (typeof profile)["head"];
  const sites: [number, string][] = [];
  const walk = (node: Node, path: string[]) => {
    const here = [
      ...path,
      `${node.callFrame.functionName || "(anonymous)"}:${node.callFrame.lineNumber + 1}`,
    ];
    if (node.selfSize > 0) sites.push([node.selfSize / (20 * n), here.slice(-4).join(" < ")]);
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, []);
  sites.sort((a, b) => b[0] - a[0]);
  for (const [b, at] of sites.slice(0, 6)) console.error(`  ${b.toFixed(1)} B/packet  ${at}`);
}

function options(kind: ProbeKind, family: 4 | 6): PacketOptions {
  return {
    protocol: PROTOCOL_OF[kind],
    src: family === 4 ? SRC4 : SRC6,
    dst: family === 4 ? DST4 : DST6,
    srcPort: 40000,
    dstPort: 81,
    dscp: 0,
    df: false,
    flowLabel: 0,
    payloadSize: 64,
  };
}

/** The bytes a raw socket delivers for a reply to a probe of `kind` with `key`, and its socket's protocol. */
function reply(kind: ProbeKind, family: 4 | 6, key: number): { protocol: number; bytes: Uint8Array } {
  const o = options(kind, family);
  stampKey(o, kind, key);
  const probe = new Uint8Array(200);
  const len = buildPacket(probe, 0, o);
  const bytes = probe.subarray(0, len);
  const p = family === 4 ? parseIPv4Packet(bytes, 0, len) : parseIPv6Packet(bytes, 0, len);
  const sent = { bytes, dst: o.dst } as FakeSentPacket;
  return replyTo(p!, sent);
}

async function receive(): Promise<{ bytes: number; gcs: number }> {
  const engine = new Engine({
    sockets: new RawSockets(new FakeBinding()),
    families: [4, 6],
    ports: { lo: 40000, hi: 40999 },
  });
  const drain = (engine as unknown as { drainRx(rx: unknown, r: Ring): void }).drainRx.bind(engine);
  // One ring per (family, socket protocol), each a round's worth of replies of its kind.
  const sets: { rx: { family: 4 | 6; protocol: number }; packets: Uint8Array[] }[] = [];
  for (const family of [4, 6] as const) {
    for (const kind of KINDS) {
      const packets: Uint8Array[] = [];
      let protocol = 0;
      for (let i = 0; i < ROUND / 6; i++) {
        const r = reply(kind, family, (0x92340000 + i * 7) >>> 0);
        protocol = r.protocol;
        packets.push(r.bytes);
      }
      sets.push({ rx: { family, protocol }, packets });
    }
  }
  const rings = sets.map(() => allocRing(ROUND, RECV_META_WORDS, 256));
  const views = rings.map((b) => new Ring(b));
  const fill = () => {
    sets.forEach((s, k) => {
      let i = 0;
      fillRing(rings[k]!, (meta, o, data, at) => {
        const p = s.packets[i++];
        if (p === undefined) return false;
        data.set(p, at);
        meta[o] = p.length;
        meta[o + 1] = META_HAS_TIMESTAMP;
        meta[o + 2] = 1;
        meta[o + 3] = 5000;
        const b = new Uint8Array(meta.buffer, meta.byteOffset + o * 4 + 16, 16);
        b.fill(0);
        b.set(s.rx.family === 4 ? DST4 : DST6);
        return true;
      });
    });
  };
  const n = sets.reduce((a, s) => a + s.packets.length, 0);
  const r = await perPacket(
    n,
    () => {
      for (let k = 0; k < sets.length; k++) drain(sets[k]!.rx, views[k]!);
    },
    fill,
  );
  engine.close();
  return r;
}

/**
 * Replies that answer a running iteration's probes (matched, recorded): each round is one iteration
 * of MATCH_PROBES ICMP echoes on the fake sockets, sent, then answered through the ring at once
 * (the iteration's end, which comes after the replies, is outside the measured window).
 */
async function match(): Promise<{ bytes: number; gcs: number }> {
  const fake = new FakeBinding();
  fake.clockNs = BigInt(Date.now()) * 1_000_000n;
  const engine = new Engine({
    sockets: new RawSockets(fake),
    families: [4],
    ports: { lo: 40000, hi: 40999 },
    firstKey: 0x90000000,
  });
  const drain = (engine as unknown as { drainRx(rx: unknown, r: Ring): void }).drainRx.bind(engine);
  const addresses = Array.from({ length: 64 }, (_, i) => `198.19.1.${i + 1}`);
  const plan = buildPlan(
    [
      {
        name: "t",
        type: "ICMPping",
        family: "ipv4",
        addresses,
        nbPackets: MATCH_PROBES / addresses.length,
        dontFragment: false,
        timeout: 60,
        groups: [{ name: "g", srcPortA: 40000, srcPortZ: 40999, dscp: 0, src: "198.18.0.2" }],
      },
    ],
    () => "198.18.0.2",
  );
  const buffer = allocRing(MATCH_PROBES, RECV_META_WORDS, 256);
  const ring = new Ring(buffer);
  const rx = { family: 4, protocol: 1 };
  let ended: Promise<unknown> = Promise.resolve();
  const prepare = () => {}; // the iteration is started by round() of the previous turn (async)
  const start = async (iteration: number) => {
    fake.sent.length = 0;
    // Every iteration turns the flows' order, as the daemon's do (src/engine/rotation.ts).
    ended = engine.run(plan, iteration);
    while (fake.sent.length < MATCH_PROBES) await new Promise((r) => setImmediate(r));
    const replies = fake.sent.map((sent) => {
      const b = sent.bytes;
      return { bytes: replyTo(parseIPv4Packet(b, 0, b.length)!, sent).bytes, src: sent.dst };
    });
    let i = 0;
    fillRing(buffer, (meta, o, data, at) => {
      const p = replies[i++];
      if (p === undefined) return false;
      data.set(p.bytes, at);
      meta[o] = p.bytes.length;
      meta[o + 1] = META_HAS_TIMESTAMP;
      meta[o + 2] = Math.floor(Date.now() / 1000);
      meta[o + 3] = 5000 + i;
      const b = new Uint8Array(meta.buffer, meta.byteOffset + o * 4 + 16, 16);
      b.fill(0);
      b.set(p.src);
      return true;
    });
  };
  const bytes: number[] = [];
  let inRounds = 0;
  for (let k = 0; k < WARMUP_ROUNDS + MEASURED_ROUNDS; k++) {
    await start(k);
    gc!();
    await new Promise((r) => setTimeout(r, 20));
    const before = gcs;
    const h0 = getHeapStatistics().used_heap_size;
    drain(rx, ring);
    const h1 = getHeapStatistics().used_heap_size;
    await ended;
    await new Promise((r) => setTimeout(r, 20));
    if (k >= WARMUP_ROUNDS) {
      inRounds += gcs - before;
      bytes.push((h1 - h0) / MATCH_PROBES);
    }
  }
  void prepare;
  engine.close();
  return { bytes: Math.min(...bytes), gcs: inRounds };
}

/** The engine's build loop (src/engine/engine.ts Iteration.build) for every type and family. */
function send(): Promise<{ bytes: number; gcs: number }> {
  const buf = new Uint8Array(200 * 64);
  const opts = KINDS.flatMap((k) => [4, 6].map((f) => ({ kind: k, o: options(k, f as 4 | 6) })));
  const o = options("ICMPping", 4);
  return perPacket(ROUND, () => {
    let off = 0;
    for (let i = 0; i < ROUND; i++) {
      const t = opts[i % opts.length]!;
      o.protocol = t.o.protocol;
      o.src = t.o.src;
      o.dst = t.o.dst;
      o.srcPort = 40000 + (i & 511);
      o.dstPort = 81;
      o.payloadSize = 64;
      stampKey(o, t.kind, (0x95000000 + i) >>> 0);
      off = (off + buildPacket(buf, off, o)) % (200 * 63);
    }
  });
}

async function main(): Promise<void> {
  const rx = await receive();
  const matched = await match();
  const tx = await send();
  const out = {
    receive: rx.bytes,
    matched: matched.bytes,
    send: tx.bytes,
    gcs: rx.gcs + matched.gcs + tx.gcs,
    round: ROUND,
  };
  if (process.argv.includes("--json")) console.log(JSON.stringify(out));
  else {
    console.log(`receive: ${rx.bytes.toFixed(1)} B/reply (${rx.gcs} GC in the measured round)`);
    console.log(`matched: ${matched.bytes.toFixed(1)} B/reply (${matched.gcs} GC in the measured rounds)`);
    console.log(`send:    ${tx.bytes.toFixed(1)} B/probe (${tx.gcs} GC in the measured round)`);
  }
}

await main();
