// `netprobify run --once`: one probing iteration of a configuration, printed as a table. For an
// operator checking a new configuration against the real network before deploying the daemon, and
// for demos in the lab. Needs CAP_NET_RAW like the daemon.
//
// `--json` prints the same results as one JSON object (per series: sent, lost, RTT percentiles; the
// iteration's duration, socket drops, send errors, and what the process had used when the iteration
// ended), and `--probe-log FILE` writes one CSV line per probe (key, state, kernel timestamps) — what
// the benchmark (bench/suite.ts) compares with a packet capture. docs/cli-once.md describes both.
import { closeSync, openSync, writeSync } from "node:fs";
import type { Config } from "../config/load.js";
import { engineOptions } from "../engine/from-config.js";
import { type InFlight, ProbeState } from "../engine/inflight.js";
import type { ProbePlan } from "../engine/plan.js";
import { openEngine, prepare } from "../engine/prober.js";
import { compatLost, lossRatio, rttPercentile, type SeriesResult } from "../engine/results.js";
import { warmUp } from "../engine/warmup.js";
import { Code, NetprobifyError } from "../errors.js";
import type { Io } from "./main.js";

export interface OnceOptions {
  /** Print the results as JSON instead of a table. */
  json?: boolean;
  /** Write one CSV line per probe to this file. */
  probeLog?: string;
}

function ms(s: number | undefined): string {
  return s === undefined ? "-" : (s * 1000).toFixed(3);
}

export function formatResults(series: readonly SeriesResult[], percentiles: readonly number[]): string {
  const head = [
    "target",
    "group",
    "sent",
    "lost",
    "loss%",
    ...percentiles.map((p) => `p${p} ms`),
    "late",
    "dup",
    "failed",
    "unreachable",
    "icmp errors",
  ];
  const rows = series.map((s) => [
    s.target,
    s.group,
    String(s.sent),
    String(compatLost(s)),
    (lossRatio(s) * 100).toFixed(2),
    ...percentiles.map((p) => ms(rttPercentile(s, p))),
    String(s.late),
    String(s.duplicates),
    String(s.failed),
    [...s.unreachableBy].map(([k, v]) => `${k}:${v}`).join(" ") || "-",
    [...s.icmpErrors].map(([k, v]) => `${k}:${v}`).join(" ") || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/** RTT quantiles always reported in JSON, on top of the configuration's `percentile` list. */
const JSON_PERCENTILES = [50, 90, 95, 99];

/** The JSON form of one series; RTTs in milliseconds, null where there is no sample. */
export function seriesJson(s: SeriesResult, percentiles: readonly number[]) {
  const ps = [...new Set([...JSON_PERCENTILES, ...percentiles])].sort((a, b) => a - b);
  const r = (v: number | undefined) => (v === undefined ? null : v * 1000);
  return {
    target: s.target,
    group: s.group,
    sent: s.sent,
    lost: compatLost(s),
    unreachable: s.unreachable,
    unreachableBy: Object.fromEntries(s.unreachableBy),
    lossRatio: lossRatio(s),
    failed: s.failed,
    late: s.late,
    duplicates: s.duplicates,
    negativeRtt: s.negativeRtt,
    untimed: s.untimed,
    rttSamples: s.rtts.length,
    rttMs: {
      min: r(s.rtts[0]),
      max: r(s.rtts.at(-1)),
      ...Object.fromEntries(ps.map((p) => [`p${p}`, r(rttPercentile(s, p))])),
    },
    icmpErrors: Object.fromEntries(s.icmpErrors),
  };
}

/** A probe's state in the log: still pending when the iteration ended counts as lost, as in the results. */
const STATE_NAMES: Record<number, string> = {
  [ProbeState.Unsent]: "unsent",
  [ProbeState.Pending]: "lost",
  [ProbeState.Answered]: "answered",
  [ProbeState.TimedOut]: "lost",
  [ProbeState.SendFailed]: "failed",
};

export const PROBE_LOG_HEADER = "index,target,group,type,dst,src,src_port,key,state,tx_ns,rx_ns,rtt_ns";

/** A kernel timestamp (ns since `epochSec`) as absolute CLOCK_REALTIME nanoseconds, "" if unknown. */
function absNs(epochSec: number, ns: number): string {
  if (!Number.isFinite(ns)) return "";
  const sec = Math.floor(ns / 1e9);
  return `${epochSec + sec}${String(ns - sec * 1e9).padStart(9, "0")}`;
}

/** An output file the command line names, open for writing (errors: outputError). */
export interface OutputFile {
  file: string;
  fd: number;
}

/** The file created (truncated) for writing; NPF_OUTPUT_FAILED if it cannot be. */
export function openOutput(file: string): OutputFile {
  try {
    return { file, fd: openSync(file, "w") };
  } catch (err) {
    throw outputError(file, err);
  }
}

function outputError(file: string, err: unknown): NetprobifyError {
  const code = (err as NodeJS.ErrnoException)?.code ?? String(err);
  return new NetprobifyError(Code.NPF_OUTPUT_FAILED, `${file}: cannot be written (${code})`, { cause: err });
}

/**
 * Writes the probe log: a header line, then one line per probe of the plan, in sending order. Times are
 * CLOCK_REALTIME nanoseconds (the kernel's software timestamps, comparable with a pcap's). A write that
 * fails (a full disk) is NPF_OUTPUT_FAILED, not an internal error.
 */
export function writeProbeLog(out: OutputFile, plan: ProbePlan, f: InFlight, epochSec: number): void {
  const { fd } = out;
  try {
    let chunk = `${PROBE_LOG_HEADER}\n`;
    for (let i = 0; i < plan.count; i++) {
      const s = plan.series[plan.seriesOf[i]!]!;
      const tx = f.txAt(i);
      const rx = f.rxAt(i);
      const answered = f.state[i] === ProbeState.Answered;
      const rtt = answered && Number.isFinite(tx) && Number.isFinite(rx) ? String(rx - tx) : "";
      chunk += `${i},${s.target},${s.group},${s.type},${plan.addresses[plan.dst[i]!]},${plan.addresses[plan.src[i]!]},${plan.srcPort[i]},${f.keyOf(i)},${STATE_NAMES[f.state[i]!]},${absNs(epochSec, tx)},${answered ? absNs(epochSec, rx) : ""},${rtt}\n`;
      if (chunk.length > 1 << 20) {
        writeSync(fd, chunk);
        chunk = "";
      }
    }
    if (chunk.length > 0) writeSync(fd, chunk);
  } catch (err) {
    throw outputError(out.file, err);
  }
}

/**
 * From the kernel timestamps: the first to the last probe leaving (`sendMs`), and the first probe
 * leaving to the last probe leaving or answer arriving, whichever is later (`activeMs`): the iteration
 * without its final wait for the lost (the last probe sent may be a lost one).
 * null when no probe has a timestamp.
 */
export function activeSpan(f: InFlight): { sendMs: number | null; activeMs: number | null } {
  let first = Number.POSITIVE_INFINITY;
  let lastTx = Number.NEGATIVE_INFINITY;
  let lastRx = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < f.count; i++) {
    const tx = f.txAt(i);
    if (tx < first) first = tx;
    if (tx > lastTx) lastTx = tx;
    const rx = f.rxAt(i);
    if (f.state[i] === ProbeState.Answered && rx > lastRx) lastRx = rx;
  }
  if (!Number.isFinite(first)) return { sendMs: null, activeMs: null };
  return {
    sendMs: (lastTx - first) / 1e6,
    activeMs: Number.isFinite(lastRx) ? (Math.max(lastRx, lastTx) - first) / 1e6 : null,
  };
}

export async function runOnce(config: Config, io: Io, opts: OnceOptions = {}): Promise<number> {
  // Created before anything is probed: a probe log that cannot be written refuses the run at once.
  const log = opts.probeLog === undefined ? undefined : openOutput(opts.probeLog);
  try {
    return await probeOnce(config, io, opts, log);
  } finally {
    if (log) closeSync(log.fd);
  }
}

async function probeOnce(
  config: Config,
  io: Io,
  opts: OnceOptions,
  log: OutputFile | undefined,
): Promise<number> {
  const prepared = await prepare(config);
  for (const i of prepared.issues)
    io.err(`netprobify: target ${i.target}: ${i.message}${i.disabled ? " (target disabled)" : ""}`);
  const engine = openEngine(config);
  try {
    // The kernel switches RX timestamping on lazily: give it a moment before the first probe, and
    // let the engine's hot functions warm up meanwhile (on fake sockets: engine/warmup.ts; a
    // warm-up that failed only leaves them cold). As many rounds as a daemon's (warmUp's default): with
    // one, V8 still compiled the send and match paths during the iteration (docs/performance.md).
    await Promise.all([
      new Promise((r) => setTimeout(r, 50)),
      warmUp(prepared.plan, engineOptions(config)).catch(() => undefined),
    ]);
    const startedAtMs = Date.now();
    const cpuAtStart = process.cpuUsage();
    const r = await engine.run(prepared.plan);
    const endedAtMs = Date.now();
    // What the process used for the iteration, before the output (and the probe log) cost more.
    const cpu = process.cpuUsage();
    const iteration = process.cpuUsage(cpuAtStart);
    const maxRssKiB = process.resourceUsage().maxRSS;
    for (const [errno, n] of r.sendErrors)
      io.err(
        `netprobify: ${n} probe${n === 1 ? "" : "s"} not sent: ${errno} (counted as failed, not as loss)`,
      );
    const probes = r.series.reduce((n, s) => n + s.sent, 0);
    if (opts.json) {
      const span = activeSpan(r.inflight);
      const sum = (k: "sent" | "lost" | "failed") => r.series.reduce((n, s) => n + s[k], 0);
      io.out(
        JSON.stringify({
          probes: prepared.plan.count,
          sent: sum("sent"),
          lost: sum("lost"),
          failed: sum("failed"),
          durationMs: r.durationMs,
          sendMs: span.sendMs,
          activeMs: span.activeMs,
          timedOut: r.timedOut,
          socketDrops: r.socketDrops,
          sendErrors: Object.fromEntries(r.sendErrors),
          issues: prepared.issues,
          series: r.series.map((s) => seriesJson(s, config.global.percentile)),
          process: {
            startedAtMs: performance.timeOrigin,
            iterationStartedAtMs: startedAtMs,
            iterationEndedAtMs: endedAtMs,
            cpuUserMs: cpu.user / 1000,
            cpuSystemMs: cpu.system / 1000,
            iterationCpuMs: (iteration.user + iteration.system) / 1000,
            maxRssKiB,
          },
        }),
      );
    } else {
      io.out(formatResults(r.series, config.global.percentile));
      io.out(
        `${probes} probes in ${(r.durationMs / 1000).toFixed(3)} s${r.timedOut ? " (stopped by global.timeout)" : ""}, socket drops ${r.socketDrops}`,
      );
    }
    if (log) writeProbeLog(log, prepared.plan, r.inflight, engine.epochSec);
  } finally {
    engine.close();
  }
  return 0;
}
