// Which link is broken, from the traces of one incident. Pure (no I/O): the trace orchestration feeds
// it per-flow, per-TTL counts and exports what it returns. Method and limits: docs/paths-verdict.md.
//
// Each traced flow gives a path (the router that answered each TTL) and, per TTL, how many probes came
// back. A link (hop c-1 -> hop c) with loss p lowers the answers of every TTL >= c of every flow that
// crosses it, by the same factor, and leaves the TTLs before it alone. For every link on a flagged
// flow's path the verdict pools all traced flows crossing it (flagged and healthy, across targets) and
// computes a likelihood-ratio statistic of "answers from c on are missing at rate p" against "only the
// background rate is missing". Links whose healthy flows lose less than their flagged ones are dropped,
// and so are links whose crossing flows do not lose more than the traced flows avoiding them (uniform
// loss: every member of a bundle losing alike names no link); each flagged flow votes for the remaining link after which its own answers drop most; among the links
// crossed by the same flows as the most voted one, the largest significant statistic wins. Hops that
// miss answers while later TTLs of the same flows answer (ICMP rate limiting, silent routers) give no
// evidence: their TTL is left out, so a missing ICMP answer alone never blames a hop.

import {
  answersByRouter,
  buildModel,
  type FlowTrace,
  type Model,
  markRateLimited,
  pathDiffers,
} from "./trace-model.js";

export type { FlowTrace, TtlObservation } from "./trace-model.js";

export interface VerdictOptions {
  /** Router aliases: address -> router name, for routers answering from several addresses. */
  aliases?: Readonly<Record<string, string>>;
}

export type Verdict =
  | {
      kind: "link";
      from: string;
      /** null: the far end never answered (a blackhole hides it); the loss starts right after `from`. */
      to: string | null;
      lossEstimate: number;
      confidence: number;
      /** Flagged flows whose own most likely link is this one (007-style votes). */
      votes: number;
    }
  | { kind: "per-packet"; ttl: number; flow: string; addresses: string[] }
  | { kind: "none" }
  | { kind: "inconclusive"; why: string };

export interface FlowPath {
  flow: string;
  target: string;
  flagged: boolean;
  /** Router per TTL from 1 (null: no answer at that TTL), up to the destination or the last answer. */
  hops: (string | null)[];
  reached: boolean;
  /** The path differs from this flow's previous trace. */
  changed: boolean;
}

export interface IncidentAnalysis {
  verdict: Verdict;
  flows: FlowPath[];
  /** Per target: distinct paths and distinct hop addresses among its traced flows. */
  targets: Record<string, { paths: number; hops: number }>;
  /** Flows whose latest path differs from their previous trace (a counter for the orchestrator). */
  pathChanges: number;
}

/**
 * Least rate at which an answer goes missing for reasons that are not a link (ICMP drops, noise); the
 * healthy flows' own miss rate replaces it when higher.
 */
export const BACKGROUND_MISS = 1e-3;
/** Likelihood-ratio statistic a link needs to be named (chi-square, 1 dof: p < 1e-5 per link). */
export const MIN_STATISTIC = 20;
/**
 * A link loses the same share of every flow crossing it: when the healthy flows crossing a link lose
 * significantly less than the flagged ones (2×2 likelihood-ratio test above this), the loss is further on
 * the flagged flows' own branch and the link is not a suspect.
 */
export const MAX_HETEROGENEITY = 15;
/**
 * A suspect link loses and its siblings do not: the flows crossing it must lose significantly more,
 * from its TTL on, than the traced flows that avoid it over the same TTLs (one-sided 2×2
 * likelihood-ratio test at least this, p < 5e-4 per link). Under uniform loss (every member of a bundle
 * losing alike) no member passes, and a link that no traced flow avoids cannot pass either.
 */
export const MIN_CONTRAST = 12;

interface LinkStats {
  from: string;
  to: string | null;
  answered: number;
  sent: number;
  /** The same, for the healthy flows only. */
  healthyAnswered: number;
  healthySent: number;
  /** The flows crossing the link, joined: links crossed by the same flows can tie. */
  flows: string;
  /** The cut (TTL of the far end) at which the first flagged flow crosses it. */
  cut: number;
  /** The same, for the traced flows that avoid the link, over the same TTLs (its siblings' evidence). */
  otherAnswered: number;
  otherSent: number;
}

export function analyzeIncident(
  traces: readonly FlowTrace[],
  options: VerdictOptions = {},
): IncidentAnalysis {
  const alias = (addr: string): string => options.aliases?.[addr] ?? addr;
  const byFlow = new Map<string, FlowTrace[]>();
  traces.forEach((t) => {
    const list = byFlow.get(t.flow) ?? [];
    list.push(t);
    byFlow.set(t.flow, list);
  });
  const models: Model[] = [];
  const flows: FlowPath[] = [];
  let pathChanges = 0;
  for (const list of byFlow.values()) {
    const ordered = list
      .map((t, i) => ({ t, i }))
      .sort((x, y) => (x.t.seq ?? x.i) - (y.t.seq ?? y.i) || x.i - y.i)
      .map((x) => x.t);
    const ms = ordered.map((t) => buildModel(t, alias));
    const latest = ms[ms.length - 1] as Model;
    const changed = ms.length > 1 && pathDiffers(ms[ms.length - 2] as Model, latest);
    if (changed) pathChanges++;
    models.push(latest);
    flows.push({
      flow: latest.trace.flow,
      target: latest.trace.target,
      flagged: latest.trace.flagged,
      hops: latest.nodes.slice(1, latest.destTtl ?? latest.last),
      reached: latest.destTtl !== null,
      changed,
    });
  }
  const analysis = { flows, targets: targetSummary(flows), pathChanges };
  return { verdict: decide(models, alias), ...analysis };
}

function targetSummary(flows: readonly FlowPath[]): Record<string, { paths: number; hops: number }> {
  const out: Record<string, { paths: number; hops: number }> = {};
  const groups = new Map<string, FlowPath[]>();
  for (const f of flows) groups.set(f.target, [...(groups.get(f.target) ?? []), f]);
  for (const [target, list] of groups) {
    const paths = new Set(list.map((f) => JSON.stringify(f.hops)));
    const hops = new Set(list.flatMap((f) => f.hops.filter((h): h is string => h !== null)));
    out[target] = { paths: paths.size, hops: hops.size };
  }
  return out;
}

function decide(models: readonly Model[], alias: (a: string) => string): Verdict {
  for (const m of models) {
    for (const o of m.trace.ttls) {
      const addrs = [...answersByRouter(o, alias).keys()];
      if (addrs.length > 1)
        return { kind: "per-packet", ttl: o.ttl, flow: m.trace.flow, addresses: addrs.sort() };
    }
  }
  const flagged = models.filter((m) => m.trace.flagged);
  if (flagged.length === 0) return { kind: "none" };
  if (flagged.every((m) => m.s.every((x) => x === 0))) {
    return { kind: "inconclusive", why: "the flagged flows' traces hold no probes" };
  }
  markRateLimited(models);
  const candidates = new Map<string, LinkStats>();
  for (const m of flagged) {
    for (const c of cuts(m)) {
      const key = linkKey(m, c);
      if (key && !candidates.has(key)) {
        candidates.set(key, {
          from: m.nodes[c - 1] as string,
          to: m.nodes[c] ?? null,
          answered: 0,
          sent: 0,
          healthyAnswered: 0,
          healthySent: 0,
          flows: "",
          cut: c,
          otherAnswered: 0,
          otherSent: 0,
        });
      }
    }
  }
  for (const m of models) {
    for (const c of cuts(m)) {
      const stats = candidates.get(linkKey(m, c) ?? "");
      if (!stats) continue;
      const [answered, sent] = after(m, c);
      stats.answered += answered;
      stats.sent += sent;
      if (!m.trace.flagged) {
        stats.healthyAnswered += answered;
        stats.healthySent += sent;
      }
      stats.flows += `${m.trace.flow}\n`;
    }
  }
  for (const [key, st] of candidates) {
    for (const m of models) {
      // A flow avoids the link when it crosses it nowhere, nor its far end when that is the flow's
      // destination (a target hangs off one link, whichever address its leaf answers from) or silent.
      const end = m.nodes[st.cut] ?? null;
      if (cuts(m).some((c) => linkKey(m, c) === key)) continue;
      if (end === st.to && (end === null || st.cut === m.destTtl)) continue;
      const [answered, sent] = after(m, st.cut);
      st.otherAnswered += answered;
      st.otherSent += sent;
    }
  }
  const background = backgroundMiss(models);
  // A link loses the same share of every flow crossing it: drop links whose healthy flows lose less.
  // A suspect loses more than its siblings: drop links whose avoiding flows lose as much (uniform loss).
  const consistent = [...candidates].filter(([, st]) => heterogeneity(st) <= MAX_HETEROGENEITY);
  const qualified = new Map(consistent.filter(([, st]) => contrast(st) >= MIN_CONTRAST));
  // 007-style votes: each flagged flow votes for the qualified link after which its own answers drop
  // most (on a tie, the later one: a rate-limited hop between them left the same evidence to both).
  const votes = new Map<string, number>();
  for (const m of flagged) {
    let own: { key: string; g: number } | undefined;
    for (const c of cuts(m)) {
      const key = linkKey(m, c) as string;
      const g = statistic(...after(m, c), background);
      if (qualified.has(key) && g > 0 && (!own || g >= own.g)) own = { key, g };
    }
    if (own) votes.set(own.key, (votes.get(own.key) ?? 0) + 1);
  }
  const ranked = [...qualified].map(([key, st]) => ({
    key,
    st,
    g: statistic(st.answered, st.sent, background),
    votes: votes.get(key) ?? 0,
  }));
  const leader = ranked.filter((r) => r.votes > 0).sort((x, y) => y.votes - x.votes || y.g - x.g)[0];
  if (!leader) {
    // Significant losses, but every traced flow crosses the lossy links: nothing tells a faulty member
    // from loss shared by all of them.
    const lossy = consistent.filter(([, st]) => statistic(st.answered, st.sent, background) >= MIN_STATISTIC);
    if (lossy.length > 0 && lossy.every(([, st]) => st.otherSent === 0)) {
      return {
        kind: "inconclusive",
        why: `losses after ${lossy.map(([k]) => k).join(", ")}, but no traced flow avoids them: nothing to compare them with`,
      };
    }
    return { kind: "none" };
  }
  // Links crossed by exactly the same flows (leaf1 -> spine, spine -> leaf2) differ only in where the
  // losses start; the pooled statistic of all those flows decides between them better than single votes.
  const family = ranked.filter((r) => r.st.flows === leader.st.flows).sort((x, y) => y.g - x.g);
  const best = family[0] as (typeof family)[number];
  if (best.g < MIN_STATISTIC) return { kind: "none" };
  const tied = family.filter((r) => r !== best && r.g >= best.g * (1 - 1e-9));
  if (tied.length > 0) {
    const names = [best, ...tied].map((r) => r.key).join(", ");
    return {
      kind: "inconclusive",
      why: `loss lies on one of ${names}: a hop between them does not answer every probe, so the traces cannot tell them apart`,
    };
  }
  const familyVotes = family.reduce((n, r) => n + r.votes, 0);
  const runnerUp = family[1]?.g ?? 0;
  const q = best.st.answered / best.st.sent;
  return {
    kind: "link",
    from: best.st.from,
    to: best.st.to,
    lossEstimate: Math.min(1, Math.max(0, 1 - q / (1 - background))),
    confidence: (familyVotes / flagged.length) * (1 - Math.exp(-(best.g - runnerUp) / 2)),
    votes: familyVotes,
  };
}

/** Cuts c whose link nodes[c-1] -> nodes[c] can be named: a known `from`, and a known `to` or the first silent TTL. */
function cuts(m: Model): number[] {
  const out: number[] = [];
  for (let c = 1; c <= m.last; c++) if (linkKey(m, c)) out.push(c);
  return out;
}

function linkKey(m: Model, c: number): string | null {
  const from = m.nodes[c - 1];
  const to = m.nodes[c] ?? null;
  if (from == null) return null;
  if (to === null && c !== m.last) return null; // a silent hop in the middle names nothing
  return `${from} -> ${to ?? "*"}`;
}

/** Answers and sends of the evidence TTLs from c on. */
function after(m: Model, c: number): [number, number] {
  let answered = 0;
  let sent = 0;
  for (let t = c; t < m.s.length; t++) {
    if (!m.evidence[t]) continue;
    answered += m.a[t] ?? 0;
    sent += m.s[t] ?? 0;
  }
  return [answered, sent];
}

/** 2 × log-likelihood ratio of "answers missing at the observed rate" vs "at the background rate". */
function statistic(answered: number, sent: number, background: number): number {
  if (sent === 0) return 0;
  const r = 1 - background;
  const q = answered / sent;
  if (q >= r) return 0;
  const missed = sent - answered;
  const xlogy = (x: number, y: number): number => (x === 0 ? 0 : x * Math.log(y));
  return 2 * (xlogy(answered, q) + xlogy(missed, 1 - q) - xlogy(answered, r) - xlogy(missed, 1 - r));
}

/**
 * The least lossy healthy flow's miss rate over its evidence TTLs, at least BACKGROUND_MISS: some
 * "healthy" flows may cross the faulty link (the detector missed them), the least lossy one rarely does.
 */
function backgroundMiss(models: readonly Model[]): number {
  let least = Number.POSITIVE_INFINITY;
  for (const m of models) {
    if (m.trace.flagged) continue;
    let missed = 0;
    let sent = 0;
    for (let t = 1; t < m.s.length; t++) {
      if (!m.evidence[t]) continue;
      missed += (m.s[t] ?? 0) - (m.a[t] ?? 0);
      sent += m.s[t] ?? 0;
    }
    if (sent > 0) least = Math.min(least, missed / sent);
  }
  return Number.isFinite(least) ? Math.max(BACKGROUND_MISS, least) : BACKGROUND_MISS;
}

/** One-sided 2×2 likelihood-ratio statistic: do the flows crossing the link lose more than those avoiding it? */
function contrast(st: LinkStats): number {
  return moreLost(st.answered, st.sent, st.otherAnswered, st.otherSent);
}

/** 2×2 likelihood-ratio statistic: do the healthy flows crossing the link lose less than the flagged ones? */
function heterogeneity(st: LinkStats): number {
  return moreLost(
    st.answered - st.healthyAnswered,
    st.sent - st.healthySent,
    st.healthyAnswered,
    st.healthySent,
  );
}

/** 2×2 likelihood-ratio statistic that group x (answered xa of xs) misses more than group y; 0 if not. */
function moreLost(xa: number, xs: number, ya: number, ys: number): number {
  if (xs === 0 || ys === 0) return 0;
  if ((ys - ya) / ys >= (xs - xa) / xs) return 0;
  const ll = (a: number, n: number): number => {
    const q = a / n;
    return (a === 0 ? 0 : a * Math.log(q)) + (n - a === 0 ? 0 : (n - a) * Math.log(1 - q));
  };
  return 2 * (ll(xa, xs) + ll(ya, ys) - ll(xa + ya, xs + ys));
}
