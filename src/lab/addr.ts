// Address plan of the lab. Everything lives in 198.18.0.0/15 (RFC 2544 benchmarking) and fd18::/16,
// never in a range the machine itself uses. Each live lab owns one "slot" (0..7) and inside it:
//
//   IPv4 slot s: 198.18.0.0 + s * 64 /24s, i.e. a /18     IPv6 slot s: fd18:s::/48
//   /24 block 0: point-to-point links, link i = .4i/30    links: fd18:s:0:i::/64 (::1 test side, ::2 peer)
//     (.4i+1 test side, .4i+2 peer)
//   /24 blocks 1..63: address ranges (targets'            ranges: fd18:s:1:b::/(128 - host bits), the
//     loopback ranges, router unreachable ranges)           same host bits as the IPv4 range of block b

import { LabError } from "./exec.js";

export const SLOTS = 8;
const BLOCKS_PER_SLOT = 64;
const LINKS_PER_SLOT = 64;
const V4_BASE = (198 << 24) | (18 << 16);

export function v4ToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

export interface LinkAddrs {
  index: number;
  /** Test-namespace side (or router side for links behind the router). */
  nearV4: string;
  nearV6: string;
  /** Far side: the target's (or router's) address on this link. */
  farV4: string;
  farV6: string;
  v4Cidr: string;
  v6Cidr: string;
  /** Fixed, locally administered MACs (02:18:slot:link:00:01 near, :02 far) for static neighbours. */
  nearMac: string;
  farMac: string;
}

/** A block of addresses: routed to a target's loopback, or to an unreachable route on the router. */
export interface AddrRange {
  size: number;
  v4Cidr: string;
  v6Cidr: string;
  /** i-th IPv4 address of the range, 0 <= i < size. */
  v4(i: number): string;
  /** i-th IPv6 address of the range, 0 <= i < size. */
  v6(i: number): string;
  /** The first n addresses (default all) of each family. */
  all4(n?: number): string[];
  all6(n?: number): string[];
}

/** Hands out links and ranges inside one slot. */
export class AddressPlan {
  private nextLink = 1;
  private nextBlock = 1;

  constructor(readonly slot: number) {
    if (!(slot >= 0 && slot < SLOTS)) throw new LabError("LAB_BAD_ARGUMENT", `slot ${slot} out of range`);
  }

  private get v4Slot(): number {
    return V4_BASE + this.slot * BLOCKS_PER_SLOT * 256;
  }

  private get v6Slot(): string {
    return `fd18:${this.slot.toString(16)}`;
  }

  link(): LinkAddrs {
    const i = this.nextLink++;
    if (i >= LINKS_PER_SLOT)
      throw new LabError("LAB_EXHAUSTED", `more than ${LINKS_PER_SLOT - 1} links in one lab`);
    const net = this.v4Slot + 4 * i;
    const v6 = `${this.v6Slot}:0:${i.toString(16)}`;
    return {
      index: i,
      nearV4: v4ToString(net + 1),
      farV4: v4ToString(net + 2),
      nearV6: `${v6}::1`,
      farV6: `${v6}::2`,
      v4Cidr: `${v4ToString(net)}/30`,
      v6Cidr: `${v6}::/64`,
      nearMac: `02:18:${hex2(this.slot)}:${hex2(i)}:00:01`,
      farMac: `02:18:${hex2(this.slot)}:${hex2(i)}:00:02`,
    };
  }

  /** A range of at least `count` addresses (rounded up to a power of two, at most 63 * 256). */
  range(count: number): AddrRange {
    if (!(Number.isInteger(count) && count >= 1)) {
      throw new LabError("LAB_BAD_ARGUMENT", `range size must be a positive integer, got ${count}`);
    }
    const hostBits = Math.max(0, Math.ceil(Math.log2(count)));
    const size = 2 ** hostBits;
    const blocks = Math.max(1, size / 256);
    // Align the first block to the range size so the CIDR is valid.
    let first = this.nextBlock;
    if (first % blocks !== 0) first += blocks - (first % blocks);
    if (first + blocks > BLOCKS_PER_SLOT) {
      throw new LabError("LAB_EXHAUSTED", `no room for a range of ${count} addresses in this lab`);
    }
    // A small range still takes a whole /24 block: blocks never share a route.
    this.nextBlock = first + blocks;
    const v4Net = this.v4Slot + first * 256;
    const v6Net = `${this.v6Slot}:1:${first.toString(16)}`;
    const check = (i: number) => {
      if (!(Number.isInteger(i) && i >= 0 && i < size)) {
        throw new LabError("LAB_BAD_ARGUMENT", `address index ${i} outside a range of ${size}`);
      }
    };
    const v4 = (i: number) => {
      check(i);
      return v4ToString(v4Net + i);
    };
    const v6 = (i: number) => {
      check(i);
      const hi = Math.floor(i / 65536);
      return hi > 0
        ? `${v6Net}::${hi.toString(16)}:${(i % 65536).toString(16)}`
        : `${v6Net}::${i.toString(16)}`;
    };
    return {
      size,
      v4Cidr: `${v4ToString(v4Net)}/${32 - hostBits}`,
      v6Cidr: `${v6Net}::/${128 - hostBits}`,
      v4,
      v6,
      all4: (n = size) => Array.from({ length: n }, (_, i) => v4(i)),
      all6: (n = size) => Array.from({ length: n }, (_, i) => v6(i)),
    };
  }
}
