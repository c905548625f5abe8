// Percentiles of round-trip times, computed exactly as the original netprobify did so that dashboards
// and thresholds keep their meaning: linear interpolation between the two closest ranks of the sorted
// samples, at rank k = (n - 1) * p / 100 (numpy's default "linear" method). No samples, no value: the
// caller exports no series rather than a fake 0.

/** Sorts RTT samples in place (numeric order) and returns them. */
export function sortSamples(samples: Float64Array): Float64Array {
  return samples.sort();
}

/** The p-th percentile (0..100) of already sorted samples, or undefined when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number | undefined {
  return percentileOf(sorted, 0, sorted.length, p);
}

/**
 * The same of the sorted run `sorted[from .. from + n)` (no view per run: the per-flow figures and
 * the ledger take thousands of medians per iteration).
 */
export function percentileOf(
  sorted: ArrayLike<number>,
  from: number,
  n: number,
  p: number,
): number | undefined {
  if (n === 0) return undefined;
  const k = ((n - 1) * p) / 100;
  const lo = Math.floor(k);
  const hi = Math.ceil(k);
  if (lo === hi) return sorted[from + lo]!;
  return sorted[from + lo]! * (hi - k) + sorted[from + hi]! * (k - lo);
}
