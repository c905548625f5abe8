// `npm run bench:daemon-offline`: the daemon's JavaScript per probe without the lab or privileges. The
// real Daemon, Metrics and status-page state run iterations back to back on the fake sockets
// (src/native/fake.ts), every probe answered at once (src/engine/fake-answers.ts); nothing reaches a
// real socket. It prints, per stage of an iteration's recording, the time per probe, the process's
// CPU per probe after the first iterations, and with --profile a CPU profile of the whole run. The
// fake's own work (answering, copying packets) is in the totals: compare runs, or read the profile by
// file. For what the real daemon costs beside fping, `npm run bench:daemon` (in the lab).
//
// Run: npm run bench:daemon-offline [-- --sizes 512x20] [--iterations 30] [--type ICMPping] [--marks]
//      (stdbuf -oL node --trace-opt --trace-deopt dist/bench/daemon-offline.js --marks: V8's traces by iteration)
//      (node --cpu-prof --cpu-prof-dir=DIR dist/bench/daemon-offline.js ... for a profile)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DaemonReports } from "../src/cli/daemon-reports.js";
import { Daemon } from "../src/daemon/daemon.js";
import { createLogger } from "../src/daemon/logger.js";
import { Engine } from "../src/engine/engine.js";
import { answerEverySend } from "../src/engine/fake-answers.js";
import { engineOptions } from "../src/engine/from-config.js";
import { Metrics } from "../src/metrics/metrics.js";
import { FakeBinding } from "../src/native/fake.js";
import { RawSockets } from "../src/native/rawsock.js";
import { WebState } from "../src/web/api.js";
import { intFlag, stringFlag } from "./lib/stats.js";

const argv = process.argv.slice(2);
const ITERATIONS = intFlag(argv, "iterations", 30);
/** Iterations left out of the per-probe figures (the JIT's warm-up). */
const SKIP = 2;
/** --marks: a line after each iteration on stdout (to read V8's --trace-* output by iteration). */
const MARKS = argv.includes("--marks");
const TYPE = stringFlag(argv, "type", "ICMPping");
const m = /^(\d+)x(\d+)$/.exec(stringFlag(argv, "sizes", "512x20"));
if (!m) throw new Error("--sizes wants ADDRESSESxPACKETS (addresses per family, a power of 2)");
const ADDRESSES = Number(m[1]);
const PACKETS = Number(m[2]);
const bits = Math.log2(ADDRESSES);
if (!Number.isInteger(bits) || bits > 16)
  throw new Error("--sizes: addresses per family must be 2^k ≤ 65536");

/** Wraps obj[name] to add its time to `into[label]`. */
function timed<T extends object>(
  obj: T,
  name: keyof T & string,
  label: string,
  into: Map<string, number>,
): void {
  const f = (obj[name] as (...a: unknown[]) => unknown).bind(obj);
  (obj as Record<string, unknown>)[name] = (...a: unknown[]) => {
    const t = performance.now();
    try {
      return f(...a);
    } finally {
      into.set(label, (into.get(label) ?? 0) + performance.now() - t);
    }
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "netprobify-daemon-offline-"));
  const file = join(dir, "daemon.yaml");
  writeFileSync(
    file,
    [
      "global: {probe_name: offline, interval: 0, nb_proc: 1, verbose: 1, logging_level: INFO,",
      "  prometheus_port: 9100, dns_update_interval: 0, percentile: [50, 99]}",
      'groups: {g: {src_ipv4: 198.18.0.2, src_ipv6: "fd18::2", src_port_a: 40000, src_port_z: 40999}}',
      "targets:",
      `  v4: {type: ${TYPE}, destination: 198.19.0.0/${32 - bits}, nb_packets: ${PACKETS}, timeout: 1, dst_port: 81}`,
      `  v6: {type: ${TYPE}, destination: "fd18:1::/${128 - bits}", nb_packets: ${PACKETS}, timeout: 1, dst_port: 81}`,
      "",
    ].join("\n"),
  );
  const fake = new FakeBinding();
  fake.clockNs = BigInt(Date.now()) * 1_000_000n;
  fake.rxQueueLimit = 1 << 20;
  const net = answerEverySend(fake, 20_000n);
  const stop = () => net.stop();
  const log = createLogger("INFO", { destination: { write: () => true } });
  const metrics = new Metrics({ version: "offline" });
  const reports = new DaemonReports(metrics, new WebState("offline"), (err) => {
    throw err;
  });
  const d = new Daemon({
    file,
    log,
    metrics: reports,
    openEngine: (c) => new Engine({ ...engineOptions(c), sockets: new RawSockets(fake) }),
  });
  const stages = new Map<string, number>();
  const cpu: { user: number; system: number; sent: number }[] = [];
  try {
    await d.init();
    timed(reports, "recordIteration", "metrics and status page: recordIteration", stages);
    timed(d.ledger, "record", "ledger.record", stages);
    timed(d.ledger, "view", "ledger.view (anomalies, path metrics)", stages);
    timed(reports, "recordPaths", "metrics: recordPaths", stages);
    const tracing = (d as unknown as { tracing: { afterIteration(): void } }).tracing;
    timed(tracing, "afterIteration", "paths: trace-on-loss afterIteration (anomalies)", stages);
    timed(reports, "publish", "metrics: publish (exposition)", stages);
    const record = reports.recordIteration.bind(reports);
    let at = process.cpuUsage();
    reports.recordIteration = (config, result) => {
      record(config, result);
      const u = process.cpuUsage(at);
      at = process.cpuUsage();
      cpu.push({ user: u.user, system: u.system, sent: result.series.reduce((n, s) => n + s.sent, 0) });
      // A mark between iterations, for reading node --trace-opt/--trace-deopt/--trace-gc output by iteration.
      if (MARKS) console.log(`--- iteration ${cpu.length} done: user ${(u.user / 1000).toFixed(1)} ms`);
      if (cpu.length === ITERATIONS) void d.stop();
    };
    d.start();
    await d.done;
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const later = cpu.slice(SKIP);
  const probes = later.reduce((n, c) => n + c.sent, 0);
  const all = cpu.reduce((n, c) => n + c.sent, 0);
  const per = (us: number, n: number) => (us / n).toFixed(3);
  console.log(`${TYPE} 2 × ${ADDRESSES} × ${PACKETS}: ${cpu.length} iterations of ${cpu[0]?.sent} probes`);
  console.log(
    `process CPU µs/probe after ${SKIP} iterations: user ${per(
      later.reduce((n, c) => n + c.user, 0),
      probes,
    )}, ` +
      `system ${per(
        later.reduce((n, c) => n + c.system, 0),
        probes,
      )} (the fake's work included)`,
  );
  for (const [stage, ms] of stages)
    console.log(`  ${stage}: ${per(ms * 1000, all)} µs/probe (all iterations)`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
