// Who sends the ICMP errors that make probes unreachable (a router's "host unreachable", "time
// exceeded"): the operator needs the router's address, but a dead rack answers every probe of every
// iteration, so the log gets one summary line per period, never a line per packet or per iteration.
import type { Logger } from "./logger.js";

/** Senders listed in one line (the most frequent); the rest are summed. */
const TOP = 5;

export class UnreachableLog {
  private readonly counts = new Map<string, number>();
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly periodMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Adds one iteration's ICMP errors by sender; logs a summary when the period has passed. */
  add(from: ReadonlyMap<string, number>, log: Logger): void {
    for (const [a, n] of from) this.counts.set(a, (this.counts.get(a) ?? 0) + n);
    const now = this.now();
    if (this.counts.size === 0 || now - this.lastMs < this.periodMs) return;
    this.lastMs = now;
    const all = [...this.counts].sort((a, b) => b[1] - a[1]);
    const errors = all.reduce((n, [, c]) => n + c, 0);
    log.warn(
      { senders: Object.fromEntries(all.slice(0, TOP)), otherSenders: Math.max(0, all.length - TOP), errors },
      "probes unreachable: ICMP errors from hosts other than the destination (counted as loss, see netprobify_unreachable_probes_total)",
    );
    this.counts.clear();
  }
}
