// Sorting an iteration's RTT samples. Every series' samples are sorted once per iteration (the
// metrics read percentiles, min and max from them): 10,000 samples per series are common, and
// Float64Array.prototype.sort took ~65 ns per sample there (~0.15 µs per probe in the daemon's
// profile). RTTs are whole nanoseconds (differences of the kernel's timestamps), so they are sorted
// as integers by a radix sort (a pass per byte of the largest, ~25 ns per sample) and divided into
// seconds after: x -> x / 1e9 keeps the order, so the result is the same array the float sort gave.

/** Below this many samples the built-in sort is as fast (the radix sort's counts cost a pass of 256). */
const RADIX_MIN = 256;

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
  // The radix sort's two arrays are the halves of the result's own bytes (8 per sample: two 32-bit
  // words), so it needs no memory of its own (at a million probes the two were 8 MB, kept between
  // iterations). Turning the sorted words into seconds then writes over them in place: from the low
  // half backwards (the double at i covers words 2i and 2i+1, never below i: read already), from the
  // high half forwards (word n+i is read before the doubles at i' <= i reach it: 2i'+1 < n+i+1).
  const words = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  let from = words.subarray(0, n);
  let to = words.subarray(n, 2 * n);
  for (let i = 0; i < n; i++) from[i] = ns[i]!;
  // Least significant byte first, each pass stable: a pass per byte up to the largest value's.
  let low = true;
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
    low = !low;
  }
  if (low) for (let i = n - 1; i >= 0; i--) out[i] = from[i]! / 1e9;
  else for (let i = 0; i < n; i++) out[i] = from[i]! / 1e9;
  return out;
}
