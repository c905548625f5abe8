// Which link is broken, from the traces of one incident. Pure (no I/O): the trace orchestration feeds
// it per-flow, per-TTL counts and exports what it returns. Method and limits: docs/paths-verdict.md.
//
// Each traced flow gives a path (the router that answered each TTL) and, per TTL, how many probes came
// back. A link (hop c-1 -> hop c) with loss p lowers the answers of every TTL >= c of every flow that
// crosses it, by the same factor, and leaves the TTLs before it alone. For every link on a flagged
// flow's path the verdict pools all traced flows crossing it (flagged and healthy, across targets) and
// computes a likelihood-ratio statistic of "answers from c on are missing at rate p" against "only the
// background rate is missing". Links whose healthy flows lose less than their flagged ones are dropped;
// each flagged flow votes for the remaining link after which its own answers drop most; among the links
// crossed by the same flows as the most voted one, the largest significant statistic wins. Hops that
// miss answers while later TTLs of the same flows answer (ICMP rate limiting, silent routers) give no
// evidence: their TTL is left out, so a missing ICMP answer alone never blames a hop.

/** One TTL of one flow's trace, after the tracer's retries. */
export interface TtlObservation {
  ttl: number;
  sent: number;
  /** Time-exceeded answers per router address (as the routers answered). */
  timeExceeded: Readonly<Record<string, number>>;
  /** Probes answered by the destination itself. */
  reached: number;
  /** Probes with no answer at all. */
  noAnswer: number;
  /** The tracer knows the router at this TTL rate-limits its ICMP errors. */
  rateLimited?: boolean;
}

/** One trace of one flow (flow id = source address/port/flow label). */
export interface FlowTrace {
  flow: string;
  /** The prober's source address: the first link starts there. */
  source: string;
  target: string;
  /** Flagged as lossy by the anomaly detector (else a healthy reference). */
  flagged: boolean;
  /** Order of several traces of the same flow (later is higher); input order when absent. */
  seq?: number;
  ttls: readonly TtlObservation[];
}

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
/** A hop whose misses exceed those of the TTLs after it by this many standard errors rate-limits. */
const RATE_LIMIT_Z = 5;
/**
 * A link loses the same share of every flow crossing it: when the healthy flows crossing a link lose
 * significantly less than the flagged ones (2×2 likelihood-ratio test above this), the loss is further on
 * the flagged flows' own branch and the link is not a suspect.
 */
export const MAX_HETEROGENEITY = 15;

interface Model {
  trace: FlowTrace;
  /** nodes[0] = source, nodes[t] = router at TTL t, nodes[destTtl] = target. */
  nodes: (string | null)[];
  /** Cuts 1..last: the link nodes[c-1] -> nodes[c]. */
  last: number;
  destTtl: number | null;
  /** Answers and sends per TTL (index = TTL), and whether the TTL counts as evidence. */
  a: number[];
  s: number[];
  evidence: boolean[];
}

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

function buildModel(trace: FlowTrace, alias: (a: string) => string): Model {
  const obs = [...trace.ttls].sort((x, y) => x.ttl - y.ttl);
  const maxTtl = obs.reduce((m, o) => Math.max(m, o.ttl), 0);
  const reachedTtls = obs.filter((o) => o.reached > 0).map((o) => o.ttl);
  const destTtl = reachedTtls.length > 0 ? Math.min(...reachedTtls) : null;
  const nodes: (string | null)[] = [alias(trace.source)];
  const a: number[] = [0];
  const s: number[] = [0];
  for (let t = 1; t <= maxTtl; t++) {
    const o = obs.find((x) => x.ttl === t);
    const sent = Math.max(0, o?.sent ?? 0);
    s.push(sent);
    if (destTtl !== null && t >= destTtl) {
      if (t === destTtl) nodes.push(alias(trace.target));
      a.push(Math.min(sent, Math.max(0, o?.reached ?? 0))); // answers never exceed probes
      continue;
    }
    const counts = answersByRouter(o, alias);
    const best = [...counts.entries()].sort((x, y) => y[1] - x[1])[0];
    nodes.push(best ? best[0] : null);
    a.push(best ? Math.min(sent, best[1]) : 0);
  }
  let lastAnswer = 0;
  for (let t = 1; t < nodes.length; t++) if (nodes[t] !== null) lastAnswer = t;
  const last = destTtl ?? Math.min(lastAnswer + 1, maxTtl);
  const evidence = nodes.map((n, t) => {
    if (t === 0 || t > maxTtl || (s[t] ?? 0) === 0) return false;
    if (destTtl !== null && t >= destTtl) return true;
    if (obs.find((x) => x.ttl === t)?.rateLimited) return false;
    return !(n === null && t < lastAnswer); // a silent hop with answers after it: not loss
  });
  for (let t = nodes.length; t <= maxTtl; t++) evidence.push(true);
  return { trace, nodes, last, destTtl, a, s, evidence };
}

function answersByRouter(o: TtlObservation | undefined, alias: (a: string) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [addr, n] of Object.entries(o?.timeExceeded ?? {})) {
    if (n > 0) counts.set(alias(addr), (counts.get(alias(addr)) ?? 0) + n);
  }
  return counts;
}

function pathDiffers(before: Model, after: Model): boolean {
  if (before.destTtl !== null && after.destTtl !== null && before.destTtl !== after.destTtl) return true;
  const n = Math.min(before.nodes.length, after.nodes.length);
  for (let t = 1; t < n; t++) {
    const x = before.nodes[t];
    const y = after.nodes[t];
    if (x != null && y != null && x !== y) return true;
  }
  return false;
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
  const background = backgroundMiss(models);
  // A link loses the same share of every flow crossing it: drop links whose healthy flows lose less.
  const qualified = new Map([...candidates].filter(([, st]) => heterogeneity(st) <= MAX_HETEROGENEITY));
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
  if (!leader) return { kind: "none" };
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

/** 2×2 likelihood-ratio statistic: do the healthy flows crossing the link lose less than the flagged ones? */
function heterogeneity(st: LinkStats): number {
  const fa = st.answered - st.healthyAnswered;
  const fs = st.sent - st.healthySent;
  if (fs === 0 || st.healthySent === 0) return 0;
  const missFlagged = (fs - fa) / fs;
  const missHealthy = (st.healthySent - st.healthyAnswered) / st.healthySent;
  if (missHealthy >= missFlagged) return 0;
  const ll = (a: number, n: number): number => {
    const q = a / n;
    return (a === 0 ? 0 : a * Math.log(q)) + (n - a === 0 ? 0 : (n - a) * Math.log(1 - q));
  };
  return 2 * (ll(fa, fs) + ll(st.healthyAnswered, st.healthySent) - ll(st.answered, st.sent));
}

/**
 * A router that misses answers for a flow while the TTLs after it answer that flow better rate-limits its
 * ICMP errors (or is silent): loss on a link makes misses grow along a path, never shrink. One flow
 * showing such a dip is enough; the router's TTLs then stop counting as evidence in every flow.
 */
function markRateLimited(models: readonly Model[]): void {
  const limited = new Set<string>();
  for (const m of models) {
    for (const o of m.trace.ttls) {
      const v = m.nodes[o.ttl];
      if (o.rateLimited && v != null && o.ttl !== m.destTtl) limited.add(v);
    }
  }
  for (const m of models) {
    const end = m.destTtl ?? m.last;
    for (let t = 1; t < end; t++) {
      const v = m.nodes[t];
      if (v == null || !m.evidence[t]) continue;
      const mv = (m.s[t] ?? 0) - (m.a[t] ?? 0);
      const sv = m.s[t] ?? 0;
      let ma = 0;
      let sa = 0;
      for (let u = t + 1; u < m.s.length; u++) {
        if (!m.evidence[u]) continue;
        ma += (m.s[u] ?? 0) - (m.a[u] ?? 0);
        sa += m.s[u] ?? 0;
      }
      if (sv === 0 || sa === 0 || mv < 3) continue;
      const pv = mv / sv;
      const pa = ma / sa;
      const pooled = (mv + ma) / (sv + sa);
      const se = Math.sqrt(pooled * (1 - pooled) * (1 / sv + 1 / sa));
      if (pv > pa && se > 0 && (pv - pa) / se > RATE_LIMIT_Z) limited.add(v);
    }
  }
  for (const m of models) {
    for (let t = 1; t < m.nodes.length; t++) {
      const v = m.nodes[t];
      if (v != null && limited.has(v) && t !== m.destTtl) m.evidence[t] = false;
    }
  }
}
