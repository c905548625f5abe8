// What the status page's history costs (src/web/history.ts) and how fast its JSON API answers
// (src/web/api.ts), at 5,000 targets: memory per target per hour (measured from the process's
// ArrayBuffer bytes, beside the computed figure), the time to record one iteration, and the time
// and size of /api/v1/status and of a 200-id /api/v1/history over the full retention. No network:
// iterations are synthetic results recorded straight into the history.
// Run: npm run bench:history [-- --targets 5000 --interval 30 --retention 86400]
import { gzipSync } from "node:zlib";
import { loadConfigText } from "../src/config/load.js";
import type { IterationResult } from "../src/engine/engine.js";
import { newForeignCounters, type SeriesResult } from "../src/engine/results.js";
import { answerApi, WebState } from "../src/web/api.js";
import { bytesPerSeriesPerHour } from "../src/web/history.js";
import { intFlag, markdownTable, quantile } from "./lib/stats.js";

const median = (v: number[]) => quantile(v, 0.5);

const argv = process.argv.slice(2);
const TARGETS = intFlag(argv, "targets", 5000);
const INTERVAL = intFlag(argv, "interval", 30);
const RETENTION = intFlag(argv, "retention", 86400);
const PACKETS = 5;

function configText(): string {
  const lines = [
    "global:",
    "  probe_name: bench",
    `  interval: ${INTERVAL}`,
    "  nb_proc: 1",
    "  logging_level: INFO",
    "  prometheus_port: 8000",
    "  dns_update_interval: 0",
    `  history_retention: ${RETENTION}`,
    "groups:",
    "  g: {}",
    "targets:",
  ];
  for (let i = 0; i < TARGETS; i++)
    lines.push(
      `  t${i}:`,
      "    type: ICMPping",
      `    destination: 198.18.${(i >> 8) & 0xff}.${i & 0xff}`,
      `    nb_packets: ${PACKETS}`,
    );
  return `${lines.join("\n")}\n`;
}

/** One result per target, reused every iteration (only the numbers change, as the engine's would). */
function results(): SeriesResult[] {
  return Array.from({ length: TARGETS }, (_, i) => ({
    target: `t${i}`,
    group: "g",
    sent: PACKETS,
    lost: 0,
    unreachable: 0,
    unreachableBy: new Map(),
    failed: 0,
    late: 0,
    duplicates: 0,
    negativeRtt: 0,
    untimed: 0,
    rtts: new Float64Array(PACKETS),
    icmpErrors: new Map(),
    ipdvPairs: 0,
    ipdvMeanAbs: undefined,
    ipdvMaxAbs: undefined,
  }));
}

async function main(): Promise<void> {
  const config = loadConfigText("bench-history.yaml", configText());
  let clock = 1_700_000_000;
  const web = new WebState("bench", () => clock);
  web.applyConfig(config);
  const series = results();
  const result: IterationResult = {
    series,
    foreign: newForeignCounters(),
    durationMs: 1000,
    timedOut: false,
    socketDrops: 0,
    sendErrors: new Map(),
    inflight: undefined as never,
    received: 0,
    faults: new Map(),
  };
  const iterations = Math.ceil(RETENTION / Math.max(1, INTERVAL));
  const buffersBefore = await settledArrayBuffers();
  const recordMs: number[] = [];
  for (let k = 0; k < iterations; k++) {
    for (let i = 0; i < TARGETS; i++) {
      const r = series[i]!;
      r.lost = (i + k) % 50 === 0 ? 1 : 0;
      for (let p = 0; p < PACKETS; p++) r.rtts[p] = 0.001 + ((i * 7 + k * 13 + p * 3) % 97) * 1e-5;
      r.rtts.sort();
    }
    clock += INTERVAL;
    const t0 = performance.now();
    web.recordIteration(config, result);
    recordMs.push(performance.now() - t0);
  }
  const buffers = (await settledArrayBuffers()) - buffersBefore;
  const hours = RETENTION / 3600;
  const measuredPerHour = buffers / TARGETS / hours;

  const time = (path: string, query: string, runs: number) => {
    const ms: number[] = [];
    let body = "";
    let gzMs = 0;
    let gz = 0;
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      body = answerApi(web, path, new URLSearchParams(query))!.body;
      ms.push(performance.now() - t0);
      const t1 = performance.now();
      gz = gzipSync(body, { level: 1 }).length;
      gzMs = performance.now() - t1;
    }
    return { ms: median(ms), bytes: body.length, gz, gzMs };
  };
  const status = time("/api/v1/status", "", 5);
  const ids = Array.from({ length: 200 }, (_, i) => `t${i * Math.floor(TARGETS / 200)}/g`).join(",");
  const history = time("/api/v1/history", `ids=${ids}&from=0&to=${clock + 1}`, 5);
  const historyHour = time("/api/v1/history", `ids=${ids}&from=${clock - 3600}&to=${clock + 1}`, 5);
  const f = (n: number, d = 1) => n.toFixed(d);
  console.log(
    `history: ${TARGETS} targets × 1 group, interval ${INTERVAL} s, retention ${RETENTION} s (${iterations} iterations)\n`,
  );
  console.log(
    markdownTable(
      ["what", "value"],
      [
        ["rings, measured (ArrayBuffer bytes)", `${f(buffers / 2 ** 20)} MiB`],
        ["per target per hour, measured", `${f(measuredPerHour, 0)} B`],
        ["per target per hour, computed", `${bytesPerSeriesPerHour(INTERVAL)} B`],
        ["record one iteration (median)", `${f(median(recordMs), 2)} ms`],
      ],
    ),
  );
  console.log();
  console.log(
    markdownTable(
      ["call", "build (median)", "JSON", "gzip level 1", "gzip time"],
      (
        [
          ["/api/v1/status", status],
          ["/api/v1/history, 200 ids, whole retention, 600 points", history],
          ["/api/v1/history, 200 ids, last hour", historyHour],
        ] as [string, typeof status][]
      ).map(([name, x]) => {
        return [
          name,
          `${f(x.ms)} ms`,
          `${f(x.bytes / 1024)} KiB`,
          `${f(x.gz / 1024)} KiB`,
          `${f(x.gzMs)} ms`,
        ];
      }),
    ),
  );
}

await main();

/**
 * ArrayBuffer bytes once garbage is gone: V8 frees dead buffers' memory on a background sweeper
 * after a collection, so one gc() and an immediate reading can still count buffers already dead
 * (a CI run measured -0.4 MiB). Collects and yields to the event loop until two readings agree.
 */
async function settledArrayBuffers(): Promise<number> {
  let last = Number.NaN;
  for (let i = 0; i < 20; i++) {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 10));
    const now = process.memoryUsage().arrayBuffers;
    if (now === last) return now;
    last = now;
  }
  return last;
}
