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
  const n = sorted.length;
  if (n === 0) return undefined;
  const k = ((n - 1) * p) / 100;
  const lo = Math.floor(k);
  const hi = Math.ceil(k);
  if (lo === hi) return sorted[lo]!;
  return sorted[lo]! * (hi - k) + sorted[hi]! * (k - lo);
}
