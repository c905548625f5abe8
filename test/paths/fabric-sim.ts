// A seeded, probabilistic leaf-spine fabric (prober - leaf1 - N spines - leaf2 - targets) that turns a
// trace budget into trace outcomes the way the orchestrator will see them, so the verdict can be scored
// over thousands of incidents without a lab. The real fabric lives in src/lab; this is its statistics.

import { splitBudget, TRACE_FLAGGED_FLOWS, TRACE_FLOWS, TRACE_TTLS } from "../../src/paths/budget.js";
import type { FlowTrace, TtlObservation, Verdict } from "../../src/paths/verdict.js";
import { rng } from "../support/rng.js";

export type FaultLink = "leaf1-spine" | "spine-leaf2" | "leaf2-target";

export interface Scenario {
  width: number;
  seed: number;
  /** Loss on one member link (spine `spine` or target 0), in one direction. */
  fault?: { link: FaultLink; spine: number; direction: "forward" | "reverse"; loss: number };
  /** Routers answering only `rateLimitAnswer` of the time-exceeded errors they owe. */
  rateLimited?: ("leaf1" | "spines" | "leaf2")[];
  /**
   * The same loss on every leaf1 -> spine link (uniform loss: no member is worse than its siblings, so
   * no link should be named); the detector falsely flags 1 to 4 random flows.
   */
  uniform?: { loss: number; direction: "forward" | "reverse" };
  /** leaf1 sends every packet to a random spine. */
  perPacket?: boolean;
  targets?: number;
  /** Loss of every link in each direction that is no fault (default 5e-5). */
  background?: number;
  flowsPerTarget?: number;
  probesPerTtl?: number;
}

export interface Incident {
  traces: FlowTrace[];
  probes: number;
  /** The faulty link as the routers answer (from, to); `to` is invisible to a blackholed flow. */
  truth: { from: string; to: string } | null;
}

export const SOURCE = "198.18.0.2";
export const LEAF1 = "198.18.0.1";
export const spineAddr = (k: number): string => `198.18.1.${k + 1}`;
/** leaf2 answers from its interface toward the spine the flow crossed (symmetric return). */
export const leaf2Addr = (k: number): string => `198.18.2.${k + 1}`;
export const targetAddr = (i: number): string => `198.18.10.${i + 1}`;
const RATE_LIMIT_ANSWER = 0.5;

export { rng };

interface SimFlow {
  id: string;
  target: number;
  spine: number;
  affected: boolean;
}

export function simulateIncident(sc: Scenario): Incident {
  const rand = rng(sc.seed);
  const nTargets = sc.targets ?? (sc.fault?.link === "leaf2-target" ? 2 : 1);
  const perTarget = sc.flowsPerTarget ?? 64;
  const all: SimFlow[] = [];
  for (let i = 0; i < nTargets; i++) {
    for (let p = 0; p < perTarget; p++) {
      const spine = Math.floor(rand() * sc.width);
      all.push({ id: `${SOURCE}/${33000 + p}->${targetAddr(i)}`, target: i, spine, affected: false });
    }
  }
  // The faulty member: spine (or target) `fault.spine`, or the next one some flow crosses.
  const f = sc.fault && { ...sc.fault, spine: faultyIndex(sc.fault, all, sc.width, nTargets) };
  for (const fl of all) {
    fl.affected =
      f !== undefined && (f.link === "leaf2-target" ? fl.target === f.spine : fl.spine === f.spine);
  }
  // The anomaly detector: some affected flows (more at higher loss), sometimes a false alarm.
  const detect = f ? (f.loss >= 0.05 ? 0.9 : 0.6) : 0;
  const shuffled = all.map((x) => ({ x, k: rand() })).sort((a, b) => a.k - b.k);
  const flagged = shuffled.filter((e) => e.x.affected && rand() < detect).map((e) => e.x);
  const firstAffected = shuffled.find((e) => e.x.affected)?.x;
  if (flagged.length === 0 && firstAffected) flagged.push(firstAffected);
  const chosen = flagged.slice(0, TRACE_FLAGGED_FLOWS);
  if (sc.uniform) {
    const k = 1 + Math.floor(rand() * TRACE_FLAGGED_FLOWS);
    for (const e of shuffled.slice(0, k)) chosen.push(e.x);
  } else if (!f || rand() < 0.2) {
    const falseAlarm = shuffled.find((e) => !e.x.affected)?.x; // flagged although its paths are fine
    if (falseAlarm) chosen.push(falseAlarm);
  }
  const flaggedIds = new Set(chosen.map((x) => x.id));
  for (const e of shuffled) {
    if (chosen.length >= TRACE_FLOWS) break;
    if (!chosen.includes(e.x)) chosen.push(e.x);
  }
  const rl = new Set(sc.rateLimited ?? []);
  const bg = sc.background ?? 5e-5;
  let sent = 0;
  const split = splitBudget(flaggedIds.size, chosen.length - flaggedIds.size, TRACE_TTLS);
  const traces = chosen.map((fl): FlowTrace => {
    const probes = sc.probesPerTtl ?? (flaggedIds.has(fl.id) ? split.flagged : split.healthy);
    const ttls: TtlObservation[] = [];
    for (let t = 1; t <= TRACE_TTLS; t++) {
      const te: Record<string, number> = {};
      let reached = 0;
      for (let n = 0; n < probes; n++) {
        const spine = sc.perPacket ? Math.floor(rand() * sc.width) : fl.spine;
        const crossed = Math.min(t, 4); // links 0..3: src-leaf1, leaf1-spine, spine-leaf2, leaf2-target
        let ok = true;
        const u = (l: number, dir: "forward" | "reverse") =>
          l === 1 && sc.uniform?.direction === dir ? sc.uniform.loss : 0;
        for (let l = 0; l < crossed && ok; l++)
          ok = rand() >= bg + lossOn(f, l, spine, fl, "forward") + u(l, "forward");
        for (let l = crossed - 1; l >= 0 && ok; l--)
          ok = rand() >= bg + lossOn(f, l, spine, fl, "reverse") + u(l, "reverse");
        if (!ok) continue;
        if (t >= 4) {
          reached++;
          continue;
        }
        const router = t === 1 ? "leaf1" : t === 2 ? "spines" : "leaf2";
        if (rl.has(router) && rand() >= RATE_LIMIT_ANSWER) continue;
        const addr = t === 1 ? LEAF1 : t === 2 ? spineAddr(spine) : leaf2Addr(spine);
        te[addr] = (te[addr] ?? 0) + 1;
      }
      sent += probes;
      const answered = reached + Object.values(te).reduce((a, b) => a + b, 0);
      ttls.push({ ttl: t, sent: probes, timeExceeded: te, reached, noAnswer: probes - answered });
    }
    return {
      flow: fl.id,
      source: SOURCE,
      target: targetAddr(fl.target),
      flagged: flaggedIds.has(fl.id),
      ttls,
    };
  });
  return { traces, probes: sent, truth: f ? truthOf(f) : null };
}

function faultyIndex(
  f: NonNullable<Scenario["fault"]>,
  all: SimFlow[],
  width: number,
  nTargets: number,
): number {
  if (f.link === "leaf2-target") return f.spine % nTargets;
  for (let d = 0; d < width; d++) {
    const k = (f.spine + d) % width;
    if (all.some((x) => x.spine === k)) return k;
  }
  return 0;
}

type Fault = NonNullable<Scenario["fault"]>;

function lossOn(
  f: Fault | undefined,
  link: number,
  spine: number,
  fl: SimFlow,
  dir: "forward" | "reverse",
): number {
  if (!f || f.direction !== dir) return 0;
  if (f.link === "leaf1-spine") return link === 1 && spine === f.spine ? f.loss : 0;
  if (f.link === "spine-leaf2") return link === 2 && spine === f.spine ? f.loss : 0;
  return link === 3 && fl.target === f.spine ? f.loss : 0;
}

function truthOf(f: Fault): { from: string; to: string } {
  if (f.link === "leaf1-spine") return { from: LEAF1, to: spineAddr(f.spine) };
  if (f.link === "spine-leaf2") return { from: spineAddr(f.spine), to: leaf2Addr(f.spine) };
  return { from: "leaf2", to: targetAddr(f.spine) }; // leaf2 answers from one address per spine
}

/** The verdict names the faulty link: exact addresses, or an unseen far end for a blackhole. */
export function namesFault(v: Verdict, truth: Incident["truth"], loss: number): boolean {
  if (v.kind !== "link" || !truth) return false;
  const fromOk = truth.from === "leaf2" ? v.from.startsWith("198.18.2.") : v.from === truth.from;
  return fromOk && (v.to === truth.to || (v.to === null && loss === 1));
}

export interface Tally {
  scenario: string;
  runs: number;
  correct: number;
  maxProbes: number;
}

/** Faulty-fabric scenarios: widths × member link × loss × direction, optionally with leaf1 rate limiting. */
export function faultScenarios(rateLimited: Scenario["rateLimited"]): Omit<Scenario, "seed">[] {
  const out: Omit<Scenario, "seed">[] = [];
  for (const width of [2, 4, 8, 16]) {
    for (const link of ["leaf1-spine", "spine-leaf2", "leaf2-target"] as const) {
      for (const loss of [0.01, 0.05, 1]) {
        for (const direction of ["forward", "reverse"] as const) {
          out.push({ width, fault: { link, spine: 0, direction, loss }, rateLimited });
        }
      }
    }
  }
  return out;
}

export function scenarioName(sc: Omit<Scenario, "seed">): string {
  const f = sc.fault;
  const rl =
    (sc.rateLimited?.length ? ` rate-limited:${sc.rateLimited.join("+")}` : "") +
    (sc.background ? ` background:${sc.background}` : "");
  if (sc.uniform)
    return `${sc.width}-way uniform ${sc.uniform.loss * 100}% ${sc.uniform.direction} on every leaf1-spine${rl}`;
  return f
    ? `${sc.width}-way ${f.link} ${f.loss * 100}% ${f.direction}${rl}`
    : `${sc.width}-way healthy${rl}`;
}

/** Runs `runs` seeded incidents of a scenario (the faulty member varies with the run). */
export function runScenario(
  sc: Omit<Scenario, "seed">,
  runs: number,
  analyze: (t: FlowTrace[]) => Verdict,
): Tally {
  let correct = 0;
  let maxProbes = 0;
  for (let r = 0; r < runs; r++) {
    const seed =
      r * 7919 +
      sc.width * 31 +
      Math.round((sc.fault?.loss ?? sc.uniform?.loss ?? 0) * 1000) +
      scenarioName(sc).length;
    const fault = sc.fault && { ...sc.fault, spine: r };
    const inc = simulateIncident({ ...sc, seed, ...(fault ? { fault } : {}) });
    maxProbes = Math.max(maxProbes, inc.probes);
    const v = analyze(inc.traces);
    if (fault ? namesFault(v, inc.truth, fault.loss) : v.kind !== "link") correct++;
  }
  return { scenario: scenarioName(sc), runs, correct, maxProbes };
}
