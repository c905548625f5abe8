// Padding for probes asked to be bigger than their headers. The bytes are a xorshift32 stream
// seeded per packet (normally with its matching key), so consecutive probes never carry identical
// data and compressing or deduplicating middleboxes cannot make a large probe cheaper than it looks;
// the stream is deterministic, so tests and captures can reproduce it. No allocation; 4 bytes per step.

/** Seed used when the caller's seed is 0 (xorshift has 0 as a fixed point). */
const ZERO_SEED = 0x9e3779b9;

/** Fills buf[off, off+len) with the pattern of `seed`. */
export function fillPattern(buf: Uint8Array, off: number, len: number, seed: number): void {
  let x = seed >>> 0 || ZERO_SEED;
  let i = off;
  const end = off + len;
  const end4 = end - 3;
  while (i < end4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x >>> 24;
    buf[i + 1] = (x >>> 16) & 0xff;
    buf[i + 2] = (x >>> 8) & 0xff;
    buf[i + 3] = x & 0xff;
    i += 4;
  }
  if (i < end) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    for (let shift = 24; i < end; i++, shift -= 8) buf[i] = (x >>> shift) & 0xff;
  }
}

/** True when buf[off, off+len) holds exactly the pattern of `seed` (tests, diagnostics). */
export function isPattern(buf: Uint8Array, off: number, len: number, seed: number): boolean {
  const probe = new Uint8Array(len);
  fillPattern(probe, 0, len, seed);
  for (let i = 0; i < len; i++) if (buf[off + i] !== probe[i]) return false;
  return true;
}
