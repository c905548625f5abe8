// The daemon row of `npm run bench` (issue 17): what a running netprobify costs per probe once it is
// warm, against fping (ICMP) and the C reference (TCPsyn, UDP) on the same lab addresses and packet
// count, in the same run. The real daemon (`netprobify CONFIG`, a separate process) probes both
// families' addresses for several iterations; the bench reads the daemon's utime + stime
// (/proc/PID/stat, all threads) as each "iteration done" line arrives, and divides the CPU between
// the first line and the last by the probes of the iterations in between. Each iteration's own rate
// (probes sent ÷ its duration, from the same lines) shows what the first one pays for the JIT's
// warm-up.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProbeKind } from "../../src/engine/plan.js";
import { repoRoot } from "../../src/lab/native.js";
import { median } from "./stats.js";
import {
  addressesOf,
  type BenchLab,
  type Block,
  blocksFor,
  type FamilyName,
  NP_PORTS,
  targetLines,
} from "./suite-lab.js";
import { type RefRun, runC, runFping, type Scenario } from "./suite-run.js";

export interface DaemonScenario {
  type: ProbeKind;
  /** Addresses per family (both families are probed by the one daemon). */
  targets: number;
  packets: number;
  iterations: number;
  /** Per-probe timeout, seconds. */
  timeout: number;
  /** global.interval, seconds (start to start; 0: back to back). */
  interval: number;
  /** Extra node flags for the daemon (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  nodeFlags?: string[];
  /** Probes of the engine's warm-up (NETPROBIFY_WARMUP; 0: none); undefined: the daemon's default. */
  warmUp?: number;
  /**
   * A file that receives the daemon's stdout (where node's --trace-opt, --trace-deopt, --trace-gc write),
   * line-buffered, with a mark at each "iteration done": V8's work read by iteration.
   */
  traceFile?: string;
}

/** One "iteration done" of the daemon, with its CPU when the bench read the line. */
export interface DaemonIteration {
  sent: number;
  lost: number;
  /** Answers without an RTT sample (netprobify_untimed_replies_total): 0 is the truth kept. */
  untimed: number;
  ms: number;
  /** Probes sent per second of the iteration (sent ÷ its duration). */
  pps: number;
  /** Daemon utime + stime, seconds, when the line was read; of which stime (in the kernel). */
  cpuSeconds: number;
  systemSeconds: number;
  /** The same for the main (JS) thread alone. */
  mainCpuSeconds: number;
  mainSystemSeconds: number;
  /** By kind of thread (see threadKind), user and system seconds, when the line was read. */
  threads: Record<ThreadKind, { user: number; system: number }>;
}

/**
 * The daemon's threads: the JS thread (tid = pid); the addon's, by the names it gives them
 * (/proc/PID/task/TID/comm): "send" (npf-send, native/send.c) and "receive" (npf-recv, native/recv.c);
 * the others are all named "node", so they are told apart by when they started: "startup", those
 * started with the process (V8's platform workers, which collect garbage and compile, and Node's own:
 * see STARTUP_TICKS); "later", those started afterwards: libuv's pool, whose only steady work is the
 * exposition's gzip copy. Exited threads count nowhere.
 */
export type ThreadKind = "main" | "startup" | "send" | "receive" | "later";
export const THREAD_KINDS: readonly ThreadKind[] = ["main", "startup", "send", "receive", "later"];
const NAMED: Record<string, ThreadKind> = {
  "npf-send": "send",
  "npf-recv": "receive",
  "npf-txts": "receive",
};
/**
 * Clock ticks (USER_HZ, 100 on Linux) after the first thread's start within which a thread is
 * "startup": Node starts its platform threads together, before any JavaScript runs; the addon's
 * threads start once the configuration is loaded and the engine opens, hundreds of ms later.
 */
const STARTUP_TICKS = 2;

export interface DaemonRow {
  scenario: DaemonScenario;
  iterations: DaemonIteration[];
  /** What the warm-up before the first iteration took (its log line), ms; null: none logged. */
  warmUpMs: number | null;
  /** CPU per probe (µs) of the iterations after the first; of which in the kernel. */
  daemonUsPerProbe: number;
  daemonSystemUsPerProbe: number;
  /** The same by kind of thread: user and system µs per probe. */
  threadsUsPerProbe: Record<ThreadKind, { user: number; system: number }>;
  /** The first iteration's rate, and the median of the others. */
  firstPps: number;
  laterPps: number;
  /** The reference over the same addresses and count (fping for ICMP, rawref otherwise), µs/probe. */
  ref: {
    tool: "fping" | "C";
    probes: number;
    cpuSeconds: number;
    usPerProbe: number;
    systemUsPerProbe: number;
  } | null;
  /** ICMP: the C reference too (two threads, no timestamps, no bookkeeping), the floor of any such design. */
  floor: DaemonRow["ref"];
}

const PORT = 19142;

/** The configuration of a daemon row: both families of lab addresses, one iteration a second. */
export function configYaml(bl: BenchLab, s: DaemonScenario): string {
  const lines = [
    "# Generated by bench/lib/daemon-run.ts: the daemon row of `npm run bench`.",
    "global:",
    "  probe_name: bench",
    `  interval: ${s.interval}`,
    "  nb_proc: 1",
    "  verbose: 1",
    "  logging_level: INFO",
    `  prometheus_port: ${PORT}`,
    "  prometheus_address: 127.0.0.1",
    "  dns_update_interval: 0",
    "  percentile: [50, 99]",
    "groups:",
    `  bench: {src_port_a: ${NP_PORTS.lo}, src_port_z: ${NP_PORTS.hi}}`,
    "targets:",
  ];
  for (const family of ["ipv4", "ipv6"] as FamilyName[]) {
    const blocks = blocksFor(bl, s.targets, family);
    lines.push(
      ...targetLines({ type: s.type, family, blocks, packets: s.packets, timeout: s.timeout }, family),
    );
  }
  return `${lines.join("\n")}\n`;
}

/** utime + stime and stime alone, seconds, of a process (all its threads), of its main thread, and by kind of thread. */
function cpuOf(pid: number): {
  cpu: number;
  system: number;
  main: number;
  mainSystem: number;
  threads: DaemonIteration["threads"];
} {
  const read = (path: string) => readFileSync(path, "utf8").split(") ")[1]!.split(" ").map(Number);
  const all = read(`/proc/${pid}/stat`);
  const main = read(`/proc/${pid}/task/${pid}/stat`);
  const threads = Object.fromEntries(
    THREAD_KINDS.map((k) => [k, { user: 0, system: 0 }]),
  ) as DaemonIteration["threads"];
  // field 22 of stat (index 19 after the command): start time in ticks since boot
  const stats = readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      return [{ tid: Number(t), st: read(`/proc/${pid}/task/${t}/stat`), named: NAMED[comm] }];
    } catch {
      return []; // the thread exited between the listing and the read
    }
  });
  const first = Math.min(...stats.filter((x) => x.tid !== pid).map((x) => x.st[19]!));
  for (const { tid, st, named } of stats) {
    const kind: ThreadKind =
      tid === pid ? "main" : (named ?? (st[19]! - first <= STARTUP_TICKS ? "startup" : "later"));
    threads[kind].user += st[11]! / 100;
    threads[kind].system += st[12]! / 100;
  }
  return {
    cpu: (all[11]! + all[12]!) / 100,
    system: all[12]! / 100,
    main: (main[11]! + main[12]!) / 100,
    mainSystem: main[12]! / 100,
    threads,
  };
}

/** Runs the daemon until it has logged `s.iterations` iterations, then stops it (SIGTERM). */
export async function runDaemon(
  bl: BenchLab,
  s: DaemonScenario,
  dir: string,
): Promise<{ iterations: DaemonIteration[]; warmUpMs: number | null }> {
  const cfg = join(dir, "daemon.yaml");
  writeFileSync(cfg, configYaml(bl, s));
  const args = [...(s.nodeFlags ?? []), join(repoRoot(), "bin/netprobify.js"), cfg];
  // stdbuf execs node in the same process: V8's traces line by line, in order with the marks.
  const child: ChildProcess = spawn(
    s.traceFile ? "stdbuf" : process.execPath,
    s.traceFile ? ["-oL", process.execPath, ...args] : args,
    {
      stdio: ["ignore", s.traceFile ? "pipe" : "ignore", "pipe"],
      env: s.warmUp === undefined ? process.env : { ...process.env, NETPROBIFY_WARMUP: String(s.warmUp) },
    },
  );
  const out: DaemonIteration[] = [];
  let warmUpMs: number | null = null;
  let stderr = "";
  const trace = s.traceFile ? createWriteStream(s.traceFile) : null;
  if (trace) child.stdout!.pipe(trace, { end: false });
  try {
    await new Promise<void>((resolve, reject) => {
      let rest = "";
      const limit = setTimeout(
        () =>
          reject(
            new Error(`daemon: ${out.length} of ${s.iterations} iterations in time: ${stderr.slice(-500)}`),
          ),
        (s.iterations * (2 + s.timeout + s.interval) + 60) * 1000,
      );
      child.on("exit", (code) => {
        clearTimeout(limit);
        reject(new Error(`daemon exited ${code} after ${out.length} iterations: ${stderr.slice(-500)}`));
      });
      child.stderr!.on("data", (b: Buffer) => {
        // Read first: the CPU as close as possible to the line's writing.
        const cpu = cpuOf(child.pid!);
        const parts = (rest + String(b)).split("\n");
        rest = parts.pop()!;
        for (const p of parts) {
          stderr = (stderr + p).slice(-4000);
          let o: Record<string, unknown>;
          try {
            o = JSON.parse(p) as Record<string, unknown>;
          } catch {
            continue;
          }
          if (o.msg === "engine warmed up") {
            warmUpMs = Number(o.ms);
            trace?.write(`--- warm-up done: ${o.probes} probes, ${o.answered} answered, ${o.ms} ms\n`);
          }
          if (o.msg !== "iteration done") continue;
          const sent = Number(o.sent);
          const ms = Number(o.ms);
          trace?.write(`--- iteration ${out.length + 1} done: ${sent} probes, ${ms} ms, CPU ${cpu.cpu} s\n`);
          out.push({
            sent,
            lost: Number(o.lost),
            untimed: Number(o.untimed ?? 0),
            ms,
            pps: sent / Math.max(1e-3, ms / 1000),
            cpuSeconds: cpu.cpu,
            systemSeconds: cpu.system,
            mainCpuSeconds: cpu.main,
            mainSystemSeconds: cpu.mainSystem,
            threads: cpu.threads,
          });
          if (out.length === s.iterations) {
            clearTimeout(limit);
            resolve();
          }
        }
      });
    });
  } finally {
    child.removeAllListeners("exit");
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    trace?.end();
  }
  return { iterations: out, warmUpMs };
}

/** A reference's CPU over both families of the scenario's addresses. */
type RefCost = NonNullable<DaemonRow["ref"]>;

/** Runs `one` over each family's addresses in turn (no capture, no probe log) and sums its CPU. */
async function bothFamilies(
  bl: BenchLab,
  s: DaemonScenario,
  tool: RefCost["tool"],
  one: (sc: Scenario, blocks: Block[]) => Promise<RefRun>,
): Promise<RefCost> {
  let probes = 0;
  let cpuSeconds = 0;
  let systemSeconds = 0;
  for (const family of ["ipv4", "ipv6"] as FamilyName[]) {
    const sc: Scenario = { ...s, family, lossPct: 0, capture: false, probeLog: false };
    const r = await one(sc, blocksFor(bl, s.targets, family));
    probes += r.probes;
    cpuSeconds += r.process.cpuSeconds;
    systemSeconds += r.process.systemSeconds;
  }
  return {
    tool,
    probes,
    cpuSeconds,
    usPerProbe: (cpuSeconds / probes) * 1e6,
    systemUsPerProbe: (systemSeconds / probes) * 1e6,
  };
}

/**
 * The reference over the same addresses and count: fping for ICMP, the C reference otherwise. For
 * ICMP the C reference runs too (`floor`): two threads, precomputed packets, no timestamps and no
 * bookkeeping, what any design with a send and a receive thread pays at least on this machine.
 */
function reference(bl: BenchLab, s: DaemonScenario, dir: string): Promise<RefCost> {
  if (s.type !== "ICMPping") return runCRef(bl, s, dir);
  return bothFamilies(bl, s, "fping", (sc, blocks) =>
    runFping(bl, sc, blocks, addressesOf(blocks, sc.family), dir, s.timeout, undefined),
  );
}

/** The C reference (bench/ref/rawref.c, send + match threads) over both families. */
function runCRef(bl: BenchLab, s: DaemonScenario, dir: string): Promise<RefCost> {
  return bothFamilies(bl, s, "C", (sc, blocks) => runC(bl, sc, blocks, dir, s.timeout));
}

/** The daemon's figures for one scenario and the reference's, measured one after the other. */
export async function daemonRow(bl: BenchLab, s: DaemonScenario, dir: string): Promise<DaemonRow> {
  if (s.iterations < 2) throw new Error("the daemon row needs at least 2 iterations");
  const { iterations: its, warmUpMs } = await runDaemon(bl, s, dir);
  const later = its.slice(1);
  const probes = later.reduce((n, x) => n + x.sent, 0);
  const cpu = its.at(-1)!.cpuSeconds - its[0]!.cpuSeconds;
  const system = its.at(-1)!.systemSeconds - its[0]!.systemSeconds;
  return {
    scenario: s,
    iterations: its,
    warmUpMs,
    daemonUsPerProbe: (cpu / probes) * 1e6,
    daemonSystemUsPerProbe: (system / probes) * 1e6,
    threadsUsPerProbe: Object.fromEntries(
      THREAD_KINDS.map((k) => {
        const a = its[0]!.threads[k];
        const z = its.at(-1)!.threads[k];
        return [
          k,
          { user: ((z.user - a.user) / probes) * 1e6, system: ((z.system - a.system) / probes) * 1e6 },
        ];
      }),
    ) as DaemonRow["threadsUsPerProbe"],
    firstPps: its[0]!.pps,
    laterPps: median(later.map((x) => x.pps)),
    ref: await reference(bl, s, dir),
    floor: s.type === "ICMPping" ? await runCRef(bl, s, dir) : null,
  };
}
