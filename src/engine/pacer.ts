// Pacing of one iteration's sends. Two limits, both from the configuration:
//   - per target: packet k+1 of a target leaves about `interval_packets` after packet k. The plan
//     orders packets round by round (packet k of every target forms round k), so starting round k+1
//     no earlier than interval_packets after round k really started (and after k+1 intervals from the
//     iteration start) spaces every target at once, and spreads each target's packets so that its
//     ICMP rate limiter is not hit by a burst of our own making (a target late in a long round gets a
//     shorter gap to its next packet only when the global cap stretches rounds unevenly). "Really
//     started" is when the send thread reported the round's first packet sent (sent()), not when it
//     was released: on a loaded machine the thread may run many milliseconds after the release, and
//     a round that leaves late would otherwise leave a short gap before the next (26 ms for 40 in a
//     loaded test run);
//     A round larger than one batch is released batch after batch; when the JS thread stalls between
//     two of them, the round's later packets leave late, and an interval after the round's start
//     would give their targets a shorter gap to their next packet. With the plan's lanes, each packet
//     therefore also waits an interval after its own predecessor (the same lane's address in the
//     previous round) was released: `interval_packets` holds per target, whatever the JS thread does;
//   - globally: a token bucket of `max_packets_per_second` with a small burst (one send batch), so the
//     whole probe never floods the local link or the kernel's queues.
// The pacer is pure arithmetic over a clock given by the caller; the engine asks it how many packets
// may leave now and, when none, at what time to come back.
import type { PlanLanes } from "./plan.js";

export interface PacerOptions {
  /** Packets per second for the whole probe; Infinity for no cap. */
  pps: number;
  /** Largest number of packets released at once (the send batch size). */
  burst: number;
  /** Milliseconds between the starts of two rounds (interval_packets); 0 for none. */
  roundIntervalMs: number;
  /** Index of the first packet of each round. */
  roundStart: ArrayLike<number>;
  /** Total packets. */
  count: number;
  /**
   * The plan's lanes (plan.ts): with an interval, each packet also waits an interval after the release
   * of its predecessor, the same lane's address one round earlier. Without: rounds only.
   */
  lanes?: PlanLanes;
}

export class Pacer {
  private tokens: number;
  private last = 0;
  private t0 = 0;
  private round = 0;
  /** When the current round may start, and when its first packet was released (then sent). */
  private opensAt = 0;
  private startedAt = Number.NaN;
  /** With an interval: the index of the current round's first packet until sent() reports it, or -1. */
  watching = -1;
  /** With an interval and lanes: each packet's release time, ms after start (paced iterations only). */
  private readonly releasedAt: Float64Array | undefined;

  constructor(private readonly o: PacerOptions) {
    if (!(o.pps > 0)) throw new RangeError("pps must be > 0");
    if (!(o.burst >= 1)) throw new RangeError("burst must be >= 1");
    this.tokens = o.burst;
    if (o.roundIntervalMs > 0 && o.lanes !== undefined) this.releasedAt = new Float64Array(o.count);
  }

  /** Probe i's predecessor (its lane's address one round earlier), or -1 in its lane's first round. */
  private predecessor(i: number): number {
    const L = this.o.lanes!;
    const e = L.entryOf[i]!;
    if (e === L.laneFirst[L.laneOf[e]!]) return -1;
    return L.at[e - 1]! + (i - L.at[e]!);
  }

  /** When probe i may leave by its own spacing: an interval after its predecessor's release. */
  private dueAt(i: number): number {
    const p = this.predecessor(i);
    return p < 0 ? Number.NEGATIVE_INFINITY : this.t0 + this.releasedAt![p]! + this.o.roundIntervalMs;
  }

  start(nowMs: number): void {
    this.t0 = nowMs;
    this.last = nowMs;
    this.tokens = this.o.burst;
    this.round = 0;
    this.opensAt = nowMs;
    this.startedAt = Number.NaN;
    this.watching = -1;
  }

  /** The current round's first packet (index `watching`) was sent, as the send thread reported at `nowMs`. */
  sent(nowMs: number): void {
    if (this.watching < 0) return;
    this.watching = -1;
    this.startedAt = Math.max(this.startedAt, nowMs);
  }

  /**
   * How many packets, starting at index `next`, may be sent at `nowMs` (at most `max`). When the
   * answer is 0 (and packets remain), `wakeAtMs` says when to ask again.
   */
  take(nowMs: number, next: number, max: number): { n: number; wakeAtMs?: number } {
    const o = this.o;
    if (next >= o.count) return { n: 0 };
    if (o.pps !== Infinity) {
      this.tokens = Math.min(o.burst, this.tokens + ((nowMs - this.last) * o.pps) / 1000);
    }
    this.last = nowMs;
    // Advance to the round that contains `next`; it opens interval_packets after the previous round
    // really started (not on a fixed schedule: a late timer must not shorten the next gap).
    while (this.round + 1 < o.roundStart.length && o.roundStart[this.round + 1]! <= next) {
      // The next round cannot open before an interval after this one's first packet left, and when
      // that was is not known yet: come back then at the earliest.
      if (this.watching >= 0)
        return {
          n: 0,
          wakeAtMs: Math.max(
            nowMs + 1,
            this.t0 + (this.round + 1) * o.roundIntervalMs,
            this.startedAt + o.roundIntervalMs,
          ),
        };
      this.round++;
      this.opensAt = Math.max(this.t0 + this.round * o.roundIntervalMs, this.startedAt + o.roundIntervalMs);
      this.startedAt = Number.NaN;
    }
    if (nowMs < this.opensAt) return { n: 0, wakeAtMs: this.opensAt };
    // With no interval, one batch may span rounds.
    const r = o.roundIntervalMs > 0 ? this.round : o.roundStart.length - 1;
    const openEnd = r + 1 < o.roundStart.length ? o.roundStart[r + 1]! : o.count;
    let n = Math.min(max, openEnd - next);
    if (this.releasedAt !== undefined) {
      // the prefix whose predecessors were released an interval ago
      let k = 0;
      while (k < n && this.dueAt(next + k) <= nowMs) k++;
      if (k === 0) return { n: 0, wakeAtMs: Math.max(nowMs + 1e-3, this.dueAt(next)) };
      n = k;
    }
    if (o.pps !== Infinity) {
      n = Math.min(n, Math.floor(this.tokens));
      if (n <= 0) return { n: 0, wakeAtMs: nowMs + ((1 - this.tokens) * 1000) / o.pps };
      this.tokens -= n;
    }
    if (Number.isNaN(this.startedAt)) {
      this.startedAt = nowMs;
      if (o.roundIntervalMs > 0) this.watching = next;
    }
    return { n };
  }

  /**
   * Packets [from, from + n) were handed to the send thread at `nowMs` (after take(), and after the
   * JS thread built them, which a stall can make later than the take): their successors wait an
   * interval after this.
   */
  released(from: number, n: number, nowMs: number): void {
    this.releasedAt?.fill(nowMs - this.t0, from, from + n);
  }
}
