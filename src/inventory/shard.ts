// Splitting one shared target list across several netprobify instances (`shard: {index, count}`):
// each instance keeps the targets whose highest rendezvous score falls on its own index. Every target
// lands on exactly one instance, the split is balanced, deterministic (no coordination: each instance
// computes it alone), and growing from n to n+1 instances moves only about 1/(n+1) of the targets —
// the ones the new instance wins — so most series keep their history.
import { createHash } from "node:crypto";

export interface Shard {
  /** This instance, 0-based. */
  index: number;
  /** Instances sharing the list. */
  count: number;
}

/** Rendezvous (highest random weight) score of `key` on instance `i`. */
function score(key: string, i: number): bigint {
  return createHash("sha256").update(`${i}\u0000${key}`).digest().readBigUInt64BE(0);
}

/** The instance (0..count-1) that owns `key`. */
export function ownerOf(key: string, count: number): number {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`shard count must be a positive integer, got ${count}`);
  let best = 0;
  let bestScore = -1n;
  for (let i = 0; i < count; i++) {
    const s = score(key, i);
    if (s > bestScore) {
      bestScore = s;
      best = i;
    }
  }
  return best;
}

/** The keys (target names) this instance keeps. */
export function shardFilter<T>(items: readonly T[], keyOf: (t: T) => string, shard: Shard | undefined): T[] {
  if (!shard || shard.count === 1) return [...items];
  if (!Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count) {
    throw new RangeError(`shard index must be 0..${shard.count - 1}, got ${shard.index}`);
  }
  return items.filter((t) => ownerOf(keyOf(t), shard.count) === shard.index);
}
