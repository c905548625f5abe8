// The concentration test of the ECMP anomaly detector (anomaly.ts): did a target's lost probes fall on
// too few of its flows? A lossy member link loses a little on each flow hashed onto it and nothing on
// the others, so at 1 % loss no single flow has enough losses for the per-flow Fisher test, but the
// losses pile up on a subset of flows. Under "every probe of the target is as likely to be lost"
// (uniform loss, whatever its level), the L lost probes are a uniformly drawn subset of the N probes
// sent, and the number of flows they touch (the occupancy D) has an exact law, computed here by
// dynamic programming over the flows, each weighted by its probes sent. The p-value is P(D <= d) for
// the observed d. Cost: flows × (d + 1) × (L + 1) × min(L, sent) multiply-adds; past a work cap the
// union bound over the flow sets of size d (an upper bound, so never a false flag more) is returned.
import { logChoose as lanczosChoose, logGamma } from "./fisher.js";

/** ln x! for x below its length, grown on demand (at most 2 MB); Lanczos beyond. */
let logFactorials = new Float64Array([0]);
const TABLE_MAX = 1 << 18;

function logFactorial(x: number): number {
  if (x < logFactorials.length) return logFactorials[x]!;
  if (x >= TABLE_MAX) return logGamma(x + 1);
  const grown = new Float64Array(Math.min(TABLE_MAX, Math.max(2 * logFactorials.length, x + 1)));
  grown.set(logFactorials);
  for (let i = logFactorials.length; i < grown.length; i++) grown[i] = grown[i - 1]! + Math.log(i);
  logFactorials = grown;
  return grown[x]!;
}

/** ln C(n, k) for integers 0 <= k <= n. */
function logChoose(n: number, k: number): number {
  return n < TABLE_MAX ? logFactorial(n) - logFactorial(k) - logFactorial(n - k) : lanczosChoose(n, k);
}

/** Largest dynamic programme run per test (multiply-adds); past it, the union bound is used. */
export const OCCUPANCY_MAX_WORK = 5e5;

/**
 * P(D <= occupied): the probability that `losses` probes drawn without replacement from flows with
 * `sent[i]` probes each fall on at most `occupied` distinct flows. Exact, or an upper bound when the
 * exact computation would cost more than `maxWork`.
 */
export function occupancyLower(
  sent: readonly number[],
  losses: number,
  occupied: number,
  maxWork = OCCUPANCY_MAX_WORK,
): number {
  const m = sent.length;
  let total = 0;
  let largest = 0;
  for (const n of sent) {
    total += n;
    largest = Math.max(largest, n);
  }
  if (losses <= 0 || occupied >= Math.min(m, losses)) return 1;
  if (losses > total) return 0;
  // E[D] = Σ P(flow i is touched) = Σ 1 - C(total - n_i, L) / C(total, L).
  let mean = 0;
  for (const n of sent) mean += 1 - Math.exp(logChoose(total - n, losses) - logChoose(total, losses));
  if (occupied >= mean) return 1;
  const bound = unionBound(sent, total, losses, occupied);
  const alike = sent.every((n) => n === sent[0]);
  const work = (alike ? 1 : m) * (occupied + 1) * (losses + 1) * (Math.min(largest, losses) + 1);
  if (work > maxWork) return bound;
  return Math.min(bound, occupancyExact(sent, losses, occupied));
}

/** P(D <= occupied), exact, whatever it costs. */
export function occupancyExact(sent: readonly number[], losses: number, occupied: number): number {
  return sent.every((n) => n === sent[0])
    ? exactAlike(sent.length, sent[0]!, losses, occupied)
    : exact(sent, losses, occupied);
}

/**
 * Flows of n probes each: u_t[j], the probability that j draws from t given flows touch all t, is
 * built flow by flow (the t-th takes k >= 1 of them, hypergeometric weight); then
 * P(D = t) = C(m, t) × u_t[L] × C(t n, L) / C(m n, L).
 */
function exactAlike(m: number, n: number, losses: number, d: number): number {
  const L = losses;
  let u = new Float64Array(L + 1);
  let v = new Float64Array(L + 1);
  u[0] = 1;
  const all = logChoose(m * n, L);
  const fromFlow = Float64Array.from({ length: Math.min(n, L) + 1 }, (_, k) => logChoose(n, k));
  const after = new Float64Array(L + 1);
  let p = 0;
  for (let t = 1; t <= d; t++) {
    v.fill(0);
    const seen = (t - 1) * n;
    for (let j = 0; j <= Math.min(L, seen + n); j++) after[j] = logChoose(seen + n, j);
    for (let j = t - 1; j <= Math.min(L, seen); j++) {
      const x = u[j]!;
      if (x === 0) continue;
      const a = logChoose(seen, j);
      for (let k = 1; k <= Math.min(n, L - j); k++)
        v[j + k]! += x * Math.exp(a + fromFlow[k]! - after[j + k]!);
    }
    [u, v] = [v, u];
    if (u[L]! > 0) p += Math.exp(logChoose(m, t) + Math.log(u[L]!) + logChoose(t * n, L) - all);
  }
  return Math.min(1, p);
}

/** Σ over flow sets S of size d of P(every loss in S) <= C(m, d) × P(every loss in the d largest). */
function unionBound(sent: readonly number[], total: number, losses: number, d: number): number {
  const top = [...sent].sort((a, b) => b - a);
  let inTop = 0;
  for (let i = 0; i < d; i++) inTop += top[i]!;
  if (inTop < losses) return 0;
  return Math.min(
    1,
    Math.exp(logChoose(sent.length, d) + logChoose(inTop, losses) - logChoose(total, losses)),
  );
}

/**
 * f[j][c]: probability-normalised count of the ways j of the draws fall on the flows seen so far with
 * c of them touched, divided by C(probes seen, j); adding a flow of n probes that takes k of the draws
 * multiplies by the hypergeometric C(seen, j) C(n, k) / C(seen + n, j + k). After the last flow,
 * f[L][c] = P(D = c). States with c > d can only grow and are dropped.
 */
function exact(sent: readonly number[], losses: number, d: number): number {
  const L = losses;
  const w = d + 1;
  let f = new Float64Array((L + 1) * w);
  let g = new Float64Array((L + 1) * w);
  f[0] = 1;
  let seen = 0;
  const term = new Float64Array((L + 1) * (L + 1));
  for (const n of sent) {
    g.fill(0);
    const jMax = Math.min(L, seen);
    const kMax = Math.min(L, n);
    const after = seen + n;
    for (let j = 0; j <= jMax; j++) {
      const a = logChoose(seen, j);
      for (let k = 0; k <= Math.min(kMax, L - j); k++)
        term[j * (L + 1) + k] = Math.exp(a + logChoose(n, k) - logChoose(after, j + k));
    }
    for (let j = 0; j <= jMax; j++) {
      for (let c = 0; c <= d; c++) {
        const v = f[j * w + c]!;
        if (v === 0) continue;
        const row = j * (L + 1);
        g[j * w + c]! += v * term[row]!;
        if (c === d) continue;
        for (let k = 1; k <= Math.min(kMax, L - j); k++) g[(j + k) * w + c + 1]! += v * term[row + k]!;
      }
    }
    seen = after;
    [f, g] = [g, f];
  }
  let p = 0;
  for (let c = 0; c <= d; c++) p += f[L * w + c]!;
  return Math.min(1, p);
}
