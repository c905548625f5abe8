// One measured run of `npm run bench` (bench/suite.ts): netprobify as a process (`run --once --json
// --probe-log` under GNU time), the C reference (bench/ref/rawref.c) or fping, on the same lab
// addresses, while tcpdump captures each link where packets enter a namespace (probes at the target's
// eth0, answers on the test namespace's veth: the `ingress` referee of docs/performance.md, exact to
// a fraction of a µs). From the capture: when the first probe left, how many probes the wire saw
// unanswered, the matched rate; from netprobify's probe log, compared probe by probe (by key): the RTT
// error (reported − wire) and whether every probe reported lost really went unanswered.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../src/lab/exec.js";
import { repoRoot } from "../../src/lab/native.js";
import { type WireProbe, wireProbes } from "../../test/integration/support.js";
import { captureInbound, mergeByTime } from "./capture.js";
import { refBinary, runRawref } from "./rawref.js";
import { quantile } from "./stats.js";
import {
  type BenchLab,
  type Block,
  C_PORTS,
  type ConfigInput,
  configYaml,
  DST_PORT,
  defaultNbProc,
  type FamilyName,
  targetsOf,
  writeDstFile,
} from "./suite-lab.js";

/** What GNU time says about a process (`-f "%e %U %S %M"`). */
export interface ProcessCost {
  wallSeconds: number;
  cpuSeconds: number;
  /** Of which in the kernel (system time); NaN where unknown. */
  systemSeconds: number;
  maxRssKiB: number;
}

/** What the capture says about one run's probes. */
export interface WireSummary {
  probes: number;
  unanswered: number;
  /** Packets the kernel dropped from the captures (the referee missed them). */
  captureDropped: number;
  /** CLOCK_REALTIME ns of the first probe and the last probe / answer on the wire. */
  firstProbeNs: number;
  lastProbeNs: number;
  lastAnswerNs: number;
  /** Answered probes per second, first probe to last answer. */
  matchedPps: number;
  /** Probes per second, first to last probe. */
  sendPps: number;
}

export interface NetprobifyRun {
  pps: number | null;
  /** global.nb_proc of the run (send threads per family). */
  nbProc: number;
  probes: number;
  sent: number;
  lost: number;
  failed: number;
  socketDrops: number;
  sendErrors: Record<string, number>;
  iterationSeconds: number;
  /** Kernel timestamps: first to last probe leaving; first probe to last answer (null if none). */
  sendSeconds: number | null;
  activeSeconds: number | null;
  /** From GNU time: the whole process, including writing the JSON and the probe log. */
  process: ProcessCost;
  /** From the process itself when the iteration ended (before any output): user+system CPU, peak RSS. */
  cpuSecondsAtEnd: number;
  /** CPU of the iteration alone (engine.run), what a running daemon pays per iteration. */
  cpuSecondsIteration: number;
  maxRssKiBAtEnd: number;
  /**
   * Spawn (CLOCK_REALTIME) to the first probe on the wire, ms; without a capture, to the start of the
   * iteration as the process reports it (the first probe leaves within a millisecond of it).
   */
  startToFirstProbeMs: number;
  startToFirstProbeFrom: "wire" | "process";
  /** When the process started its iteration (CLOCK_REALTIME ms, its own clock). */
  iterationStartedAtMs: number;
  wire: WireSummary | null;
  /** What the process wrote to stdout before its JSON line (V8's --trace-* output, if asked for). */
  trace: string;
  /** Probe by probe against the wire (needs the probe log and the capture). */
  exact: {
    compared: number;
    /** Reported lost, answered on the wire: false loss. */
    falseLoss: number;
    /** Reported lost and unanswered on the wire. */
    lostUnanswered: number;
    /** Reported answered, no answer in the capture (the capture missed it). */
    answeredNotOnWire: number;
    /** Probes the capture did not see leave. */
    notOnWire: number;
  } | null;
  /** reported − wire RTT, µs. */
  rttErrorUs: { compared: number; p50: number; p99: number; absP99: number; max: number } | null;
  /** No false loss, no socket drop, no failed send. */
  clean: boolean;
}

export interface RefRun {
  tool: "C" | "fping";
  pps: number | null;
  probes: number;
  matched: number;
  /** matched / time from first send to last match (C: its own clock; fping: the wire's). */
  matchedPps: number;
  process: ProcessCost;
  wire: WireSummary | null;
  clean: boolean;
  detail: Record<string, unknown>;
}

export interface Scenario {
  type: ConfigInput["type"];
  family: FamilyName;
  targets: number;
  packets: number;
  lossPct: number;
  /** Capture the wire (off for the memory scenario: a million probes would cost the bench minutes). */
  capture: boolean;
  /** Ask netprobify for its probe log (per-probe RTT error and exact loss). */
  probeLog: boolean;
}

export const probesOf = (s: Scenario) => s.targets * s.packets;

/**
 * Runs `cmd` and reads what it cost: under GNU time (`-f "%e %U %S %M"`), or with `precise` under
 * bench/ref/rusage.c (the same getrusage figures in µs: GNU time rounds CPU to 10 ms, more than fping
 * spends on a small scenario).
 */
async function timed(dir: string, cmd: string, args: readonly string[], timeoutMs: number, precise = false) {
  const file = join(dir, "time.txt");
  rmSync(file, { force: true });
  const wrapper = precise
    ? [await refBinary("rusage"), file]
    : ["/usr/bin/time", "-f", "%e %U %S %M", "-o", file];
  const spawnedAtMs = Date.now();
  const r = await run(wrapper[0]!, [...wrapper.slice(1), cmd, ...args], { timeoutMs, allowFail: true });
  return { ...r, spawnedAtMs, cost: readCost(file, `${wrapper[0]} for ${cmd}: ${r.stderr.trim()}`) };
}

/** The cost GNU time or bench/ref/rusage.c wrote to `file`: its last line, "wall user sys maxrss". */
function readCost(file: string, who: string): ProcessCost {
  const last = readFileSync(file, "utf8").trim().split("\n").pop() ?? "";
  const [e, u, s, m] = last.split(" ").map(Number);
  if (![e, u, s, m].every((x) => Number.isFinite(x)))
    throw new Error(`${who}: printed ${JSON.stringify(last)}`);
  return { wallSeconds: e!, cpuSeconds: u! + s!, systemSeconds: s!, maxRssKiB: m! };
}

/** What the captures of one run saw: probes by key, and how many packets the kernel dropped from them. */
interface Wire {
  probes: Map<number, WireProbe>;
  dropped: number;
}

/** Snap length of the referee captures: see captureInbound (192 bytes: no ring drops at 100,000 probes). */
const REFEREE_SNAPLEN = 192;

/** Starts the ingress captures on the links of these blocks; the result stops them. */
async function startCaptures(bl: BenchLab, blocks: readonly Block[]): Promise<() => Promise<Wire>> {
  const caps = await Promise.all(
    targetsOf(blocks).flatMap((t) => [
      captureInbound(bl.lab, t.ns, t.targetIf, REFEREE_SNAPLEN),
      captureInbound(bl.lab, undefined, t.hostIf, REFEREE_SNAPLEN),
    ]),
  );
  return async () => {
    const got = await Promise.all(caps.map((c) => c.stop(100)));
    return {
      probes: wireProbes(mergeByTime(got)),
      dropped: caps.reduce((n, c) => n + c.kernelDrops, 0),
    };
  };
}

function summarizeWire({ probes: wire, dropped }: Wire): WireSummary | null {
  if (wire.size === 0) return null;
  let first = Number.POSITIVE_INFINITY;
  let lastProbe = 0;
  let lastAnswer = 0;
  let unanswered = 0;
  for (const w of wire.values()) {
    const tx = Number(w.txNs);
    first = Math.min(first, tx);
    lastProbe = Math.max(lastProbe, tx);
    if (w.rxNs === undefined) unanswered++;
    else lastAnswer = Math.max(lastAnswer, Number(w.rxNs));
  }
  const answered = wire.size - unanswered;
  return {
    probes: wire.size,
    unanswered,
    captureDropped: dropped,
    firstProbeNs: first,
    lastProbeNs: lastProbe,
    lastAnswerNs: lastAnswer,
    matchedPps: lastAnswer > first ? answered / ((lastAnswer - first) / 1e9) : 0,
    sendPps: lastProbe > first ? (wire.size - 1) / ((lastProbe - first) / 1e9) : 0,
  };
}

/** Compares the probe log with the wire, probe by probe. */
function compareProbeLog(file: string, wire: Map<number, WireProbe>) {
  const lines = readFileSync(file, "utf8").split("\n");
  const col = Object.fromEntries(lines[0]!.split(",").map((c, i) => [c, i]));
  const exact = { compared: 0, falseLoss: 0, lostUnanswered: 0, answeredNotOnWire: 0, notOnWire: 0 };
  const errors: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const c = line.split(",");
    const state = c[col.state!]!;
    if (state !== "answered" && state !== "lost") continue;
    const w = wire.get(Number(c[col.key!]));
    if (!w) {
      exact.notOnWire++;
      continue;
    }
    exact.compared++;
    if (state === "lost") {
      if (w.rxNs === undefined) exact.lostUnanswered++;
      else exact.falseLoss++;
      continue;
    }
    if (w.rxNs === undefined) {
      exact.answeredNotOnWire++;
      continue;
    }
    const rtt = c[col.rtt_ns!]!;
    if (rtt !== "") errors.push((Number(rtt) - Number(w.rxNs - w.txNs)) / 1000);
  }
  const abs = errors.map(Math.abs);
  const rttErrorUs =
    errors.length === 0
      ? null
      : {
          compared: errors.length,
          p50: quantile(errors, 0.5),
          p99: quantile(errors, 0.99),
          absP99: quantile(abs, 0.99),
          max: Math.max(...abs),
        };
  return { exact, rttErrorUs };
}

/** The last line of `out` that is a JSON object (what `run --once --json` prints, after any trace). */
export function lastJsonLine(out: string): string {
  const lines = out.trimEnd().split("\n");
  for (let k = lines.length - 1; k >= 0; k--) if (lines[k]!.startsWith("{")) return lines[k]!;
  return out;
}

/** One `netprobify run --once` of a scenario, at `pps` (undefined = unpaced). */
export async function runNetprobify(
  bl: BenchLab,
  s: Scenario,
  blocks: readonly Block[],
  dir: string,
  timeout: number,
  pps: number | undefined,
  nbProc = defaultNbProc(),
  /** Options for node itself (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs: readonly string[] = [],
): Promise<NetprobifyRun> {
  const cfg = join(dir, "netprobify.yaml");
  const log = join(dir, "probes.csv");
  rmSync(log, { force: true });
  writeFileSync(
    cfg,
    configYaml({ type: s.type, family: s.family, blocks, packets: s.packets, timeout, pps, nbProc }),
  );
  const stop = s.capture ? await startCaptures(bl, blocks) : undefined;
  const args = [...nodeArgs, join(repoRoot(), "bin/netprobify.js"), "run", "--once", "--json"];
  if (s.probeLog) args.push("--probe-log", log);
  args.push(cfg);
  let t: Awaited<ReturnType<typeof timed>>;
  try {
    t = await timed(dir, process.execPath, args, 600_000);
  } catch (e) {
    await stop?.();
    throw e;
  }
  const wire = stop ? await stop() : undefined;
  if (t.code !== 0) throw new Error(`netprobify exited ${t.code}: ${t.stderr.trim()}`);
  // V8's --trace-* flags (nodeArgs) write to stdout too: the run's JSON is its last line.
  const json = lastJsonLine(t.stdout);
  const j = JSON.parse(json) as {
    probes: number;
    sent: number;
    lost: number;
    failed: number;
    socketDrops: number;
    sendErrors: Record<string, number>;
    durationMs: number;
    sendMs: number | null;
    activeMs: number | null;
    process: {
      cpuUserMs: number;
      cpuSystemMs: number;
      iterationCpuMs: number;
      maxRssKiB: number;
      iterationStartedAtMs: number;
    };
  };
  const ws = wire ? summarizeWire(wire) : null;
  const cmp = wire && s.probeLog ? compareProbeLog(log, wire.probes) : undefined;
  const falseLoss = cmp ? cmp.exact.falseLoss : ws ? Math.max(0, j.lost - ws.unanswered) : j.lost;
  return {
    pps: pps ?? null,
    nbProc,
    probes: j.probes,
    sent: j.sent,
    lost: j.lost,
    failed: j.failed,
    socketDrops: j.socketDrops,
    sendErrors: j.sendErrors,
    iterationSeconds: j.durationMs / 1000,
    sendSeconds: j.sendMs === null ? null : j.sendMs / 1000,
    activeSeconds: j.activeMs === null ? null : j.activeMs / 1000,
    process: t.cost,
    cpuSecondsAtEnd: (j.process.cpuUserMs + j.process.cpuSystemMs) / 1000,
    cpuSecondsIteration: j.process.iterationCpuMs / 1000,
    maxRssKiBAtEnd: j.process.maxRssKiB,
    startToFirstProbeMs: ws
      ? ws.firstProbeNs / 1e6 - t.spawnedAtMs
      : j.process.iterationStartedAtMs - t.spawnedAtMs,
    startToFirstProbeFrom: ws ? "wire" : "process",
    iterationStartedAtMs: j.process.iterationStartedAtMs,
    wire: ws,
    trace: t.stdout.slice(0, t.stdout.lastIndexOf(json)),
    exact: cmp?.exact ?? null,
    rttErrorUs: cmp?.rttErrorUs ?? null,
    // Without a capture, a 0 % loss scenario must lose nothing; with 5 % there is no referee.
    clean: falseLoss === 0 && j.socketDrops === 0 && j.failed === 0,
  };
}

/** The C reference on the same addresses and count (send+match, two threads). */
export async function runC(
  bl: BenchLab,
  s: Scenario,
  blocks: readonly Block[],
  dir: string,
  timeout: number,
): Promise<RefRun> {
  const dstFile = join(dir, "dsts.txt");
  const src = await writeDstFile(dstFile, blocks, s.family);
  const usage = join(dir, "rawref-rusage.txt");
  rmSync(usage, { force: true });
  const stop = s.capture ? await startCaptures(bl, blocks) : undefined;
  const type = s.type === "TCPsyn" ? "tcp" : s.type === "ICMPping" ? "icmp" : "udp";
  const r = await runRawref({
    family: s.family === "ipv4" ? 4 : 6,
    type,
    src,
    dstFile,
    dstPort: DST_PORT[s.type] || 1,
    sportLo: C_PORTS.lo,
    sportHi: C_PORTS.hi,
    count: probesOf(s),
    batch: 64,
    mode: "match",
    timeoutMs: timeout * 1000,
    rusageFile: usage,
  }).catch(async (e) => {
    await stop?.();
    throw e;
  });
  const wire = stop ? summarizeWire(await stop()) : null;
  return {
    tool: "C",
    pps: null,
    probes: r.count,
    matched: r.matched,
    matchedPps: r.match_pps,
    process: readCost(usage, "bench/ref/rusage.c for rawref"),
    wire,
    clean: wire ? r.count - r.matched <= wire.unanswered : r.matched === r.count,
    detail: { ...r },
  };
}

/**
 * fping over the same ICMP addresses. fping refuses more than 65,535 pings within its 10 s sequence
 * expiry, so larger scenarios run as consecutive fping processes over slices of the addresses (each
 * ≤ 60,000 pings); CPU, wall time and counts are summed. `pps` sets -i (interval between any two pings).
 */
export async function runFping(
  bl: BenchLab,
  s: Scenario,
  blocks: readonly Block[],
  addresses: readonly string[],
  dir: string,
  timeout: number,
  pps: number | undefined,
): Promise<RefRun> {
  const perProcess = Math.max(1, Math.floor(60_000 / s.packets));
  const stop = s.capture ? await startCaptures(bl, blocks) : undefined;
  const cost: ProcessCost = { wallSeconds: 0, cpuSeconds: 0, systemSeconds: 0, maxRssKiB: 0 };
  let xmt = 0;
  let rcv = 0;
  const interval = pps === undefined ? "0" : (1000 / pps).toFixed(4);
  const slices = Math.ceil(addresses.length / perProcess);
  try {
    for (let k = 0; k < slices; k++) {
      const list = join(dir, "fping-targets.txt");
      writeFileSync(list, `${addresses.slice(k * perProcess, (k + 1) * perProcess).join("\n")}\n`);
      const args = [
        s.family === "ipv4" ? "-4" : "-6",
        "-q",
        "-c",
        String(s.packets),
        "-p",
        "0.001",
        "-i",
        interval,
        "-t",
        String(Math.round(timeout * 1000)),
        "-f",
        list,
      ];
      const t = await timed(dir, "fping", args, 600_000, true);
      // Exit 1: some targets lost pings (expected with injected loss); others are errors.
      if (t.code !== 0 && t.code !== 1) throw new Error(`fping exited ${t.code}: ${t.stderr.slice(-500)}`);
      for (const m of t.stderr.matchAll(/xmt\/rcv\/%loss = (\d+)\/(\d+)\//g)) {
        xmt += Number(m[1]);
        rcv += Number(m[2]);
      }
      cost.wallSeconds += t.cost.wallSeconds;
      cost.cpuSeconds += t.cost.cpuSeconds;
      cost.systemSeconds += t.cost.systemSeconds;
      cost.maxRssKiB = Math.max(cost.maxRssKiB, t.cost.maxRssKiB);
    }
  } catch (e) {
    await stop?.();
    throw e;
  }
  const wire = stop ? summarizeWire(await stop()) : null;
  // The wire's rate (first probe to last answer) when captured: fping's own start-up is not probing.
  const matchedPps = wire && slices === 1 ? wire.matchedPps : rcv / cost.wallSeconds;
  return {
    tool: "fping",
    pps: pps ?? null,
    probes: xmt,
    matched: rcv,
    matchedPps,
    process: cost,
    wire,
    clean: xmt === probesOf(s) && (wire ? xmt - rcv <= wire.unanswered : rcv === xmt),
    detail: { processes: slices, xmt, rcv },
  };
}
