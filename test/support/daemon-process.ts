// `netprobify CONFIG` in a subprocess for the lab tests that watch a daemon from outside: its stdout
// and stderr kept as one log (the context of every failed wait), its exit awaited, its /metrics
// polled until a condition holds.
import { type ChildProcess, spawn } from "node:child_process";
import { until as untilScrape } from "../integration/lib/scrape.js";
import { BIN } from "./paths.js";

export interface DaemonProcessOptions {
  /** Its metrics port (127.0.0.1). */
  port: number;
  /** Lines of the last scrape shown when a wait fails. */
  relevant: RegExp;
  /** Default bound of a wait, ms. */
  ms: number;
  /** How much of the log's end a failed wait shows. */
  contextChars: number;
  /** The log keeps only its last this many characters (default: all of it). */
  keepChars?: number;
  cwd?: string;
}

export interface DaemonProcess {
  child: ChildProcess;
  exit: Promise<number | null>;
  /** Its output so far (stdout and stderr, as they came). */
  log(): string;
  /** Polls /metrics until `pred` holds on a scrape; fails saying `what`, with the log's end. */
  until(pred: (body: string) => boolean, what: string, ms?: number): Promise<string>;
}

export function spawnDaemon(file: string, o: DaemonProcessOptions): DaemonProcess {
  const child = spawn(process.execPath, [BIN, file], {
    stdio: ["ignore", "pipe", "pipe"],
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
  });
  let log = "";
  const collect = (b: Buffer) => {
    log += String(b);
    if (o.keepChars !== undefined) log = log.slice(-o.keepChars);
  };
  child.stderr!.on("data", collect);
  child.stdout!.on("data", collect);
  const exit = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  return {
    child,
    exit,
    log: () => log,
    until: (pred, what, ms = o.ms) =>
      untilScrape(what, pred, {
        port: o.port,
        ms,
        relevant: o.relevant,
        context: () => `log:\n${log.slice(-o.contextChars)}`,
      }),
  };
}
