// Process-wide faults of the running daemon: a rejection nobody handled, an exception thrown from a
// callback, a write error on standard output or error. Node's defaults make each of them fatal; for
// a monitoring daemon one stray promise in a library must not stop the probing, so each is logged
// and counted (netprobify_internal_errors_total{where}) and the daemon goes on. What stays fatal: an
// exception storm (more than `stormCount` uncaught exceptions within `stormMs`: the process is
// broken, let the service manager restart it, exit 70), and what Node cannot catch at all (V8 out of
// memory, a native crash).
import { errorFields, type Logger } from "./logger.js";

export interface FaultOptions {
  log: Logger;
  count: (where: "unhandled_rejection" | "uncaught_exception") => void;
  /** Called once when the exception storm limit is passed. */
  onStorm: () => void;
  stormCount?: number;
  stormMs?: number;
}

/** Installs the handlers; returns a function that removes them. */
export function surviveFaults(o: FaultOptions): () => void {
  const stormCount = o.stormCount ?? 50;
  const stormMs = o.stormMs ?? 60_000;
  let recent: number[] = [];
  let stormed = false;
  const safely = (fn: () => void) => {
    try {
      fn();
    } catch {
      // a fault while reporting a fault: nothing more can be done
    }
  };
  const onRejection = (reason: unknown) => {
    safely(() =>
      o.log.error({ err: errorFields(reason) }, "unhandled promise rejection: the daemon goes on"),
    );
    safely(() => o.count("unhandled_rejection"));
  };
  const onException = (err: unknown) => {
    safely(() => o.log.error({ err: errorFields(err) }, "uncaught exception: the daemon goes on"));
    safely(() => o.count("uncaught_exception"));
    const now = performance.now();
    recent = recent.filter((t) => now - t < stormMs);
    recent.push(now);
    if (recent.length > stormCount && !stormed) {
      stormed = true;
      safely(() =>
        o.log.fatal({ count: recent.length, withinMs: stormMs }, "uncaught exceptions keep coming: stopping"),
      );
      o.onStorm();
    }
  };
  // A write error on stdout or stderr (EPIPE, ENOSPC) is an 'error' event: without a listener, fatal.
  const ignore = () => {};
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  process.stdout.on("error", ignore);
  process.stderr.on("error", ignore);
  return () => {
    process.off("unhandledRejection", onRejection);
    process.off("uncaughtException", onException);
    process.stdout.off("error", ignore);
    process.stderr.off("error", ignore);
  };
}
