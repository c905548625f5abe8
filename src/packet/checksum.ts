// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), shared by every codec.
// Sums are kept as small integers (two 16-bit words per step, folded before leaving 31 bits), so that
// no double is ever boxed on a call the JIT did not inline. Nothing here allocates.
//
// Vocabulary: a "sum" is the folded 16-bit one's-complement sum (0..0xffff) that can seed another
// computation; a "checksum" is its complement, as written on the wire.

/** Adds a one's-complement sum to a double accumulator and folds it back to 16 bits. */
export function fold(acc: number): number {
  let s = acc;
  while (s > 0xffff) s = Math.floor(s / 65536) + (s & 0xffff);
  return s;
}

/**
 * One's-complement sum of buf[off, off+len) as 16-bit big-endian words (an odd last byte is padded
 * with a zero byte), plus `initial` (a previous sum, e.g. a pseudo-header's). Returns 0..0xffff.
 */
export function onesSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  // Small integers throughout (no double): a double sum was boxed into a heap number on each call the
  // JIT did not inline, one allocation per packet on the send path (bench/alloc.ts). Two 16-bit words
  // per step, folded before the sum could leave the 31-bit range.
  let acc = fold(initial);
  let i = off;
  const end = off + len;
  const end4 = end - 3;
  while (i < end4) {
    acc += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
    if (acc > 0x3fff0000) acc = (acc & 0xffff) + (acc >>> 16);
    i += 4;
  }
  if (i + 1 < end) {
    acc += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (i < end) acc += buf[i]! << 8;
  acc = (acc & 0xffff) + (acc >>> 16);
  return (acc & 0xffff) + (acc >>> 16);
}

/** The Internet checksum of buf[off, off+len) seeded with `initial`: ~sum & 0xffff. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesSum(buf, off, len, initial) & 0xffff;
}

/**
 * Sum of the IPv4 pseudo-header (RFC 793 / 768): source, destination, zero, protocol, length.
 * `src` and `dst` are 4-byte addresses read at the given offsets.
 */
export function pseudoSum4(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  protocol: number,
  length: number,
): number {
  const acc =
    ((src[srcOff]! << 8) | src[srcOff + 1]!) +
    ((src[srcOff + 2]! << 8) | src[srcOff + 3]!) +
    ((dst[dstOff]! << 8) | dst[dstOff + 1]!) +
    ((dst[dstOff + 2]! << 8) | dst[dstOff + 3]!) +
    protocol +
    (length & 0xffff);
  return fold(acc);
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit upper-layer length,
 * three zero bytes, next header. `src` and `dst` are 16-byte addresses read at the given offsets.
 */
export function pseudoSum6(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  nextHeader: number,
  length: number,
): number {
  let acc = Math.floor(length / 65536) + (length & 0xffff) + nextHeader;
  for (let i = 0; i < 16; i += 2) {
    acc +=
      ((src[srcOff + i]! << 8) | src[srcOff + i + 1]!) + ((dst[dstOff + i]! << 8) | dst[dstOff + i + 1]!);
  }
  return fold(acc);
}

/**
 * RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data changed from `oldWord`
 * to `newWord`: HC' = ~(~HC + ~m + m').
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  return ~fold((~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** As updateChecksum16, for an aligned 32-bit field (two words). */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  const acc =
    (~checksum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  return ~fold(acc) & 0xffff;
}

/**
 * Rewrites the 16-bit big-endian field at `fieldOff` to `value` and updates the checksum at `sumOff`
 * in place (RFC 1624). The field must be 2-byte aligned relative to the start of the checksummed data.
 * `udp` maps a computed 0 to 0xffff, since 0 means "no checksum" in UDP.
 */
export function patch16(buf: Uint8Array, fieldOff: number, value: number, sumOff: number, udp = false): void {
  const old = (buf[fieldOff]! << 8) | buf[fieldOff + 1]!;
  const v = value & 0xffff;
  buf[fieldOff] = v >>> 8;
  buf[fieldOff + 1] = v & 0xff;
  let c = updateChecksum16((buf[sumOff]! << 8) | buf[sumOff + 1]!, old, v);
  if (udp && c === 0) c = 0xffff;
  buf[sumOff] = c >>> 8;
  buf[sumOff + 1] = c & 0xff;
}

/**
 * Rewrites the 16-bit word at `wordOff` (2-byte aligned in the checksummed data, not the checksum
 * itself) so that the checksum at `sumOff` becomes `target`: Paris traceroute's way to keep an ICMP
 * echo's checksum, which routers hashing "the first 4 bytes after the IP header" read as if it were
 * ports, constant while its sequence number changes. The word absorbs the difference (RFC 1624).
 */
export function pinChecksum(buf: Uint8Array, wordOff: number, sumOff: number, target: number): void {
  const c = (buf[sumOff]! << 8) | buf[sumOff + 1]!;
  const old = (buf[wordOff]! << 8) | buf[wordOff + 1]!;
  patch16(buf, wordOff, fold(old + (~target & 0xffff) + c), sumOff);
}

/** As patch16 for an aligned 32-bit big-endian field (e.g. a TCP sequence number). */
export function patch32(buf: Uint8Array, fieldOff: number, value: number, sumOff: number, udp = false): void {
  const old =
    ((buf[fieldOff]! << 24) | (buf[fieldOff + 1]! << 16) | (buf[fieldOff + 2]! << 8) | buf[fieldOff + 3]!) >>>
    0;
  const v = value >>> 0;
  buf[fieldOff] = v >>> 24;
  buf[fieldOff + 1] = (v >>> 16) & 0xff;
  buf[fieldOff + 2] = (v >>> 8) & 0xff;
  buf[fieldOff + 3] = v & 0xff;
  let c = updateChecksum32((buf[sumOff]! << 8) | buf[sumOff + 1]!, old, v);
  if (udp && c === 0) c = 0xffff;
  buf[sumOff] = c >>> 8;
  buf[sumOff + 1] = c & 0xff;
}

/**
 * Computes the checksum of the segment buf[off, off+len) seeded with `initial` (a pseudo-header sum,
 * or 0) and stores it at buf[sumOff] (which must lie inside the segment; it is zeroed first).
 * `udp` writes 0xffff for a computed 0 (RFC 768). Returns the checksum written.
 */
export function writeChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  initial: number,
  sumOff: number,
  udp = false,
): number {
  buf[sumOff] = 0;
  buf[sumOff + 1] = 0;
  let c = internetChecksum(buf, off, len, initial);
  if (udp && c === 0) c = 0xffff;
  buf[sumOff] = c >>> 8;
  buf[sumOff + 1] = c & 0xff;
  return c;
}
