// A warm-up that sends nothing: before the first iteration, the engine's hot functions (building and
// stamping packets, the send bookkeeping, parsing and matching replies, the results) run over a sample
// of the real plan on the fake sockets, answered at once by fake-answers.ts. Without it, the first
// iteration runs in V8's interpreter and baseline tiers until the optimizing compiler catches up, and
// a short first iteration sends at a fraction of the later ones' rate (docs/performance.md). Nothing
// reaches a real socket: the fake engine has its own sockets, keys and filters.
import { FakeBinding } from "../native/fake.js";
import { RawSockets } from "../native/rawsock.js";

import { Engine, type EngineOptions } from "./engine.js";
import { answerEverySend } from "./fake-answers.js";
import { flowIndex } from "./flows.js";
import { allocatePlan, type ProbePlan } from "./plan.js";
import { yieldToSendThreads } from "./settle.js";

/** Probes of the sample: enough for V8 to optimize the per-probe functions (measured: bench:daemon). */
export const WARM_UP_PROBES = 1024;
/** NETPROBIFY_WARMUP=0 turns the warm-up off (the benchmark's comparison); a number sets the sample. */
export const WARM_UP_ENV = "NETPROBIFY_WARMUP";
/** The sample's per-probe timeout: a probe the fake leaves unanswered never holds the start up. */
const SAMPLE_TIMEOUT_S = 0.1;
/** Fake RTT of the answers, ns. */
const FAKE_RTT_NS = 20_000n;

/** The sample size: WARM_UP_PROBES unless the environment says otherwise. */
export function warmUpProbes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[WARM_UP_ENV];
  if (v === undefined || v === "") return WARM_UP_PROBES;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : WARM_UP_PROBES;
}

/** `n` probes spread evenly over `plan` (every type and family it mixes, in its proportions), one round. */
export function samplePlan(plan: ProbePlan, n: number): ProbePlan {
  const count = Math.min(n, plan.count);
  const series = plan.series.map((s) => ({ ...s, timeout: Math.min(s.timeout, SAMPLE_TIMEOUT_S) }));
  const out = allocatePlan(count, series, plan.addresses, 1);
  for (let k = 0; k < count; k++) {
    const i = Math.floor((k * plan.count) / count);
    out.seriesOf[k] = plan.seriesOf[i]!;
    out.dst[k] = plan.dst[i]!;
    out.src[k] = plan.src[i]!;
    out.srcPort[k] = plan.srcPort[i]!;
    out.flowLabel[k] = plan.flowLabel[i]!;
  }
  return out;
}

/**
 * Runs one iteration of a sample of `plan` on fake sockets (at most `probes` probes) and returns what
 * it did; options as the real engine's (pacing off, a short hard limit).
 */
export async function warmUp(
  plan: ProbePlan,
  options: Omit<EngineOptions, "sockets" | "now">,
  probes = warmUpProbes(),
): Promise<{ probes: number; answered: number; ms: number }> {
  const t0 = performance.now();
  if (plan.count === 0 || probes <= 0) return { probes: 0, answered: 0, ms: 0 };
  const fake = new FakeBinding();
  fake.clockNs = BigInt(Date.now()) * 1_000_000n;
  fake.rxQueueLimit = 1 << 20;
  const engine = new Engine({
    ...options,
    pps: Infinity,
    intervalPacketsMs: 0,
    iterationLimitMs: 2000,
    sockets: new RawSockets(fake),
  });
  const net = answerEverySend(fake, FAKE_RTT_NS);
  // The plan's flow index is built once per plan, at the end of its first iteration: build it now.
  flowIndex(plan);
  let done: { probes: number; answered: number; ms: number };
  try {
    const r = await engine.run(samplePlan(plan, probes));
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
