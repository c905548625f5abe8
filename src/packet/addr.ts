// Addresses as the codecs see them: raw network-order bytes, 4 for IPv4 and 16 for IPv6. Builders
// copy them into packets; parsers do not copy them out but return their offsets inside the received
// buffer (plus, for IPv4, the address as a uint32, which costs nothing), so parsing a reply allocates
// no address. Text conversion is for configuration and logs, not for the per-packet path.
import ipaddr from "ipaddr.js";

export type IpFamily = 4 | 6;

/** Parses an IPv4 or IPv6 literal into 4 or 16 bytes; undefined when it is not one. */
export function parseAddress(text: string): Uint8Array | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return Uint8Array.from(ipaddr.IPv4.parse(text).toByteArray());
  if (text.includes(":") && !text.includes("%") && ipaddr.IPv6.isValid(text)) {
    return Uint8Array.from(ipaddr.IPv6.parse(text).toByteArray());
  }
  return undefined;
}

/** As parseAddress, but throws a RangeError (for literals that configuration already validated). */
export function addressBytes(text: string): Uint8Array {
  const a = parseAddress(text);
  if (a === undefined) throw new RangeError(`not an IP address: ${JSON.stringify(text)}`);
  return a;
}

/** The family of a 4- or 16-byte address. */
export function familyOf(addr: Uint8Array): IpFamily {
  if (addr.length === 4) return 4;
  if (addr.length === 16) return 6;
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${addr.length}`);
}

/**
 * Text form of the address of `family` stored at buf[off...]: dotted quad, or RFC 5952 IPv6
 * (lower case, longest run of zero words compressed). Returns "" if the buffer is too short.
 */
export function formatAddress(
  buf: Uint8Array,
  off = 0,
  family: IpFamily = buf.length === 16 ? 6 : 4,
): string {
  const n = family === 4 ? 4 : 16;
  if (off < 0 || off + n > buf.length) return "";
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((buf[off + i]! << 8) | buf[off + i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** The IPv4 address at buf[off..off+4) as an unsigned 32-bit number. */
export function ipv4ToNumber(buf: Uint8Array, off = 0): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** 4 bytes of an IPv4 address given as an unsigned 32-bit number. */
export function numberToIPv4(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** True when buf holds exactly `addr` at `off` (no allocation: for matching replies). */
export function addressEquals(buf: Uint8Array, off: number, addr: Uint8Array): boolean {
  const n = addr.length;
  if (off < 0 || off + n > buf.length) return false;
  for (let i = 0; i < n; i++) if (buf[off + i] !== addr[i]) return false;
  return true;
}

/** Copies the address of `family` at buf[off...] into a new array (for keeping it past the buffer's reuse). */
export function copyAddress(buf: Uint8Array, off: number, family: IpFamily): Uint8Array {
  return Uint8Array.prototype.slice.call(buf, off, off + (family === 4 ? 4 : 16));
}
