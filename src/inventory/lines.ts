// Reads a child's stream (its message channel, its stdout or stderr) line by line without letting the
// child decide how much memory or CPU the daemon spends on it: a line longer than maxLineBytes is
// skipped as it streams by (never buffered whole, only counted), and past bytesPerSecond or
// linesPerSecond the stream is paused until the next second, so a child writing as fast as it can
// blocks on its own full pipe instead of keeping the daemon's main thread busy.
import type { Readable } from "node:stream";

export interface LineReaderOptions {
  maxLineBytes: number;
  bytesPerSecond: number;
  /** Lines per second (each costs a copy and a callback, however short). */
  linesPerSecond?: number;
  onLine(line: string): void;
  /** A line longer than maxLineBytes was skipped (bytes: its length). */
  onOversize(bytes: number): void;
  /** Monotonic ms clock (tests). */
  now?: () => number;
}

export class LineReader {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Bytes of the current line seen so far while skipping it (-1: not skipping). */
  private skipping = -1;
  private windowStart = 0;
  private windowBytes = 0;
  private windowLines = 0;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(
    private readonly stream: Readable,
    private readonly o: LineReaderOptions,
  ) {
    this.now = o.now ?? (() => performance.now());
    stream.on("data", (chunk: Buffer) => this.chunk(chunk));
  }

  private chunk(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.take(chunk.subarray(start, nl));
      this.endLine();
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start));
    this.budget(chunk.length);
  }

  private take(b: Buffer): void {
    if (this.skipping >= 0) {
      this.skipping += b.length;
      return;
    }
    if (this.partBytes + b.length > this.o.maxLineBytes) {
      this.skipping = this.partBytes + b.length;
      this.parts = [];
      this.partBytes = 0;
      return;
    }
    if (b.length > 0) {
      // Copy: the stream may reuse or keep alive a larger chunk we only need a slice of.
      this.parts.push(Buffer.from(b));
      this.partBytes += b.length;
    }
  }

  private endLine(): void {
    if (this.skipping >= 0) {
      const n = this.skipping;
      this.skipping = -1;
      this.o.onOversize(n);
      return;
    }
    const line = Buffer.concat(this.parts, this.partBytes).toString("utf8");
    this.parts = [];
    this.partBytes = 0;
    this.windowLines++;
    this.o.onLine(line);
  }

  private budget(n: number): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.windowBytes = 0;
      this.windowLines = 0;
    }
    this.windowBytes += n;
    const over =
      this.windowBytes >= this.o.bytesPerSecond ||
      this.windowLines >= (this.o.linesPerSecond ?? Number.POSITIVE_INFINITY);
    if (!over || this.resumeTimer) return;
    this.stream.pause();
    this.resumeTimer = setTimeout(
      () => {
        this.resumeTimer = undefined;
        this.windowStart = this.now();
        this.windowBytes = 0;
        this.windowLines = 0;
        this.stream.resume();
      },
      Math.max(1, 1000 - (t - this.windowStart)),
    );
    this.resumeTimer.unref();
  }

  /** Stops the resume timer (the stream is being closed). */
  close(): void {
    clearTimeout(this.resumeTimer);
  }
}
