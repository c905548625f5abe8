// The exact test the anomaly detector uses: is one flow's loss count too high for the loss of its
// target as a whole? Under "every flow loses alike", the lost probes of a target are spread over its
// flows like draws without replacement, so one flow's losses follow a hypergeometric law; the upper
// tail is the one-sided Fisher exact test of that flow against the pooled rest. Log-space with a
// Lanczos log-gamma, so counts in the millions cost a few microseconds.

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7: about 15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln C(n, k). */
export function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * P(X >= k) for X hypergeometric: `draws` probes taken from `total`, of which `lost` are lost. This
 * is the one-sided p-value of a flow with `draws` probes and `k` losses against the rest of its target.
 */
export function hypergeometricUpper(k: number, total: number, lost: number, draws: number): number {
  const lo = Math.max(0, draws - (total - lost));
  const hi = Math.min(draws, lost);
  if (k <= lo) return 1;
  if (k > hi) return 0;
  const logDenominator = logChoose(total, draws);
  // Terms decrease away from the mode; from k upward they are summed until they stop mattering.
  let term = Math.exp(logChoose(lost, k) + logChoose(total - lost, draws - k) - logDenominator);
  let sum = term;
  for (let x = k; x < hi; x++) {
    term *= ((lost - x) * (draws - x)) / ((x + 1) * (total - lost - draws + x + 1));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.min(1, sum);
}
