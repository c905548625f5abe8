// The demo's live terminal view: one screen redrawn in place each iteration (alternate screen,
// hidden cursor, cursor home + overwrite + clear-to-end-of-line: no flicker), redrawn on resize,
// coloured where the terminal supports it (NO_COLOR respected), `q`/Ctrl-C to quit, and the terminal
// restored however the process ends (close, exit, an uncaught error: Node emits 'exit' before it
// prints the error, SIGTERM; only SIGKILL cannot be caught). When stdout is not a terminal it prints
// plain lines instead. The screen itself is pure text from view/frame.ts; plain ANSI escape codes
// are all this needs, so no terminal library (string-width measures display width).
import { type FrameOptions, renderFrame as frame, plainLines } from "./view/frame.js";
import type { LiveView, ViewHeader, ViewRow } from "./view/types.js";

export type { LiveView, ViewHeader, ViewRow } from "./view/types.js";
export { plainLines };

/** Pure: the screen for a given size (lines, each at most `width` columns of display width). */
export function renderFrame(
  header: ViewHeader,
  rows: readonly ViewRow[],
  width: number,
  height: number,
  opts?: FrameOptions,
): string[] {
  return frame(header, rows, width, height, opts);
}

const ESC = "\x1b[";
/** Alternate screen, hidden cursor, no line wrap (a miscounted line is cut, never scrolls). */
export const ENTER = `${ESC}?1049h${ESC}?25l${ESC}?7l`;
/** The reverse of ENTER: line wrap, cursor shown, main screen. */
export const LEAVE = `${ESC}?7h${ESC}?25h${ESC}?1049l`;
const HOME = `${ESC}H`;
const EOL = `${ESC}K`;
const EOS = `${ESC}J`;
/** Synchronized output: terminals that know it paint the frame at once; others ignore it. */
const SYNC_ON = `${ESC}?2026h`;
const SYNC_OFF = `${ESC}?2026l`;

/** Whether to colour: never with NO_COLOR set (no-color.org), else what the terminal says. */
export function wantsColor(out: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  return typeof out.hasColors === "function" ? out.hasColors(env) : false;
}

export interface LiveViewOptions {
  out?: NodeJS.WriteStream;
  input?: NodeJS.ReadStream;
  title?: string;
  /** Environment read for NO_COLOR and the colour depth (tests). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A terminal view when `out` is a TTY, else plain lines (one line per target per update + a header line). */
export function createLiveView(opts: LiveViewOptions = {}): LiveView {
  const out = opts.out ?? process.stdout;
  return out.isTTY ? terminalView(out, opts) : plainView(out);
}

function plainView(out: NodeJS.WriteStream): LiveView {
  const quit: (() => void)[] = [];
  const onSigint = () => {
    for (const cb of quit) cb();
  };
  return {
    update(header, rows) {
      out.write(`${plainLines(header, rows).join("\n")}\n`);
    },
    close() {
      process.removeListener("SIGINT", onSigint);
    },
    onQuit(cb) {
      if (quit.length === 0) process.on("SIGINT", onSigint);
      quit.push(cb);
    },
  };
}

function terminalView(out: NodeJS.WriteStream, opts: LiveViewOptions): LiveView {
  const input = opts.input ?? process.stdin;
  const frameOpts: FrameOptions = { color: wantsColor(out, opts.env ?? process.env) };
  if (opts.title !== undefined) frameOpts.title = opts.title;
  const quit: (() => void)[] = [];
  let last: { header: ViewHeader; rows: readonly ViewRow[] } | undefined;
  let entered = false;
  let closed = false;
  let raw = false;

  const draw = () => {
    if (closed || !last) return;
    const width = out.columns || 80;
    const height = out.rows || 24;
    const lines = frame(last.header, last.rows, width, height, frameOpts);
    // Overwrite in place: every line ends with clear-to-end-of-line, the rest of the screen is
    // cleared below the last one; no line break after the last line (it would scroll).
    out.write(`${SYNC_ON}${HOME}${lines.join(`${EOL}\r\n`)}${EOL}${EOS}${SYNC_OFF}`);
  };

  const fireQuit = () => {
    if (quit.length === 0) {
      // Nobody listens: do what Ctrl-C does on a terminal that is not raw, a SIGINT to ourselves.
      close();
      process.kill(process.pid, "SIGINT");
      return;
    }
    for (const cb of quit) cb();
  };
  const onKey = (data: Buffer | string) => {
    const s = typeof data === "string" ? data : data.toString("latin1");
    if (s.includes("q") || s.includes("Q") || s.includes("\x03")) fireQuit();
  };
  const onSigint = () => fireQuit();
  const onSigterm = () => {
    close();
    // The default action, unless someone else handles SIGTERM.
    if (process.listenerCount("SIGTERM") === 0) process.kill(process.pid, "SIGTERM");
  };

  const enter = () => {
    entered = true;
    out.write(ENTER);
    if (input.isTTY && typeof input.setRawMode === "function") {
      input.setRawMode(true);
      raw = true;
    }
    input.on("data", onKey);
    input.resume();
    out.on("resize", draw);
    process.on("SIGTERM", onSigterm);
    process.on("exit", close);
  };

  function close(): void {
    if (closed) return;
    closed = true;
    process.removeListener("SIGINT", onSigint);
    if (!entered) return;
    out.removeListener("resize", draw);
    input.removeListener("data", onKey);
    if (raw) input.setRawMode(false);
    input.pause();
    process.removeListener("SIGTERM", onSigterm);
    process.removeListener("exit", close);
    out.write(`${SYNC_OFF}${LEAVE}`);
  }

  return {
    update(header, rows) {
      if (closed) return;
      if (!entered) enter();
      last = { header, rows };
      draw();
    },
    close,
    onQuit(cb) {
      if (closed) return;
      if (quit.length === 0) process.on("SIGINT", onSigint);
      quit.push(cb);
    },
  };
}
