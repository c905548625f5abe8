// A daemon logger whose JSON lines land in an array, for tests that assert on what was logged.
import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../src/daemon/logger.js";

export function capturedLogger(level = "INFO"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger(level, {
    pretty: false,
    destination: new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  return { log, lines };
}
