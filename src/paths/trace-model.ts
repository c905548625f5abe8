// One flow's trace as the verdict reads it: the input types, the path (router per TTL), answers and
// probes per TTL, and which TTLs count as evidence (rate-limiting and silent hops do not). Split from
// verdict.ts, which decides; this file only describes what each trace shows.

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

/** A hop whose misses exceed those of the TTLs after it by this many standard errors rate-limits. */
const RATE_LIMIT_Z = 5;

/** A flow's latest trace, read. */
export interface Model {
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

export function buildModel(trace: FlowTrace, alias: (a: string) => string): Model {
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

export function answersByRouter(
  o: TtlObservation | undefined,
  alias: (a: string) => string,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [addr, n] of Object.entries(o?.timeExceeded ?? {})) {
    if (n > 0) counts.set(alias(addr), (counts.get(alias(addr)) ?? 0) + n);
  }
  return counts;
}

export function pathDiffers(before: Model, after: Model): boolean {
  if (before.destTtl !== null && after.destTtl !== null && before.destTtl !== after.destTtl) return true;
  const n = Math.min(before.nodes.length, after.nodes.length);
  for (let t = 1; t < n; t++) {
    const x = before.nodes[t];
    const y = after.nodes[t];
    if (x != null && y != null && x !== y) return true;
  }
  return false;
}

/**
 * A router that misses answers for a flow while the TTLs after it answer that flow better rate-limits its
 * ICMP errors (or is silent): loss on a link makes misses grow along a path, never shrink. One flow
 * showing such a dip is enough; the router's TTLs then stop counting as evidence in every flow.
 */
export function markRateLimited(models: readonly Model[]): void {
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
