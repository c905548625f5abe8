// V8's background threads against the first iteration's send threads. The warm-up (./warmup.ts) makes
// V8 queue optimizing compilations, and the first real iteration queues more; they run on V8's worker
// threads for 50-150 ms of CPU. Seen with `perf` on 2 vCPUs (docs/performance.md), the first
// iteration's send threads shared the cores with those compiler threads, and the first third of a
// 10,000-probe iteration left at a third of the later rate. Two remedies, before the first probe:
// - settle(): wait, bounded, until the process as a whole is idle (its CPU time, every thread, grows
//   by less than a small share of the wall time over a short window while this thread sleeps);
// - lowerBackgroundThreads(): give V8's threads (every thread but the main one and the addon's, which
//   are named npf-*) nice 19, so that the send and receive threads run first and V8 compiles and
//   sweeps on what is left. Measured on 2 vCPUs (kernel 6.18, docs/performance.md): 10,000-probe
//   `run --once` rows at 0.68-0.83 x the C reference (medians of 6-8 runs per type and family)
//   against 0.56-0.61 without, the daemon's steady state unchanged. NETPROBIFY_V8_NICE=0 leaves them
//   alone. Raising it back would need CAP_SYS_NICE: it stays for the process's life.
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";

export interface SettleOptions {
  /** Length of one observation window, ms. */
  windowMs?: number;
  /** Idle when the process used at most this share of one core over a window. */
  idleShare?: number;
  /** Gives up after this long (a busy daemon thread must not hold the first iteration up), ms. */
  maxMs?: number;
  /** CPU time of the whole process, µs (process.cpuUsage by default; injectable for tests). */
  cpuMicros?: () => number;
  /** Monotonic clock, ms. */
  now?: () => number;
  wait?: (ms: number) => Promise<unknown>;
}

/** What settle() saw: how long it waited, and whether the process went idle before maxMs. */
export interface Settled {
  ms: number;
  idle: boolean;
  /** CPU the process used meanwhile (the background work it waited for), ms. */
  busyMs: number;
}

/** NETPROBIFY_SETTLE=0 turns the wait off (the benchmark's comparison). */
export const SETTLE_ENV = "NETPROBIFY_SETTLE";
/** NETPROBIFY_V8_NICE=N sets the nice value given to V8's threads (0: left alone). */
export const V8_NICE_ENV = "NETPROBIFY_V8_NICE";
/** The lowest priority: measured at 10,000 probes, 19 against 0 and 10 (docs/performance.md). */
export const V8_NICE = 19;

const processCpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Resolves once the process's threads are idle (see the module comment), or after maxMs. */
export async function settle(o: SettleOptions = {}): Promise<Settled> {
  const windowMs = o.windowMs ?? 4;
  const idleShare = o.idleShare ?? 0.1;
  const maxMs = o.maxMs ?? 300;
  const cpu = o.cpuMicros ?? processCpu;
  const now = o.now ?? (() => performance.now());
  const wait = o.wait ?? sleep;
  const t0 = now();
  const c0 = cpu();
  for (;;) {
    const w0 = now();
    const before = cpu();
    await wait(windowMs);
    const used = (cpu() - before) / 1000;
    const idle = used <= idleShare * (now() - w0);
    if (idle || now() - t0 >= maxMs) return { ms: now() - t0, idle, busyMs: (cpu() - c0) / 1000 };
  }
}

/** The process's threads as the kernel lists them (injectable for tests). */
export interface ThreadTable {
  /** Thread ids, the main thread's included. */
  ids(): number[];
  /** The thread's name (comm); throws when the thread is gone. */
  name(tid: number): string;
  setNice(tid: number, nice: number): void;
}

const procThreads: ThreadTable = {
  ids: () => readdirSync("/proc/self/task").map(Number),
  name: (tid) => readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim(),
  // setpriority(PRIO_PROCESS, tid) on Linux sets one thread's nice value
  setNice: (tid, nice) => setPriority(tid, nice),
};

/**
 * Gives every thread of the process but the main one and the addon's (named npf-*) the nice value
 * `nice`; returns how many it changed. A thread that vanished or refused is skipped.
 */
export function lowerBackgroundThreads(
  nice: number,
  t: ThreadTable = procThreads,
  main = process.pid,
): number {
  let ids: number[];
  try {
    ids = t.ids();
  } catch {
    return 0; // no /proc: not Linux
  }
  let n = 0;
  for (const tid of ids) {
    if (tid === main) continue;
    try {
      if (t.name(tid).startsWith("npf-")) continue;
      t.setNice(tid, nice);
      n++;
    } catch {
      // gone meanwhile, or not allowed: left as it was
    }
  }
  return n;
}

/** The nice value for V8's threads: NETPROBIFY_V8_NICE when set to an integer in [0, 19], else V8_NICE. */
export function v8Nice(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[V8_NICE_ENV];
  const n = Number(v);
  return v !== undefined && v !== "" && Number.isInteger(n) && n >= 0 && n <= 19 ? n : V8_NICE;
}

/** Before the first iteration: waits for V8's background work, then lowers its threads' priority. */
export async function yieldToSendThreads(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env[SETTLE_ENV] !== "0") await settle();
  const nice = v8Nice(env);
  if (nice > 0) lowerBackgroundThreads(nice);
}
