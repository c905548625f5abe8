// Sorting an iteration's RTT samples. Every series' samples are sorted once per iteration (the
// metrics read percentiles, min and max from them): 10,000 samples per series are common, and
// Float64Array.prototype.sort took ~65 ns per sample there (~0.15 µs per probe in the daemon's
// profile). RTTs are whole nanoseconds (differences of the kernel's timestamps), so they are sorted
// as integers by a radix sort (a pass per byte of the largest, ~25 ns per sample) and divided into
// seconds after: x -> x / 1e9 keeps the order, so the result is the same array the float sort gave.

/** Below this many samples the built-in sort is as fast (the radix sort's counts cost a pass of 256). */
const RADIX_MIN = 256;

let scratch = new Uint32Array(1024);
let spare = new Uint32Array(1024);
const counts = new Uint32Array(256 + 1);

/**
 * `seconds[i]` = `ns[i]` / 1e9, in ascending order. `ns` are non-negative (no NaN); when one is not
 * a whole number below 2^32 the float sort is used.
 */
export function sortedSeconds(ns: Float64Array): Float64Array {
  const n = ns.length;
  const out = new Float64Array(n);
  let max = 0;
  let whole = n >= RADIX_MIN;
  for (let i = 0; i < n && whole; i++) {
    const v = ns[i]!;
    if (!(v >= 0 && v <= 0xffffffff && Math.floor(v) === v)) whole = false;
    else if (v > max) max = v;
  }
  if (!whole) {
    for (let i = 0; i < n; i++) out[i] = ns[i]! / 1e9;
    return out.sort();
  }
  if (scratch.length < n) {
    scratch = new Uint32Array(n);
    spare = new Uint32Array(n);
  }
  let from = scratch;
  let to = spare;
  for (let i = 0; i < n; i++) from[i] = ns[i]!;
  // Least significant byte first, each pass stable: a pass per byte up to the largest value's.
  for (let shift = 0; shift < 32 && max >>> shift !== 0; shift += 8) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((from[i]! >>> shift) & 0xff) + 1]!++;
    for (let d = 0; d < 256; d++) counts[d + 1]! += counts[d]!;
    for (let i = 0; i < n; i++) {
      const v = from[i]!;
      to[counts[(v >>> shift) & 0xff]!++] = v;
    }
    const t = from;
    from = to;
    to = t;
  }
  for (let i = 0; i < n; i++) out[i] = from[i]! / 1e9;
  return out;
}
