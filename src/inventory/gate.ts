// What one dynamic-inventory module may make the daemon do, per module: published lists capped in
// entries and processed at most once per interval (a newer list replaces a waiting one, which is
// then never even parsed: a module publishing in a tight loop costs the daemon little), log and
// output lines admitted by a token bucket and cut to a length, and every drop counted and logged
// at most once a minute per reason. The host (host.ts) puts each module's messages through one.

export type InventoryLog = (
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields: Record<string, unknown>,
) => void;

/** What of a module's was dropped: see docs/inventories.md. */
export type DropReason = "too_large" | "too_many_entries" | "superseded" | "log" | "malformed";

/** Bounds on what one module can make the daemon do (docs/inventories.md, "Limits"). */
export const LIMITS = {
  memoryBytes: 256 * 2 ** 20,
  openFiles: 4096,
  processes: 64,
  /** One message (a published list, a log line) or output line. */
  messageBytes: 8 * 2 ** 20,
  /** Read from each of a module's channel, stdout and stderr. */
  bytesPerSecond: 16 * 2 ** 20,
  /** Lines read from each of a module's channel, stdout and stderr per second. */
  linesPerSecond: 10_000,
  entries: 50_000,
  /** Log and output lines per second per module (burst: 10 s worth). */
  logLinesPerSecond: 20,
  /** Characters of a logged line, and of a log call's fields as JSON. */
  logLineChars: 2000,
};

const DROP_TEXT: Record<DropReason, string> = {
  too_large: `message over ${LIMITS.messageBytes / 2 ** 20} MiB dropped`,
  too_many_entries: `published list over ${LIMITS.entries} entries dropped; the last list stays`,
  superseded: "lists published faster than they are processed: only the newest is kept",
  log: `log or output lines over ${LIMITS.logLinesPerSecond}/s (or too long) dropped`,
  malformed: "a message that is not a JSON object dropped",
};

export interface GateOptions {
  module: string;
  log: InventoryLog;
  /** A published list has passed the gate (line: its message, to tell a repeat). */
  accept(targets: unknown, line: string): void;
  onDropped(reason: DropReason, n: number): void;
  publishIntervalMs: number;
}

export class Gate {
  private lastAcceptedMs = Number.NEGATIVE_INFINITY;
  /** The publish message waiting for its turn, unparsed. */
  private pending: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tokens = LIMITS.logLinesPerSecond * 10;
  private tokensAt = performance.now();
  private readonly loggedAt = new Map<DropReason, number>();

  constructor(private readonly o: GateOptions) {}

  /**
   * A publish message (`{"type":"publish","targets":[...]}`, as its JSON line): the newest one is
   * parsed and passed on at most once per publishIntervalMs, if it holds at most LIMITS.entries.
   */
  publish(line: string): void {
    if (this.pending !== undefined) this.drop("superseded", {});
    this.pending = line;
    if (this.timer) return;
    const wait = this.lastAcceptedMs + this.o.publishIntervalMs - performance.now();
    if (wait <= 0) this.flush();
    else {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  private flush(): void {
    this.timer = undefined;
    const line = this.pending;
    if (line === undefined) return;
    this.pending = undefined;
    this.lastAcceptedMs = performance.now();
    let targets: unknown;
    try {
      targets = (JSON.parse(line) as { targets?: unknown }).targets ?? null;
    } catch {
      this.drop("malformed", { line: line.slice(0, 200) });
      return;
    }
    if (Array.isArray(targets) && targets.length > LIMITS.entries) {
      this.drop("too_many_entries", { entries: targets.length, max: LIMITS.entries });
      return;
    }
    this.o.accept(targets, line);
  }

  /** Logs a line of the module's (its log calls, its stdout and stderr), if the bucket allows. */
  log(level: Parameters<InventoryLog>[0], msg: string, fields: unknown): void {
    const now = performance.now();
    const rate = LIMITS.logLinesPerSecond;
    this.tokens = Math.min(rate * 10, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens < 1) {
      this.drop("log", {});
      return;
    }
    this.tokens--;
    let f: Record<string, unknown> = {};
    if (typeof fields === "object" && fields !== null && !Array.isArray(fields)) {
      const json = JSON.stringify(fields);
      f =
        json.length <= LIMITS.logLineChars
          ? (fields as Record<string, unknown>)
          : { fields: json.slice(0, LIMITS.logLineChars) };
    }
    this.o.log(level, msg.slice(0, LIMITS.logLineChars), { ...f, module: this.o.module });
  }

  drop(reason: DropReason, fields: Record<string, unknown>): void {
    this.o.onDropped(reason, 1);
    const now = performance.now();
    if (now - (this.loggedAt.get(reason) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
    this.loggedAt.set(reason, now);
    this.o.log("warn", `dynamic inventory: ${DROP_TEXT[reason]} (logged once a minute, all counted)`, {
      ...fields,
      module: this.o.module,
      reason,
    });
  }

  /** Forgets a waiting list (the module is being stopped). */
  close(): void {
    clearTimeout(this.timer);
    this.pending = undefined;
  }
}
