// Runs the kernel tools (ip, nft, tcpdump, ping, sysctl writes) the lab is built from, optionally
// inside a child network namespace via `ip netns exec`. Failures become LabError with the command
// line and stderr, so a broken topology says exactly which step failed. Long-running helpers are
// tracked here so the lab can kill them on destroy() and, synchronously, on process exit.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";

/** A lab setup or teardown step failed. `code` is stable: LAB_NOT_ISOLATED, LAB_COMMAND, LAB_TIMEOUT... */
export class LabError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "LabError";
    this.code = code;
  }
}

export interface RunOptions {
  /** Child namespace to run in; undefined = the test's own namespace. */
  ns?: string | undefined;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Killed (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFail?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Prefixes `ip netns exec NS` when a namespace is given. */
export function nsArgv(ns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (ns === undefined) return [cmd, [...args]];
  return ["ip", ["netns", "exec", ns, cmd, ...args]];
}

function describe(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

/** Runs a command to completion and collects its output. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = nsArgv(opts.ns, cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.stdin.on("error", () => {
      // The command may exit without reading its input; that is its business.
    });
    child.stdin.end(opts.input ?? "");
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new LabError("LAB_COMMAND", `${describe(file, argv)}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? 128, stdout, stderr };
      if (timedOut) {
        reject(
          new LabError(
            "LAB_TIMEOUT",
            `${describe(file, argv)}: timed out after ${opts.timeoutMs ?? 30_000} ms`,
          ),
        );
      } else if (result.code !== 0 && !opts.allowFail) {
        const why = signal ? `killed by ${signal}` : `exit ${result.code}`;
        reject(
          new LabError("LAB_COMMAND", `${describe(file, argv)}: ${why}: ${stderr.trim() || stdout.trim()}`),
        );
      } else {
        resolve(result);
      }
    });
  });
}

/** Synchronous variant for process-exit cleanup, where no promise can be awaited. */
export function runSync(cmd: string, args: readonly string[]): number {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: 5000 });
  return r.status ?? 128;
}

/** `ip -batch -` in a namespace: many ip commands for the cost of one process. */
export async function ipBatch(ns: string | undefined, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const args = ns === undefined ? ["-batch", "-"] : ["-n", ns, "-batch", "-"];
  await run("ip", args, { input: `${lines.join("\n")}\n` });
}

/** Writes sysctls (keys like "net.ipv4.icmp_ratelimit") inside a namespace in one process. */
export async function setSysctls(
  ns: string | undefined,
  values: Record<string, string | number>,
): Promise<void> {
  const script = Object.entries(values)
    .map(([k, v]) => `printf '%s\\n' '${String(v)}' > /proc/sys/${k.replaceAll(".", "/")}`)
    .join(" && ");
  await run("sh", ["-c", script], { ns });
}

export async function readSysctl(ns: string | undefined, key: string): Promise<string> {
  const r = await run("cat", [`/proc/sys/${key.replaceAll(".", "/")}`], { ns });
  return r.stdout.trim();
}

/** Long-running helper processes; killed by the lab on destroy() and on process exit. */
export class ProcessSet {
  private readonly live = new Set<ChildProcess>();

  /** Spawns a helper with piped stdio. Its stdin stays open: closing it tells our helpers to exit. */
  spawn(ns: string | undefined, cmd: string, args: readonly string[]): ChildProcess {
    const [file, argv] = nsArgv(ns, cmd, args);
    const child = spawn(file, argv, { stdio: ["pipe", "pipe", "pipe"] });
    this.live.add(child);
    // A helper must not keep the test process alive: the lab kills it on destroy() or exit.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr])
      (s as unknown as { unref?: () => void }).unref?.();
    child.on("exit", () => this.live.delete(child));
    child.on("error", () => this.live.delete(child));
    child.stdin?.on("error", () => {
      // EPIPE when the helper already died: its exit is reported elsewhere.
    });
    return child;
  }

  /** Waits for a line on stdout matching `ready`, or rejects with stderr when it exits first. */
  waitForLine(child: ChildProcess, what: string, match: RegExp, timeoutMs = 10_000): Promise<void> {
    return waitForOutput(child, what, match, timeoutMs, "stdout");
  }

  /** SIGKILLs every helper still running and waits until they are gone. */
  async killAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => stopChild(c, "SIGKILL")));
    this.live.clear();
  }

  /** For process-exit cleanup: signals only, nothing awaited. */
  killAllSync(): void {
    for (const c of this.live) c.kill("SIGKILL");
    this.live.clear();
  }

  get size(): number {
    return this.live.size;
  }

  pids(): number[] {
    return [...this.live].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }
}

/**
 * Sends `signal` and waits for the exit, SIGKILLing after `graceMs`. The timer is what keeps the
 * event loop alive meanwhile: helpers are unref'd so a forgotten lab never blocks process exit.
 */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Resolves when `match` appears on the child's stdout or stderr; rejects if it exits first. */
export function waitForOutput(
  child: ChildProcess,
  what: string,
  match: RegExp,
  timeoutMs: number,
  stream: "stdout" | "stderr",
): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    let errText = "";
    const src = stream === "stdout" ? child.stdout : child.stderr;
    const onData = (d: Buffer) => {
      seen += d.toString("utf8");
      if (match.test(seen)) finish();
    };
    const onErr = (d: Buffer) => {
      errText += d.toString("utf8");
      if (stream === "stderr") onData(d);
    };
    const onExit = (code: number | null, sig: string | null) =>
      fail(new LabError("LAB_COMMAND", `${what} exited (${code ?? sig}) before ready: ${errText.trim()}`));
    const timer = setTimeout(
      () => fail(new LabError("LAB_TIMEOUT", `${what} not ready after ${timeoutMs} ms: ${errText.trim()}`)),
      timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      if (stream === "stdout") child.stdout?.off("data", onData);
      child.stderr?.off("data", onErr);
      child.off("exit", onExit);
    };
    const finish = () => {
      cleanup();
      resolve();
    };
    const fail = (e: Error) => {
      cleanup();
      reject(e);
    };
    if (stream === "stdout") src?.on("data", onData);
    child.stderr?.on("data", onErr);
    child.on("exit", onExit);
  });
}
