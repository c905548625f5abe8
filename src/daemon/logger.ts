// Structured logs for the daemon: JSON lines (pino) for log collectors, or one readable line per
// event when standard error is a terminal. The configuration's logging_level (the original's Python
// levels) maps onto pino's levels. The daemon passes a LogSink (log-sink.ts) as the destination, so
// that a log that cannot be written never stops it.
import pino, { type Logger } from "pino";
import { NetprobifyError } from "../errors.js";

export type { Logger };

const LEVELS: Record<string, pino.LevelWithSilent> = {
  CRITICAL: "fatal",
  ERROR: "error",
  WARNING: "warn",
  INFO: "info",
  DEBUG: "debug",
  NOTSET: "trace",
};

export function levelFor(loggingLevel: string): pino.LevelWithSilent {
  return LEVELS[loggingLevel] ?? "info";
}

/** A logger writing to standard error: JSON lines, or readable lines on a terminal. */
export function createLogger(
  level = "INFO",
  opts: { pretty?: boolean; destination?: { write(line: string): unknown } } = {},
): Logger {
  const pretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  const dest = opts.destination ?? process.stderr;
  if (!pretty)
    return pino({ level: levelFor(level), base: { app: "netprobify" } }, dest as pino.DestinationStream);
  return pino(
    { level: levelFor(level), base: undefined, timestamp: false },
    {
      write(line: string) {
        const { level: n, msg, ...rest } = JSON.parse(line) as { level: number; msg: string };
        const name = pino.levels.labels[n]?.toUpperCase() ?? String(n);
        const fields = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ");
        dest.write(`${new Date().toISOString()} ${name.padEnd(5)} ${msg}${fields ? ` ${fields}` : ""}\n`);
      },
    },
  );
}

/** An error as log fields (a thrown non-Error too). */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof NetprobifyError)
    return { name: err.name, code: err.code, message: err.message, stack: err.stack };
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { value: String(err) };
}
