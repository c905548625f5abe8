// The in-flight table of one iteration: what was sent, when, and what came back. Every probe of an
// iteration gets a 32-bit matching key `base + index` (TCP sequence number, ICMP id<<16|seq, or the
// UDP payload tag), drawn from one global counter, so a reply's key leads straight to its probe by
// subtraction: O(1), no hashing, no allocation per packet. Keys of consecutive iterations never
// overlap (the next base follows the last key), which is how a reply to the previous iteration is
// recognised as late rather than matched to the wrong probe.
//
// A probe that draws an ICMP error from something other than its destination (a router's "host
// unreachable", "time exceeded", ...) stays pending: the destination may still answer (another path,
// a retransmitted error); if it does not within the timeout the probe ends Unreachable instead of
// TimedOut, with the error's type/code kept for the per-type/code counter.
//
// Per probe: state, the kernel TX timestamp (ns since an epoch the engine picks, as float64: exact for
// 104 days, and no BigInt per packet; NaN when the kernel gave none) and the RTT, kept as 32-bit whole
// ns (up to 4.29 s; a negative or longer one keeps its RX time in a small map instead), and the send
// time as a 32-bit float offset rounded up. 22 bytes per probe instead of 30 with float64 RX and send
// times (docs/performance.md, memory). Deadlines are kept per distinct timeout value in FIFO order of
// sending, so expiring probes is amortised O(1) too.

export const ProbeState = {
  Unsent: 0,
  Pending: 1,
  Answered: 2,
  TimedOut: 3,
  SendFailed: 4,
  /** Timed out after an ICMP error from something other than the destination. */
  Unreachable: 5,
} as const;

export type ReplyVerdict = "matched" | "late" | "duplicate" | "unknown";

/** What an ICMP error from elsewhere did to its probe: noted on a pending one, or came after it settled. */
export type ErrorVerdict = "noted" | "settled" | "unknown";

/** Distinguishes one iteration's keys from another's; advanced by `count` each iteration. */
export class KeyCounter {
  private next: number;
  constructor(start = 0) {
    this.next = start >>> 0;
  }
  /** The first key the next reserve() will hand out. */
  peek(): number {
    return this.next;
  }
  /** Reserves `count` consecutive keys (mod 2^32) and returns the first. */
  reserve(count: number): number {
    if (count > 2 ** 31) throw new RangeError("more than 2^31 probes in one iteration");
    const base = this.next;
    this.next = (this.next + count) >>> 0;
    return base;
  }
}

/**
 * The probes of one timeout value in send order, as runs of consecutive indexes [start, end): probes
 * are sent in index order, so one timeout shared by the whole plan is a single run, not a 4-byte
 * entry per probe. `cursor` is the next index to look at in the head run.
 */
class Fifo {
  starts = new Uint32Array(16);
  ends = new Uint32Array(16);
  head = 0;
  tail = 0;
  cursor = 0;

  push(index: number): void {
    if (this.head === this.tail) this.head = this.tail = 0;
    if (this.tail > this.head && this.ends[this.tail - 1] === index) {
      this.ends[this.tail - 1]!++;
      return;
    }
    if (this.tail === this.starts.length) {
      const grow = (a: Uint32Array) => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.starts = grow(this.starts);
      this.ends = grow(this.ends);
    }
    if (this.tail === this.head) this.cursor = index;
    this.starts[this.tail] = index;
    this.ends[this.tail++] = index + 1;
  }

  /** The oldest index still queued, or -1. */
  peek(): number {
    while (this.head < this.tail) {
      if (this.cursor < this.ends[this.head]!) return this.cursor;
      this.head++;
      if (this.head < this.tail) this.cursor = this.starts[this.head]!;
    }
    return -1;
  }

  /** Drops the index peek() returned. */
  shift(): void {
    this.cursor++;
  }
}

/** RTT cells (InFlight.rtt): 0 no RX time; 1..RTT_WIDE-1 the RTT + 1 in ns; then two marks. */
const RTT_NONE = 0;
/** The RX time is in InFlight.wide (the RTT is negative, fractional or from 2^32 - 2 ns up). */
const RTT_WIDE = 0xfffffffe;
/** Answered before its TX timestamp came: txNs holds the RX time until setTx. */
const RTT_HELD = 0xffffffff;
/** Rounds a send time's offset up to a float32, so a deadline is never early (expire()). */
const UP = 1 + 2 ** -23;

export class InFlight {
  readonly state: Uint8Array;
  /** Kernel TX timestamps in ns since the engine's epoch, NaN when not known (or the RX time: RTT_HELD). */
  private readonly txNs: Float64Array;
  /** Per probe the RTT or a mark (RTT_NONE, RTT_WIDE, RTT_HELD). */
  private readonly rtt: Uint32Array;
  /** RX times (ns since the epoch) of the answers whose RTT does not fit `rtt`. */
  private readonly wide = new Map<number, number>();
  /** The first ICMP error from elsewhere for a pending probe: (type << 8 | code) + 1; 0 when none. */
  readonly icmpError: Uint32Array;
  /** TTL / hop limit of the answer (IPv4 header); 0 when unknown. */
  readonly replyTtl: Uint8Array;
  /** Send time in ms after `t0` (the first send, monotonic clock), rounded up: for deadlines. */
  private readonly sentOff: Float32Array;
  private t0 = Number.NaN;
  private readonly queues = new Map<number, Fifo>();
  private readonly timeoutOf: (index: number) => number;
  pending = 0;
  answered = 0;
  timedOut = 0;
  unreachable = 0;
  sendFailed = 0;
  late = 0;
  duplicates = 0;
  /** Answered probes whose TX timestamp has not arrived (yet: the iteration waits for it, engine.ts). */
  awaitingTx = 0;

  constructor(
    readonly base: number,
    readonly count: number,
    timeoutMs: (index: number) => number,
  ) {
    this.state = new Uint8Array(count);
    this.txNs = new Float64Array(count).fill(Number.NaN);
    this.rtt = new Uint32Array(count);
    this.icmpError = new Uint32Array(count);
    this.replyTtl = new Uint8Array(count);
    this.sentOff = new Float32Array(count);
    this.timeoutOf = timeoutMs;
  }

  keyOf(index: number): number {
    return (this.base + index) >>> 0;
  }

  /** The probe index a key belongs to in this iteration, or -1. */
  indexOf(key: number): number {
    const i = (key - this.base) >>> 0;
    return i < this.count ? i : -1;
  }

  markSent(index: number, nowMs: number): void {
    this.state[index] = ProbeState.Pending;
    if (Number.isNaN(this.t0)) this.t0 = nowMs;
    const d = nowMs > this.t0 ? nowMs - this.t0 : 0;
    this.sentOff[index] = d;
    if (this.sentOff[index]! < d) this.sentOff[index] = d * UP;
    this.pending++;
    const t = this.timeoutOf(index);
    let q = this.queues.get(t);
    if (!q) {
      q = new Fifo();
      this.queues.set(t, q);
    }
    q.push(index);
  }

  /**
   * When probe `index` was released to its send thread (the engine's clock, ms; NaN before): rounded up
   * to its float32 offset from the first send, by at most 2^-22 of the time since.
   */
  sentAt(index: number): number {
    return this.state[index] === ProbeState.Unsent ? Number.NaN : this.t0 + this.sentOff[index]!;
  }

  /** A probe marked sent that the kernel refused after all (the send thread's result came later). */
  unsend(index: number): void {
    if (this.state[index] !== ProbeState.Pending) return;
    this.pending--;
    this.markSendFailed(index);
  }

  /**
   * The kernel's clocks judge a reply to probe `index` (RX timestamp as in replyAt) where both kernel
   * timestamps are known, before replyAt: a reply whose RTT exceeds the probe's timeout is late even if
   * the JS clock had not expired the probe yet (the probe ends lost, or unreachable; returns true,
   * counted), and one within it answers a probe the JS clock already expired, while its iteration is
   * `open` (not yet reported): the probe is pending again for replyAt (returns false). Without the TX
   * timestamp (not read yet) the JS clock's verdict stands (false, nothing changed).
   */
  lateByKernel(index: number, sec: number, nsec: number, open: boolean): boolean {
    const st = this.state[index];
    const expired = st === ProbeState.TimedOut || st === ProbeState.Unreachable;
    if (nsec < 0 || !(st === ProbeState.Pending || (open && expired))) return false;
    const tx = this.txNs[index]!; // a pending or expired probe's TX time (NaN: not read yet)
    if (Number.isNaN(tx)) return false;
    const inTime = sec * 1e9 + nsec - tx <= this.timeoutOf(index) * 1e6;
    if (st === ProbeState.Pending && !inTime) {
      this.pending--;
      if (this.icmpError[index] === 0) this.timedOut++;
      else this.unreachable++;
      this.state[index] = this.icmpError[index] === 0 ? ProbeState.TimedOut : ProbeState.Unreachable;
      this.late++;
      return true;
    }
    if (expired && inTime) {
      if (st === ProbeState.TimedOut) this.timedOut--;
      else this.unreachable--;
      this.state[index] = ProbeState.Pending;
      this.pending++;
    }
    return false;
  }

  markSendFailed(index: number): void {
    this.state[index] = ProbeState.SendFailed;
    this.sendFailed++;
  }

  /** The kernel's TX timestamp arrived (from the error queue) for a sent probe. */
  setTx(index: number, ns: number): void {
    const m = this.rtt[index]!;
    if (m === RTT_HELD) {
      const rx = this.txNs[index]!;
      this.awaitingTx--;
      this.txNs[index] = ns;
      this.keepRtt(index, rx);
      return;
    }
    if (m === RTT_NONE) {
      if (this.state[index] === ProbeState.Answered && Number.isNaN(this.txNs[index]!)) this.awaitingTx--;
      this.txNs[index] = ns;
      return;
    }
    // Answered and timed already (a second timestamp for the same probe): the RTT follows the new one.
    const rx = this.rxAt(index);
    this.wide.delete(index);
    this.txNs[index] = ns;
    this.keepRtt(index, rx);
  }

  /** Stores the RTT of an answered probe whose TX time is known, from its RX time. */
  private keepRtt(index: number, rx: number): void {
    const r = rx - this.txNs[index]! + 1;
    this.rtt[index] = r;
    if (this.rtt[index] !== r || r < 1 || r >= RTT_WIDE) {
      this.rtt[index] = RTT_WIDE;
      this.wide.set(index, rx);
    }
  }

  /** A reply for probe `index` arrived with kernel RX timestamp `rxNs` (NaN when unknown). */
  reply(index: number, rxNs: number): ReplyVerdict {
    const v = this.settle(index);
    if (v === "matched") {
      if (Number.isNaN(rxNs)) {
        if (Number.isNaN(this.txNs[index]!)) this.awaitingTx++;
      } else if (Number.isNaN(this.txNs[index]!)) {
        this.txNs[index] = rxNs;
        this.rtt[index] = RTT_HELD;
        this.awaitingTx++;
      } else this.keepRtt(index, rxNs);
    }
    return v;
  }

  /** The state change of a reply; "matched" leaves its times to the caller. */
  private settle(index: number): ReplyVerdict {
    switch (this.state[index]) {
      case ProbeState.Pending:
        this.state[index] = ProbeState.Answered;
        this.pending--;
        this.answered++;
        return "matched";
      case ProbeState.Answered:
        this.duplicates++;
        return "duplicate";
      case ProbeState.TimedOut:
      case ProbeState.Unreachable:
        this.late++;
        return "late";
      default:
        return "unknown";
    }
  }

  /**
   * As reply, with the RX timestamp as whole seconds (since the engine's epoch) and nanoseconds, or
   * nsec < 0 for none: small integers, where a double handed to a call is boxed (one heap number per
   * reply on the receive path, bench/alloc.ts). The common case (TX time known, RTT under 4.29 s)
   * stores in place; keepRtt takes the others.
   */
  replyAt(index: number, sec: number, nsec: number): ReplyVerdict {
    const v = this.settle(index);
    if (v !== "matched") return v;
    const tx = this.txNs[index]!;
    if (nsec < 0) {
      if (Number.isNaN(tx)) this.awaitingTx++;
      return v;
    }
    // One multiplication for both paths: the warm-up (TX timestamp first) trains it on a day's
    // seconds; a second one on the rare path (RX first) deoptimized on its first use (reason overflow).
    const rx = sec * 1e9 + nsec;
    if (Number.isNaN(tx)) {
      this.txNs[index] = rx;
      this.rtt[index] = RTT_HELD;
      this.awaitingTx++;
    } else {
      const r = rx - tx + 1;
      this.rtt[index] = r;
      if (this.rtt[index] !== r || r < 1 || r >= RTT_WIDE) this.keepRtt(index, rx);
    }
    return v;
  }

  /** The kernel TX timestamp of probe `index` (ns since the engine's epoch), NaN when not known. */
  txAt(index: number): number {
    return this.rtt[index] === RTT_HELD ? Number.NaN : this.txNs[index]!;
  }

  /** The kernel RX timestamp of probe `index`'s answer (ns since the engine's epoch), NaN when not known. */
  rxAt(index: number): number {
    const m = this.rtt[index]!;
    if (m === RTT_NONE) return Number.NaN;
    if (m === RTT_HELD) return this.txNs[index]!;
    if (m === RTT_WIDE) return this.wide.get(index)!;
    return this.txNs[index]! + (m - 1);
  }

  /**
   * An ICMP error from something other than probe `index`'s destination: not an answer. A pending
   * probe keeps waiting for its destination and, unanswered, ends Unreachable with this error's
   * type/code (the first one seen); an error for a settled probe changes nothing.
   */
  noteError(index: number, type: number, code: number): ErrorVerdict {
    const st = this.state[index];
    if (st === ProbeState.Pending) {
      if (this.icmpError[index] === 0) this.icmpError[index] = (((type & 0xff) << 8) | (code & 0xff)) + 1;
      return "noted";
    }
    return st === ProbeState.Unsent || st === ProbeState.SendFailed ? "unknown" : "settled";
  }

  /** Type and code of the error that made probe `index` unreachable, as (type << 8 | code), or -1. */
  errorOf(index: number): number {
    return this.icmpError[index]! - 1;
  }

  /** Marks every pending probe whose timeout has passed; returns how many expired. */
  expire(nowMs: number): number {
    let n = 0;
    for (const [timeout, q] of this.queues) {
      for (let i = q.peek(); i >= 0; i = q.peek()) {
        if (this.state[i] !== ProbeState.Pending) {
          q.shift();
          continue;
        }
        if (this.t0 + this.sentOff[i]! + timeout > nowMs) break;
        this.pending--;
        if (this.icmpError[i] === 0) {
          this.state[i] = ProbeState.TimedOut;
          this.timedOut++;
        } else {
          this.state[i] = ProbeState.Unreachable;
          this.unreachable++;
        }
        q.shift();
        n++;
      }
    }
    return n;
  }

  /** Time (monotonic ms) of the next deadline among pending probes, or undefined. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const [timeout, q] of this.queues) {
      let i = q.peek();
      while (i >= 0 && this.state[i] !== ProbeState.Pending) {
        q.shift();
        i = q.peek();
      }
      if (i >= 0) {
        const d = this.t0 + this.sentOff[i]! + timeout;
        if (next === undefined || d < next) next = d;
      }
    }
    return next;
  }

  /** Round-trip time of an answered probe in ns (may be negative), or NaN without both timestamps. */
  rttNs(index: number): number {
    if (this.state[index] !== ProbeState.Answered) return Number.NaN;
    const m = this.rtt[index]!;
    if (m === RTT_NONE || m === RTT_HELD) return Number.NaN;
    if (m === RTT_WIDE) return this.wide.get(index)! - this.txNs[index]!;
    return m - 1;
  }
}
