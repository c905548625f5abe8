// Where the daemon's log lines go: a file descriptor (standard error) written in the background, so
// that logging can never stop probing. process.stderr on a file or pipe writes synchronously and
// turns ENOSPC or EPIPE into an 'error' event that kills the process; this sink instead queues lines
// (bounded), writes one batch at a time with fs.write on the thread pool (a stuck reader blocks one
// pool thread, never the event loop), and on any write error drops what it could not write, counts
// the lines, backs off and tries again: when the disk has room again or the reader is back, logging
// resumes by itself. The trade-off: lines are lost rather than ever waiting for the log.
import { write, writeSync } from "node:fs";

export interface LogSinkOptions {
  /** File descriptor to write to (default 2, standard error). */
  fd?: number;
  /** Most bytes queued before new lines are dropped (default 1 MiB). */
  maxQueuedBytes?: number;
  /** Wait after a failed write before the next attempt, in ms (default 1,000). */
  retryMs?: number;
  /** Called once per failure episode with the error code (e.g. to note it elsewhere); must not throw. */
  onError?: (code: string) => void;
}

export class LogSink {
  /** Lines dropped so far: queue full, or their write failed. */
  dropped = 0;
  /** Lines written so far. */
  written = 0;
  /** The error code of the last failed write, while writes fail; undefined when they work. */
  failing: string | undefined;
  private readonly fd: number;
  private readonly maxBytes: number;
  private readonly retryMs: number;
  private queue: string[] = [];
  private queuedBytes = 0;
  private busy = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: LogSinkOptions = {}) {
    this.fd = o.fd ?? 2;
    this.maxBytes = o.maxQueuedBytes ?? 1 << 20;
    this.retryMs = o.retryMs ?? 1_000;
  }

  /** Queues one or more complete lines; never throws, never blocks. Returns true (a stream's contract). */
  write(chunk: string): boolean {
    if (this.queuedBytes + chunk.length > this.maxBytes) {
      this.dropped += countLines(chunk);
      return true;
    }
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.pump();
    return true;
  }

  /** Writes what is queued synchronously, at exit; failures are counted, never thrown. */
  flushSync(): void {
    clearTimeout(this.retryTimer);
    if (this.busy) return; // the background write owns the head of the queue
    const text = this.take();
    if (text === "") return;
    try {
      writeSync(this.fd, text);
      this.written += countLines(text);
    } catch {
      this.dropped += countLines(text);
    }
  }

  private take(): string {
    const text = this.queue.join("");
    this.queue = [];
    this.queuedBytes = 0;
    return text;
  }

  private pump(): void {
    if (this.busy || this.retryTimer !== undefined || this.queue.length === 0) return;
    this.busy = true;
    const buf = Buffer.from(this.take());
    this.writeFrom(buf, 0);
  }

  private writeFrom(buf: Buffer, offset: number): void {
    write(this.fd, buf, offset, buf.length - offset, null, (err, n) => {
      if (!err && offset + n < buf.length) {
        this.writeFrom(buf, offset + n); // a short write (pipe, nearly full disk): the rest
        return;
      }
      this.busy = false;
      if (err) {
        // Count every line not completely written; a partial last line is lost with them.
        this.dropped += countLines(buf.subarray(offset));
        this.written += countLines(buf.subarray(0, offset));
        if (this.failing === undefined) {
          this.failing = err.code ?? "EIO";
          try {
            this.o.onError?.(this.failing);
          } catch {
            // a callback that throws must not break logging
          }
        }
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, this.retryMs);
        this.retryTimer.unref();
        return;
      }
      this.written += countLines(buf);
      this.failing = undefined;
      this.pump();
    });
  }
}

function countLines(text: string | Buffer): number {
  let n = 0;
  if (typeof text === "string") {
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  } else {
    for (let i = text.indexOf(10); i !== -1; i = text.indexOf(10, i + 1)) n++;
  }
  return Math.max(n, text.length > 0 ? 1 : 0);
}
