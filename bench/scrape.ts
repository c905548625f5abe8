// Scrape benchmark (issue 11, item 5): do Prometheus scrapes slow the probing down? The real daemon
// (`netprobify CONFIG` as a separate process) probes N single-address TCPsyn targets in the lab
// (two targets whose loopbacks own 4,096 + 8,192 addresses; closed port, the kernel answers RST),
// and for each phase (0, 4, 16 scrapers scraping /metrics back to back over keep-alive connections)
// it measures the iteration rate (from the daemon's own "iteration done" log lines: their time minus
// their duration gives each start; rate = (n - 1) / (last start - first start)), scrape latency p50/p99/max, the exposition size
// and the daemon's CPU (utime + stime from /proc). Then, with the most scrapers running, the time
// from SIGHUP to "configuration reloaded" in the log. Prints a table and the ratio of each rate to
// the rate without scrapers (the target is >= 0.95); writes build/bench/scrape.json.
// Run: npm run bench:scrape [-- --targets 10000 --seconds 30 --scrapers 0,4,16 --interval 1 --smoke]
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzip } from "node:zlib";
import { createLab, type Lab } from "../src/lab/lab.js";
import { BIN } from "../test/support/paths.js";
import { intFlag, markdownTable, quantile, stringFlag, thousands } from "./lib/stats.js";

const argv = process.argv.slice(2);
const SMOKE = argv.includes("--smoke");
const TARGETS = intFlag(argv, "targets", SMOKE ? 50 : 10_000);
const SECONDS = intFlag(argv, "seconds", SMOKE ? 3 : 20);
const INTERVAL = intFlag(argv, "interval", 1);
const SCRAPERS = stringFlag(argv, "scrapers", SMOKE ? "0,2" : "0,4,16")
  .split(",")
  .map(Number);
/** Phases run in this many rounds, interleaved (0, 4, 16, 0, 4, 16...), so load drifts hit all alike. */
const ROUNDS = intFlag(argv, "rounds", SMOKE ? 1 : 2);
/** gzip: scrapers ask for gzip and decompress, as Prometheus does; identity: plain text. */
const ENCODING = stringFlag(argv, "encoding", "gzip");
const OUT = stringFlag(argv, "out", resolve("build/bench"));
const PORT = 19141;

/** The first n lab addresses over the two ranged targets. */
function addresses(lab: Lab, n: number): string[] {
  const out: string[] = [];
  for (const name of ["small", "big"]) {
    const r = lab.target(name).range!;
    out.push(...r.all4(Math.min(n - out.length, r.size)));
  }
  if (out.length < n) throw new Error(`the lab has ${out.length} addresses, fewer than ${n}`);
  return out;
}

function configYaml(dsts: readonly string[], probeName: string): string {
  const head = `global: {probe_name: ${probeName}, interval: ${INTERVAL}, nb_proc: 1, verbose: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  g: {src_port_a: 61000, src_port_z: 61015}
targets:
`;
  return (
    head +
    dsts.map((d, i) => `  t${i}: {type: TCPsyn, destination: "${d}", dst_port: 81, timeout: 1}\n`).join("")
  );
}

/** One log line of the daemon, with the time the bench read it. */
interface LogLine {
  msg: string;
  time: number;
  readAt: number;
  fields: Record<string, unknown>;
}

class Daemon {
  readonly lines: LogLine[] = [];
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  constructor(readonly child: ChildProcess) {
    let rest = "";
    child.stderr!.on("data", (b: Buffer) => {
      const readAt = Date.now();
      const parts = (rest + String(b)).split("\n");
      rest = parts.pop()!;
      for (const p of parts) {
        try {
          const o = JSON.parse(p) as Record<string, unknown>;
          const l = { msg: String(o.msg), time: Number(o.time), readAt, fields: o };
          this.lines.push(l);
          const matched = this.waiters.filter((w) => w.pred(l));
          this.waiters = this.waiters.filter((w) => !matched.includes(w));
          for (const w of matched) w.resolve(l);
        } catch {
          // not JSON: ignore
        }
      }
    });
  }
  next(pred: (l: LogLine) => boolean, ms: number): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching log line within ${ms} ms`)), ms);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }
  /** utime + stime of the daemon in seconds. */
  cpu(): number {
    const f = readFileSync(`/proc/${this.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  }
}

interface Scrape {
  ms: number;
  /** Exposition bytes (decompressed). */
  bytes: number;
  /** Bytes on the wire. */
  wire: number;
  status: number;
}

function scrapeOnce(agent: Agent): Promise<Scrape> {
  const t0 = performance.now();
  const headers = ENCODING === "gzip" ? { "accept-encoding": "gzip" } : {};
  return new Promise((res, rej) => {
    const req = request({ host: "127.0.0.1", port: PORT, path: "/metrics", agent, headers }, (r) => {
      const chunks: Buffer[] = [];
      r.on("data", (c: Buffer) => chunks.push(c));
      r.on("end", () => {
        const body = Buffer.concat(chunks);
        const done = (plain: Buffer) =>
          res({
            ms: performance.now() - t0,
            bytes: plain.length,
            wire: body.length,
            status: r.statusCode ?? 0,
          });
        if (r.headers["content-encoding"] !== "gzip") return done(body);
        gunzip(body, (err, plain) => (err ? rej(err) : done(plain)));
      });
      r.on("error", rej);
    });
    req.on("error", rej);
    req.end();
  });
}

/** n scrapers scraping back to back until stopped. */
function scrapers(n: number) {
  const results: Scrape[] = [];
  let errors = 0;
  let running = true;
  const loops = Array.from({ length: n }, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (running) {
      try {
        results.push(await scrapeOnce(agent));
      } catch {
        errors++;
      }
    }
    agent.destroy();
  });
  return {
    results,
    get errors() {
      return errors;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

interface Phase {
  scrapers: number;
  iterations: number;
  rate: number;
  scrapes: number;
  scrapeErrors: number;
  non200: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  bytes: number;
  wire: number;
  cpu: number;
  meanIterationMs: number;
  /** Each iteration's start (ms since the phase began) and duration. */
  timeline?: [number, number][];
}

async function phase(d: Daemon, n: number): Promise<Phase> {
  const s = scrapers(n);
  await new Promise((r) => setTimeout(r, 1000)); // let the scrapers reach their pace
  const from = Date.now();
  const cpu0 = d.cpu();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const to = Date.now();
  const cpu1 = d.cpu();
  await s.stop();
  const done = d.lines.filter((l) => l.msg === "iteration done" && l.time >= from && l.time <= to);
  // Start to start: (n - 1) intervals between the starts of the first and the last iteration.
  const start = (l: LogLine) => l.time - Number(l.fields.ms);
  const span = done.length > 1 ? start(done.at(-1)!) - start(done[0]!) : 0;
  const ok = s.results.filter((r) => r.status === 200);
  const ms = ok.map((r) => r.ms);
  return {
    scrapers: n,
    iterations: done.length,
    rate: span > 0 ? ((done.length - 1) * 1000) / span : 0,
    scrapes: ok.length,
    scrapeErrors: s.errors,
    non200: s.results.length - ok.length,
    p50ms: ms.length ? quantile(ms, 0.5) : Number.NaN,
    p99ms: ms.length ? quantile(ms, 0.99) : Number.NaN,
    maxms: ms.length ? Math.max(...ms) : Number.NaN,
    bytes: ok.at(-1)?.bytes ?? 0,
    wire: ok.length
      ? quantile(
          ok.map((r) => r.wire),
          0.5,
        )
      : 0,
    cpu: (cpu1 - cpu0) / ((to - from) / 1000),
    meanIterationMs: done.length ? done.reduce((a, l) => a + Number(l.fields.ms), 0) / done.length : 0,
    timeline: done.map((l) => [start(l) - from, Number(l.fields.ms)]),
  };
}

/** Phases of one scraper count over the rounds: iterations and time summed (rate = iterations / time). */
function merge(ps: Phase[]): Phase {
  const first = ps[0]!;
  if (ps.length === 1) return first;
  const spans = ps.map((p) => (p.rate > 0 ? (p.iterations - 1) / p.rate : 0));
  const span = spans.reduce((a, b) => a + b, 0);
  const sum = (f: (p: Phase) => number) => ps.reduce((a, p) => a + f(p), 0);
  return {
    ...first,
    iterations: sum((p) => p.iterations),
    rate: span > 0 ? sum((p) => p.iterations - 1) / span : 0,
    scrapes: sum((p) => p.scrapes),
    scrapeErrors: sum((p) => p.scrapeErrors),
    non200: sum((p) => p.non200),
    p50ms: Math.max(...ps.map((p) => p.p50ms)),
    p99ms: Math.max(...ps.map((p) => p.p99ms)),
    maxms: Math.max(...ps.map((p) => p.maxms)),
    cpu: sum((p) => p.cpu) / ps.length,
    meanIterationMs: sum((p) => p.meanIterationMs * p.iterations) / sum((p) => p.iterations),
  };
}

/** SIGHUP with a changed file; ms until the log says the reload is applied (by the log's clock). */
async function reload(d: Daemon, file: string, dsts: readonly string[], probeName: string): Promise<number> {
  writeFileSync(file, configYaml(dsts, probeName));
  const applied = d.next((l) => l.msg === "configuration reloaded", 120_000);
  const t0 = Date.now();
  d.child.kill("SIGHUP");
  return (await applied).time - t0;
}

async function main(): Promise<void> {
  const lab = await createLab({
    targets: [
      { name: "small", rangeSize: 4096 },
      { name: "big", rangeSize: 8192 },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), "npf-bench-scrape-"));
  let child: ChildProcess | undefined;
  try {
    const dsts = addresses(lab, TARGETS);
    const file = join(dir, "netprobify.yaml");
    writeFileSync(file, configYaml(dsts, "bench"));
    child = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "ignore", "pipe"] });
    const d = new Daemon(child);
    const loadBefore = loadavg()[0]!;
    // Warm up: two iterations done.
    await d.next((l) => l.msg === "iteration done", 120_000);
    await d.next((l) => l.msg === "iteration done", 120_000);
    const runs: Phase[] = [];
    for (let round = 0; round < ROUNDS; round++)
      for (const n of SCRAPERS) {
        runs.push(await phase(d, n));
        process.stderr.write(
          `round ${round + 1}, scrapers ${n}: ${runs.at(-1)!.rate.toFixed(3)} iterations/s\n`,
        );
      }
    const phases = SCRAPERS.map((n) => merge(runs.filter((p) => p.scrapers === n)));
    // Reloads: one target added (an operator's usual change), then the worst case, a new
    // probe_name (every series removed and created again); each with no scraper, then with the most.
    const most = Math.max(...SCRAPERS);
    const extra = addresses(lab, TARGETS + 2).slice(TARGETS);
    const reloads: { change: string; scrapers: number; ms: number }[] = [];
    const changes: [string, string[], string][] = [
      ["one target added", [...dsts, extra[0]!], "bench"],
      ["one more target added", [...dsts, ...extra], "bench"],
      ["new probe_name", [...dsts, ...extra], "bench2"],
      ["new probe_name", [...dsts, ...extra], "bench3"],
    ];
    for (const [i, [change, list, name]] of changes.entries()) {
      const n = i % 2 === 0 ? 0 : most;
      const load = scrapers(n);
      await new Promise((r) => setTimeout(r, 2000));
      reloads.push({ change, scrapers: n, ms: await reload(d, file, list, name) });
      await load.stop();
    }
    const reloadIdleMs = reloads[0]!.ms;
    const reloadLoadedMs = reloads[1]!.ms;
    child.kill("SIGTERM");
    const base = phases.find((p) => p.scrapers === 0)?.rate ?? phases[0]!.rate;
    const rows = phases.map((p) => [
      String(p.scrapers),
      String(p.iterations),
      p.rate.toFixed(3),
      (p.rate / base).toFixed(3),
      p.meanIterationMs.toFixed(0),
      thousands(p.scrapes),
      String(p.scrapeErrors + p.non200),
      p.scrapers ? p.p50ms.toFixed(1) : "",
      p.scrapers ? p.p99ms.toFixed(1) : "",
      p.scrapers ? p.maxms.toFixed(1) : "",
      p.bytes ? thousands(p.bytes) : "",
      p.wire ? thousands(p.wire) : "",
      `${(p.cpu * 100).toFixed(0)} %`,
    ]);
    const header = [
      "scrapers",
      "iterations",
      "iterations/s",
      "÷ 0 scrapers",
      "mean iteration ms",
      "scrapes",
      "failed",
      "scrape p50 ms",
      "p99 ms",
      "max ms",
      "exposition bytes",
      "bytes on the wire (p50)",
      "daemon CPU",
    ];
    const info = `${cpus().length} CPUs, kernel ${release()}, Node ${process.versions.node}; ${thousands(TARGETS)} TCPsyn targets × 1 packet, interval ${INTERVAL} s, timeout 1 s, ${ROUNDS} × ${SECONDS} s per scraper count (interleaved), scrapers ask for ${ENCODING}; machine load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`;
    const table = markdownTable(header, rows);
    const reloadText = reloads
      .map((r) => `- SIGHUP → reload applied (${r.change}, ${r.scrapers} scrapers): ${r.ms} ms`)
      .join("\n");
    process.stdout.write(`${info}\n\n${table}\n${reloadText}\n(interval ${INTERVAL * 1000} ms)\n`);
    const ratios = phases
      .filter((p) => p.scrapers > 0)
      .map((p) => `${p.scrapers}: ${(p.rate / base).toFixed(3)}`);
    process.stdout.write(`ratio to the rate without scrapers (target >= 0.95): ${ratios.join(", ")}\n`);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(
      join(OUT, "scrape.json"),
      `${JSON.stringify({ info, targets: TARGETS, interval: INTERVAL, phases, runs, reloads, reloadIdleMs, reloadLoadedMs }, null, 2)}\n`,
    );
  } finally {
    child?.kill("SIGKILL");
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
