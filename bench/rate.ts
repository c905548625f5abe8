// How fast netprobify's raw packet path is, against the machine's own limit. In one lab (a target
// answering RST for 1000 addresses) and for IPv4 and IPv6, it measures:
//   - the C reference (bench/ref/rawref.c): send-only rate and send+match rate (two threads);
//   - the addon alone: precomputed SYNs through RawSockets.openTx + sendBatch (batches of 64 and
//     256), TX timestamps on and drained as the engine does (and once without them, to show their cost);
//   - the real engine: one iteration of the same probes (build, send, receive, match, kernel
//     timestamps), matched probes per second = answered probes / iteration time;
//   - the same with per-flow tracking on (issue 15): after each iteration the daemon's per-flow work
//     (ledger, anomaly detector, path_metrics series: bench/lib/paths-work.ts) is timed and added
//     to the iteration's time; the ratio on ÷ off is printed per family;
// each a few times after a warm-up (the kernel enables timestamping lazily), and prints best and
// median, ratios addon ÷ C, a markdown table, and JSON in build/bench/rate.json.
// Run: npx tsc -p tsconfig.json && sh src/lab/enter.sh node dist/bench/rate.js [--count N] [--runs R]
// [--engine-only] (the engine rows alone, without the C reference and the addon-only rows)
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { resolve } from "node:path";
import { summarizeFlows } from "../src/engine/flows.js";
import { ProbeState } from "../src/engine/inflight.js";
import { createLab } from "../src/lab/lab.js";
import { repoRoot } from "../src/lab/native.js";
import {
  type RawSocket,
  RawSockets,
  SEND_RECORD_WORDS,
  SEND_RESULT_WORDS,
  TX_TS_WORDS,
} from "../src/native/rawsock.js";
import { addressBytes, buildPacket } from "../src/packet/index.js";
import { kernelSource } from "../src/targets/source.js";
import { buildPlan, labEngine, type PlanTargetInput, warmUp } from "../test/integration/support.js";
import { pathsWork } from "./lib/paths-work.js";
import { runRawref } from "./lib/rawref.js";
import { intFlag, markdownTable, type RateSummary, summarizeRates, thousands } from "./lib/stats.js";

const argv = process.argv.slice(2);
const TARGETS = 1000;
const COUNT = Math.ceil(intFlag(argv, "count", 200_000) / TARGETS) * TARGETS;
const RUNS = intFlag(argv, "runs", 3);
const ENGINE_ONLY = argv.includes("--engine-only");
const DST_PORT = 81; // closed: the target's kernel answers RST
// Source ports, outside net.ipv4.ip_local_port_range, one range per implementation: each one's RX
// filter then rejects the answers to the others' probes in the kernel, so none of them pays for
// another's traffic.
const PORTS = {
  C: { lo: 62000, hi: 62015 },
  addon: { lo: 63000, hi: 63015 },
  engine: { lo: 61000, hi: 61015 },
} as const;
const EAGAIN = 11;
const ENOBUFS = 105;

interface Measure {
  family: 4 | 6;
  name: string;
  kind: "send" | "match";
  impl: "C" | "addon";
  batch: number;
  /** Engine rows: per-flow tracking (ledger, detector, path_metrics) timed after each iteration. */
  paths?: boolean;
  run: (count: number) => Promise<{ pps: number; detail: Record<string, number> }>;
}

/** Precomputed SYNs for the addon send-only measurement: one buffer, one record per packet. */
function precompute(family: 4 | 6, src: string, dsts: readonly string[], count: number) {
  const stride = family === 4 ? 40 : 60;
  const data = new Uint8Array(count * stride);
  const records = new Uint32Array(count * SEND_RECORD_WORDS);
  const addresses = new Uint8Array(dsts.length * 16);
  const dstBytes = dsts.map(addressBytes);
  dstBytes.forEach((a, i) => {
    addresses.set(a, i * 16);
  });
  const srcBytes = addressBytes(src);
  for (let i = 0; i < count; i++) {
    const t = i % dsts.length;
    const len = buildPacket(data, i * stride, {
      protocol: "tcp-syn",
      src: srcBytes,
      dst: dstBytes[t]!,
      srcPort: PORTS.addon.lo + (i % (PORTS.addon.hi - PORTS.addon.lo + 1)),
      dstPort: DST_PORT,
      seq: i,
      id: i & 0xffff,
      df: true,
    });
    const r = i * SEND_RECORD_WORDS;
    records[r] = i * stride;
    records[r + 1] = len;
    records[r + 2] = t;
    records[r + 3] = 0;
  }
  return { data, records, addresses };
}

/** Sends `count` precomputed packets as fast as sendBatch takes them; drains TX timestamps per batch. */
function addonSend(
  sock: RawSocket,
  batch: ReturnType<typeof precompute>,
  count: number,
  size: number,
  timestamps: boolean,
) {
  const results = new Uint32Array(size * SEND_RESULT_WORDS);
  const ts = new Uint32Array(256 * TX_TS_WORDS);
  let failed = 0;
  let retries = 0;
  let stamps = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; ) {
    const n = Math.min(size, count - i);
    const sent = sock.sendBatch(batch, i, n, results);
    let done = n;
    if (sent !== n) {
      for (let k = 0; k < n; k++) {
        const e = results[k * SEND_RESULT_WORDS]!;
        if (e === EAGAIN || e === ENOBUFS) {
          done = k;
          retries++;
          break;
        }
        if (e !== 0) failed++;
      }
    }
    i += done;
    if (timestamps)
      for (let m = sock.readTxTimestamps(ts, 256); m > 0; m = sock.readTxTimestamps(ts, 256)) stamps += m;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (timestamps)
    for (let m = sock.readTxTimestamps(ts, 256); m > 0; m = sock.readTxTimestamps(ts, 256)) stamps += m;
  return { pps: count / seconds, detail: { seconds, failed, retries, txTimestamps: stamps } };
}

async function main(): Promise<void> {
  const lab = await createLab({ targets: [{ name: "rst", rangeSize: 1024 }] });
  const socks = new RawSockets();
  const txs: RawSocket[] = [];
  try {
    const range = lab.target("rst").range!;
    const measures: Measure[] = [];
    for (const family of [4, 6] as const) {
      const dsts = family === 4 ? range.all4(TARGETS) : range.all6(TARGETS);
      const src = await kernelSource(dsts[0]!, family === 4 ? "ipv4" : "ipv6");
      const ref = (mode: "send" | "match", batch: number) => async (count: number) => {
        const r = await runRawref({
          family,
          src,
          dst: dsts[0]!,
          targets: TARGETS,
          dstPort: DST_PORT,
          sportLo: PORTS.C.lo,
          sportHi: PORTS.C.hi,
          count,
          batch,
          mode,
        });
        const pps = mode === "send" ? r.send_pps : r.matched / r.total_seconds;
        return { pps, detail: { matched: r.matched, failed: r.failed, seconds: r.total_seconds } };
      };
      const packets = precompute(family, src, dsts, COUNT);
      const tx = socks.openTx(family);
      const txBare = socks.openTx(family, { txTimestamps: false });
      txs.push(tx, txBare);
      const targets: PlanTargetInput[] = [
        {
          name: `rst-v${family}`,
          type: "TCPsyn",
          family: family === 4 ? "ipv4" : "ipv6",
          addresses: dsts,
          dstPort: DST_PORT,
          nbPackets: COUNT / TARGETS,
          dontFragment: true,
          timeout: 1,
          groups: [{ name: "g", srcPortA: PORTS.engine.lo, srcPortZ: PORTS.engine.hi, dscp: 0, src }],
        },
      ];
      const planOf = (count: number) =>
        buildPlan([{ ...targets[0]!, nbPackets: Math.ceil(count / TARGETS) }], () => {
          throw new Error("sources are fixed");
        });
      // A fresh engine per run, for this family only, open just while it runs (its RX sockets would
      // otherwise take a copy of every other measurement's answers); its first small iteration
      // makes sure the kernel has switched RX timestamping on.
      const work = pathsWork([`rst-v${family}`]);
      const engineRun =
        (batch: number, paths = false) =>
        async (count: number) => {
          const plan = planOf(count);
          const engine = labEngine(targets, { families: [family], batch });
          const r = await (async () => {
            try {
              await warmUp();
              await engine.run(planOf(TARGETS));
              return await engine.run(plan);
            } finally {
              engine.close();
            }
          })();
          const pathsMs = paths ? work(r) : 0;
          // The engine's own per-flow pass (inside every iteration's time, on and off): timed again here.
          const t0 = performance.now();
          if (paths) summarizeFlows(plan, r.inflight);
          const flowsMs = paths ? performance.now() - t0 : 0;
          let answered = 0;
          let timed = 0;
          let firstUnanswered = -1;
          for (let i = 0; i < plan.count; i++) {
            if (r.inflight.state[i] === ProbeState.Answered) answered++;
            else if (firstUnanswered < 0) firstUnanswered = i;
            if (Number.isFinite(r.inflight.rttNs(i))) timed++;
          }
          return {
            pps: answered / ((r.durationMs + pathsMs) / 1000),
            detail: {
              pathsMs,
              flowsMs,
              flows: r.flows?.flows.length ?? 0,
              answered,
              timed,
              firstUnanswered,
              failed: r.series.reduce((n, x) => n + x.failed, 0),
              probes: plan.count,
              seconds: r.durationMs / 1000,
              socketDrops: r.socketDrops,
            },
          };
        };
      const engineRows: Measure[] = [
        { family, name: "engine iteration", kind: "match", impl: "addon", batch: 64, run: engineRun(64) },
        { family, name: "engine iteration", kind: "match", impl: "addon", batch: 256, run: engineRun(256) },
        {
          family,
          name: "engine iteration + per-flow paths",
          kind: "match",
          impl: "addon",
          batch: 256,
          paths: true,
          run: engineRun(256, true),
        },
      ];
      if (ENGINE_ONLY) {
        measures.push(...engineRows);
        continue;
      }
      measures.push(
        { family, name: "C rawref send", kind: "send", impl: "C", batch: 64, run: ref("send", 64) },
        { family, name: "C rawref send", kind: "send", impl: "C", batch: 256, run: ref("send", 256) },
        { family, name: "C rawref send+match", kind: "match", impl: "C", batch: 64, run: ref("match", 64) },
        {
          family,
          name: "addon sendBatch",
          kind: "send",
          impl: "addon",
          batch: 64,
          run: async (n) => addonSend(tx, packets, n, 64, true),
        },
        {
          family,
          name: "addon sendBatch",
          kind: "send",
          impl: "addon",
          batch: 256,
          run: async (n) => addonSend(tx, packets, n, 256, true),
        },
        {
          family,
          name: "addon sendBatch, no TX timestamps",
          kind: "send",
          impl: "addon",
          batch: 256,
          run: async (n) => addonSend(txBare, packets, n, 256, false),
        },
        ...engineRows,
      );
    }

    // Warm-up: timestamping on, code paths compiled, caches and neighbour state hot.
    const warm = Math.max(TARGETS, Math.floor(COUNT / 10 / TARGETS) * TARGETS);
    for (const m of measures) await m.run(warm);
    // Measured runs, interleaved so that drift in the machine's state hits every measure alike.
    const runs = new Map<Measure, { pps: number; detail: Record<string, number> }[]>();
    for (let k = 0; k < RUNS; k++) {
      for (const m of measures) {
        const r = await m.run(COUNT);
        const list = runs.get(m) ?? [];
        list.push(r);
        runs.set(m, list);
        process.stderr.write(
          `run ${k + 1}/${RUNS} IPv${m.family} ${m.name} b${m.batch}: ${thousands(r.pps)}/s\n`,
        );
      }
    }
    report(measures, runs);
  } finally {
    for (const t of txs) t.close();
    await lab.destroy();
  }
}

function report(
  measures: Measure[],
  runs: Map<Measure, { pps: number; detail: Record<string, number> }[]>,
): void {
  const summary = new Map<Measure, RateSummary>();
  for (const m of measures) summary.set(m, summarizeRates(runs.get(m)!.map((r) => r.pps)));
  const refFor = (m: Measure) =>
    measures.find(
      (x) =>
        x.impl === "C" &&
        x.family === m.family &&
        x.kind === m.kind &&
        (m.kind === "match" || x.batch === m.batch),
    )!;
  const ratio = (m: Measure, f: "best" | "median") =>
    m.impl === "C" || !refFor(m) ? "" : (summary.get(m)![f] / summary.get(refFor(m))![f]).toFixed(2);
  // Per-flow tracking on ÷ off: the same engine rows (batch 256), run alternately.
  const tracking = ([4, 6] as const).map((family) => {
    const on = measures.find((m) => m.family === family && m.paths);
    const off = measures.find((m) => m.family === family && m.name === "engine iteration" && m.batch === 256);
    if (!on || !off) return undefined;
    const r = (f: "best" | "median") => summary.get(on)![f] / summary.get(off)![f];
    const ms = runs.get(on)!.map((x) => x.detail.pathsMs!);
    const flowsMs = runs.get(on)!.map((x) => x.detail.flowsMs!);
    const seconds = runs.get(off)!.map((x) => x.detail.seconds!);
    return {
      family,
      best: r("best"),
      median: r("median"),
      pathsMsMax: Math.max(...ms),
      flowsMsMax: Math.max(...flowsMs),
      fastestOffMs: Math.min(...seconds) * 1000,
    };
  });
  const rows = measures.map((m) => {
    const s = summary.get(m)!;
    return [
      `IPv${m.family}`,
      m.kind === "send" ? "send only" : "send+match",
      m.name,
      String(m.batch),
      thousands(s.best),
      thousands(s.median),
      ratio(m, "best"),
      ratio(m, "median"),
    ];
  });
  const table = markdownTable(
    ["family", "what", "implementation", "batch", "best /s", "median /s", "÷ C best", "÷ C median"],
    rows,
  );
  console.log(
    `\n${COUNT.toLocaleString("en-US")} TCP SYNs to ${TARGETS} lab addresses (RST), ${RUNS} runs each; ` +
      `${cpus().length} CPUs, kernel ${release()}, Node ${process.versions.node}\n`,
  );
  console.log(table);
  for (const t of tracking) {
    if (!t) continue;
    console.log(
      `per-flow tracking on ÷ off, IPv${t.family}: best ${t.best.toFixed(3)}, median ${t.median.toFixed(3)} ` +
        `(per-flow work after an iteration: at most ${t.pathsMsMax.toFixed(1)} ms; the engine's per-flow pass, ` +
        `inside both rows: at most ${t.flowsMsMax.toFixed(1)} ms; fastest iteration off: ${t.fastestOffMs.toFixed(0)} ms)`,
    );
  }
  const out = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, kernel: release(), node: process.versions.node },
    count: COUNT,
    targets: TARGETS,
    runs: RUNS,
    results: measures.map((m) => ({
      family: m.family,
      kind: m.kind,
      implementation: m.name,
      batch: m.batch,
      ...summary.get(m)!,
      ratioBest: m.impl === "C" ? undefined : Number(ratio(m, "best")),
      ratioMedian: m.impl === "C" ? undefined : Number(ratio(m, "median")),
      details: runs.get(m)!.map((r) => r.detail),
    })),
    table,
    perFlowTracking: tracking.filter((t) => t !== undefined),
  };
  const dir = resolve(repoRoot(), "build/bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, "rate.json"), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`\nJSON: ${resolve(dir, "rate.json")}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
