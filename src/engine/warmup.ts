// A warm-up that sends nothing: before the first iteration, the engine's hot functions (building and
// stamping packets, the send bookkeeping, parsing and matching replies, the results) run over a sample
// of the real plan on the fake sockets, answered at once by fake-answers.ts. Without it, the first
// iteration runs in V8's interpreter and baseline tiers until the optimizing compiler catches up, and
// a short first iteration sends at a fraction of the later ones' rate (docs/performance.md). Nothing
// reaches a real socket: the fake engine has its own sockets, keys and filters.
import { FakeBinding } from "../native/fake.js";
import { RawSockets } from "../native/rawsock.js";

import { Engine, type EngineOptions, type IterationResult } from "./engine.js";
import { answerEverySend } from "./fake-answers.js";
import { flowIndex } from "./flows.js";
import { allocatePlan, type ProbePlan } from "./plan.js";
import { yieldToSendThreads } from "./settle.js";

/** Probes of the sample: enough for V8 to optimize the per-probe functions (measured: bench:daemon). */
export const WARM_UP_PROBES = 1024;
/** NETPROBIFY_WARMUP=0 turns the warm-up off (the benchmark's comparison); a number sets the sample. */
export const WARM_UP_ENV = "NETPROBIFY_WARMUP";
/** The warm-up's time limit, ms, over its rounds (the fake answers every probe at once: ~25-150 ms). */
const WARM_UP_LIMIT_MS = 2000;
/**
 * Bytes of the sample's packets built before its first send: a few, so that most are built as they
 * are sent, as in a real iteration larger than the engine's PREBUILD_BYTES (both paths then compiled).
 */
const WARM_UP_PREBUILD_BYTES = 16 << 10;
/** Every second TCP probe of the sample is answered as by a closed port (RST-ACK), the others by an open one. */
const WARM_UP_CLOSED_EVERY = 2;
/** Fake RTT of the answers, ns. */
const FAKE_RTT_NS = 20_000n;
/**
 * How far the fake kernel clock runs ahead of the warm-up engine's epoch, s: as far as a daemon's
 * timestamps are from its engine's after a day. Kernel timestamps become ns since the engine's epoch,
 * `(sec - epochSec) * 1e9 + nsec`; from the third second on that leaves the 32-bit integers V8
 * speculates on when it has seen only small values, and a warm-up on timestamps one second past the
 * epoch made the daemon's 2nd and 3rd iterations deoptimize (reason `overflow`) and recompile the
 * receive and TX-timestamp paths (docs/performance.md).
 */
export const WARM_UP_CLOCK_AHEAD_S = 86_400;

/** The sample size: WARM_UP_PROBES unless the environment says otherwise. */
export function warmUpProbes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[WARM_UP_ENV];
  if (v === undefined || v === "") return WARM_UP_PROBES;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : WARM_UP_PROBES;
}

/**
 * `n` probes spread evenly over `plan` (every type and family it mixes, in its proportions), one round.
 * It shares the plan's series objects: copies (e.g. with a shorter timeout) have another shape, and the
 * code V8 compiled for them deoptimized on the real series in the first iteration (reason: wrong map)
 * and stayed polymorphic. Its lanes are its series (each sample probe one round of its series' lane),
 * so that rotated runs of the sample take the flow rotation's path (rotation.ts) as the daemon's
 * iterations do after their first: trained on the plan's order only, V8 deoptimized the packet
 * building and the summaries in the second iteration.
 */
export function samplePlan(plan: ProbePlan, n: number): ProbePlan {
  const count = Math.min(n, plan.count);
  const out = allocatePlan(count, plan.series, plan.addresses, 1);
  for (let k = 0; k < count; k++) {
    const i = Math.floor((k * plan.count) / count);
    out.seriesOf[k] = plan.seriesOf[i]!;
    out.dst[k] = plan.dst[i]!;
    out.src[k] = plan.src[i]!;
    out.srcPort[k] = plan.srcPort[i]!;
    out.flowLabel[k] = plan.flowLabel[i]!;
  }
  const S = plan.series.length;
  const rounds = new Uint32Array(S);
  for (let k = 0; k < count; k++) rounds[out.seriesOf[k]!]!++;
  const laneFirst = new Uint32Array(S);
  for (let s = 1; s < S; s++) laneFirst[s] = laneFirst[s - 1]! + rounds[s - 1]!;
  const lanes = {
    entryOf: new Uint32Array(count),
    at: new Uint32Array(count),
    laneOf: new Uint32Array(count),
    laneFirst,
    rounds,
  };
  const next = laneFirst.slice();
  for (let k = 0; k < count; k++) {
    const s = out.seriesOf[k]!;
    const e = next[s]!++;
    lanes.entryOf[k] = e;
    lanes.at[e] = k;
    lanes.laneOf[e] = s;
  }
  out.lanes = lanes;
  return out;
}

/**
 * The warm-up's first probe key. A daemon's keys start at random in [0, 2^32): half of them above
 * 2^31, which V8 holds as doubles, not small integers. Warmed up on one kind and run on the other, the
 * first iteration deoptimized the send and match paths (reasons: wrong map, as the in-flight table's
 * and matcher's key base changed representation; not a Smi; lost precision) and compiled them again.
 * The sample's keys start above 2^31 and wrap past 2^32 to small ones in its first 1,024 probes: both kinds.
 */
export const WARM_UP_FIRST_KEY = 2 ** 32 - 512;

/** The warm-up's fake sockets, their clock WARM_UP_CLOCK_AHEAD_S ahead of the wall clock. */
export function warmUpNetwork(nowMs = Date.now()): FakeBinding {
  const fake = new FakeBinding();
  fake.clockNs = (BigInt(Math.floor(nowMs)) + BigInt(WARM_UP_CLOCK_AHEAD_S) * 1000n) * 1_000_000n;
  fake.rxQueueLimit = 1 << 20;
  return fake;
}

/**
 * Iterations of the sample before the first real iteration (a daemon's and `run --once`'s). The
 * functions run once per iteration with a loop over every probe or flow (summarize, summarizeFlows,
 * the in-flight table's expiry) are compiled by V8 on the fly (OSR) in the first iteration they run,
 * then again as a whole at their next call, then once more after a deoptimization on a branch no
 * earlier call took: with one round, the daemon's iterations 2 to 5 each paid 5-60 ms of compilation
 * on V8's worker threads, and a 10,000-probe `run --once` compiled its send and match paths while it
 * sent (0.63-0.90 x the C reference against 0.75-0.96 with four rounds). Four rounds leave them
 * compiled before the first real iteration (docs/performance.md).
 */
export const WARM_UP_ROUNDS = 4;

/**
 * Runs `rounds` iterations of a sample of `plan` (at most `probes` probes) on fake sockets and returns
 * what they did (probes and answers of one round); options as the real engine's (pacing off, a short
 * hard limit). `afterRound` gets each round's result: the daemon records them in a scratch ledger, so
 * that what reads an iteration's results is compiled before the first real one too.
 */
export async function warmUp(
  plan: ProbePlan,
  options: Omit<EngineOptions, "sockets" | "now">,
  probes = warmUpProbes(),
  rounds = WARM_UP_ROUNDS,
  afterRound?: (result: IterationResult) => void,
): Promise<{ probes: number; answered: number; ms: number }> {
  const t0 = performance.now();
  if (plan.count === 0 || probes <= 0) return { probes: 0, answered: 0, ms: 0 };
  const fake = warmUpNetwork();
  const engine = new Engine({
    ...options,
    pps: Infinity,
    intervalPacketsMs: 0,
    iterationLimitMs: WARM_UP_LIMIT_MS,
    firstKey: WARM_UP_FIRST_KEY,
    prebuildBytes: WARM_UP_PREBUILD_BYTES,
    sockets: new RawSockets(fake),
  });
  const net = answerEverySend(fake, FAKE_RTT_NS, undefined, WARM_UP_CLOSED_EVERY);
  // The plan's flow index is built once per plan, at the end of its first iteration: build it now.
  flowIndex(plan);
  let done: { probes: number; answered: number; ms: number };
  try {
    const sample = samplePlan(plan, probes);
    // Rounds after the first turn the flows' order, as the daemon's iterations after the first do.
    let r = await engine.run(sample);
    for (let k = 0; ; ) {
      afterRound?.(r);
      if (++k >= rounds || performance.now() - t0 >= WARM_UP_LIMIT_MS) break;
      r = await engine.run(sample, k);
    }
    const answered = r.series.reduce((n, s) => n + s.sent - s.lost - s.unreachable, 0);
    done = { probes: Math.min(probes, plan.count), answered, ms: 0 };
  } finally {
    net.stop();
    engine.close();
  }
  // V8's compilations of the sample finish before the first real probe, and yield to it later (settle.ts)
  await yieldToSendThreads();
  return { ...done, ms: performance.now() - t0 };
}
