// The live view in a real terminal: tmux runs the driver (fixtures/live-view-driver.ts) in a
// detached 80x24 session on a private server (its socket in a temporary directory of its own); the
// test reads the screen with capture-pane, checks every target shows and the screen changes,
// resizes the window, then quits with `q` (and, in a second session, Ctrl-C) and checks the exit
// status and that the terminal was restored: main screen, cursor shown, canonical mode and echo;
// then the same restore after an uncaught error, a SIGTERM, and a quit nobody listens for; and that
// a closed view keeps nothing alive. No root needed; the tmux server is killed at the end, even on
// failure. Waits poll for a state with a generous deadline, never a fixed sleep.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import stringWidth from "string-width";

const DRIVER = fileURLToPath(new URL("./fixtures/live-view-driver.js", import.meta.url));
const TARGETS = 8;
// The names the driver gives (see the fixture): how each starts on screen at 80 columns.
const SHOWN = [
  "target-0",
  "wan-東京-1",
  "internet-far",
  ...Array.from({ length: TARGETS - 3 }, (_, i) => `target-${i + 3}`),
];
// A terminal that speaks UTF-8 and colour; NO_COLOR from the caller's environment left out.
const { NO_COLOR: _, ...baseEnv } = process.env;
const env = { ...baseEnv, TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

async function until<T>(what: string, get: () => T, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let v = get();
  while (!ok(v)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last:\n${String(v)}`);
    await new Promise((r) => setTimeout(r, 100));
    v = get();
  }
  return v;
}

/** How the driver ends: a key pressed, or on its own ("throw": an uncaught error, "term": SIGTERM). */
type Ending =
  | { key: "q" | "C-c"; mode?: "close" | "unheard"; status?: number }
  | { self: "throw" | "term"; status: number; message?: RegExp };

async function session(ending: Ending): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "npf-live-view-"));
  // A private server: its socket in our own directory, gone with it.
  const socket = join(dir, "tmux.sock");
  const tmux = (...args: string[]) => {
    const r = spawnSync("tmux", ["-S", socket, "-u", ...args], { encoding: "utf8", env, timeout: 20_000 });
    assert.equal(r.status, 0, `tmux ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const screen = () => tmux("capture-pane", "-p", "-t", "lv");
  const state = () => tmux("display-message", "-p", "-t", "lv", "#{alternate_on} #{cursor_flag}").trim();
  const status = join(dir, "status");
  const stty = join(dir, "stty");
  const restored = async () => {
    const modes = readFileSync(stty, "utf8");
    assert.match(modes, /(^|\s)icanon(\s|$)/, "canonical mode back");
    assert.match(modes, /(^|\s)echo(\s|$)/, "echo back");
    assert.equal(state(), "0 1", "main screen, cursor shown");
    assert.doesNotMatch(screen(), /iter \d+/, "the live view is not left on the main screen");
  };
  // The pane's shell runs the driver, then records the terminal modes and the exit status (in that
  // order: the status file appearing means both are there), then stays so the screen can be read.
  const script = [
    `${quote(process.execPath)} ${quote(DRIVER)} ${TARGETS} ${"self" in ending ? ending.self : (ending.mode ?? "")}`,
    "rc=$?",
    `stty -a > ${quote(stty)}`,
    `echo $rc > ${quote(`${status}.tmp`)}`,
    `mv ${quote(`${status}.tmp`)} ${quote(status)}`,
    "exec sleep 600",
  ].join("; ");
  try {
    tmux("new-session", "-d", "-s", "lv", "-x", "80", "-y", "24", `sh -c ${quote(script)}`);

    if ("self" in ending) {
      // Killed or crashed by itself: the status says so, the terminal is restored all the same.
      await until(
        "the driver's exit status",
        () => existsSync(status),
        (v) => v,
      );
      assert.equal(readFileSync(status, "utf8").trim(), String(ending.status));
      await restored();
      if (ending.message) assert.match(screen(), ending.message, "the error is on the main screen");
      return;
    }
    const first = await until("every target on screen", screen, (s) =>
      SHOWN.every((n) => s.split("\n").some((l) => l.startsWith(n))),
    );
    for (const l of first.split("\n")) assert.ok(stringWidth(l) <= 80, l);
    assert.match(first, /^target +type +lost +recent +p50 +p95 +history .*injected/m);
    assert.equal(state(), "1 0", "alternate screen, cursor hidden");

    // The screen updates: the iteration counter moves on.
    const iteration = (s: string) => Number(/iter (\d+)/.exec(s)?.[1] ?? Number.NaN);
    const n = iteration(first);
    assert.ok(Number.isFinite(n), first);
    await until("a later iteration on screen", screen, (s) => iteration(s) > n);

    // A smaller window: redrawn to fit, the hidden targets counted.
    tmux("resize-window", "-t", "lv", "-x", "60", "-y", "10");
    const small = await until("the frame redrawn at 60x10", screen, (s) =>
      /^\+\d+ more targets hidden/m.test(s),
    );
    for (const l of small.split("\n")) assert.ok(stringWidth(l) <= 60, l);
    assert.equal(small.trimEnd().split("\n").length, 10, small);
    tmux("resize-window", "-t", "lv", "-x", "80", "-y", "24");

    tmux("send-keys", "-t", "lv", ending.key);
    await until(
      "the driver's exit status",
      () => existsSync(status),
      (v) => v,
    );
    assert.equal(
      readFileSync(status, "utf8").trim(),
      String(ending.status ?? 0),
      `exit status after ${ending.key}`,
    );
    await restored();
  } finally {
    spawnSync("tmux", ["-S", socket, "kill-server"], { env, timeout: 20_000 });
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("live view in a real terminal (tmux 80x24)", () => {
  test("every target shows, the screen updates and fits a resize, q exits 0 and restores the terminal", () =>
    session({ key: "q" }));
  test("Ctrl-C exits 0 and restores the terminal", () => session({ key: "C-c" }));
  test("after close() nothing keeps the process alive: it ends by itself (0)", () =>
    session({ key: "q", mode: "close" }));
  test("q with no quit listener: the terminal restored, then a SIGINT ends the process (130)", () =>
    session({ key: "q", mode: "unheard", status: 130 }));
  test("an uncaught error restores the terminal and its message stays on screen", () =>
    session({ self: "throw", status: 1, message: /driver: a crash on purpose/ }));
  test("SIGTERM restores the terminal and still ends the process", () =>
    session({ self: "term", status: 143 }));
});
