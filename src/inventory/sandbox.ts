// Runs one command in a child process the kernel keeps in bounds, so that whatever the command does
// (hoard memory, spin, fork, leak fds, flood its output, ignore SIGTERM) costs the daemon nothing but
// a bounded read of its output. Generic over the command: JavaScript modules run through
// bootstrap.js, the original's Python modules through python_shim.py (python.ts). Trade-offs:
// - Memory: RLIMIT_DATA (private writable memory: heaps, Buffers, thread stacks), set by util-linux
//   `prlimit` before the command starts. RLIMIT_AS does not fit Node: V8 reserves ~700 MB of address
//   space at start-up, and WebAssembly far more, none of it used. A cgroup would need delegation.
// - Lifetime: the child leads its own process group; stopping sends SIGTERM to the group, SIGKILL
//   after a grace period, and SIGKILL again once the leader is gone, so forked children die too.
//   `setpriv --pdeathsig KILL` kills the leader if the daemon itself is killed.
// - Messages: newline-delimited JSON both ways on fd 3 (a socketpair), read through LineReader: no
//   line longer than maxMessageBytes is ever buffered, and reading is rate-limited.
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { LineReader } from "./lines.js";

export interface SandboxLimits {
  /** RLIMIT_DATA of the child, bytes. */
  memoryBytes: number;
  /** RLIMIT_NOFILE of the child (Node raises its soft limit to the hard one: both are set). */
  openFiles: number;
}

export interface SandboxOptions {
  /** argv of the command; argv[0] is looked up in PATH. */
  argv: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  limits: SandboxLimits;
  /** A longer message or output line is skipped and reported through onOversize. */
  maxMessageBytes: number;
  /** Bytes and lines per second read from each of the channel, stdout and stderr; more waits in the pipe. */
  bytesPerSecond: number;
  linesPerSecond: number;
  /** A JSON object from the channel, with its line (a cheap identity for repeated messages). */
  onMessage(message: Record<string, unknown>, line: string): void;
  /** Lines of the channel starting with this are passed to onRaw unparsed (the caller may never need them). */
  rawPrefix?: string;
  onRaw?(line: string): void;
  /** A line of the channel that is not a JSON object. */
  onMalformed(line: string): void;
  onOutput(stream: "stdout" | "stderr", line: string): void;
  onOversize(stream: "channel" | "stdout" | "stderr", bytes: number): void;
  /** The child is gone (after its process group was killed): why, in words, for the log. */
  onExit(exit: SandboxExit): void;
}

export interface SandboxExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of its stderr (at most ~4 KB), to tell a memory limit from another death. */
  stderrTail: string;
}

const TAIL_BYTES = 4096;

/** Every live sandbox, killed synchronously if the daemon exits without stopping them. */
const live = new Set<Sandbox>();
process.on("exit", () => {
  for (const s of live) s.killGroup("SIGKILL");
});

export class Sandbox {
  readonly child: ChildProcess;
  /** The child's process group (its pid), undefined if spawning failed. */
  readonly pgid: number | undefined;
  private readonly channel: Writable & Readable;
  private readonly readers: LineReader[] = [];
  private stderrTail = "";
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(private readonly o: SandboxOptions) {
    const l = o.limits;
    const argv = [
      "setpriv",
      "--pdeathsig",
      "KILL",
      "--",
      "prlimit",
      `--data=${l.memoryBytes}:${l.memoryBytes}`,
      `--nofile=${l.openFiles}:${l.openFiles}`,
      "--core=0", // V8's out-of-memory abort must not leave a core file of the limit's size behind
      "--",
      ...o.argv,
    ];
    this.child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      detached: true, // own process group (and session): killed as one
      env: o.env,
      cwd: o.cwd,
    });
    this.pgid = this.child.pid;
    if (this.pgid !== undefined) live.add(this);
    this.channel = this.child.stdio[3] as Writable & Readable;
    const reader = (
      stream: Readable,
      onLine: (line: string) => void,
      name: "channel" | "stdout" | "stderr",
    ) =>
      this.readers.push(
        new LineReader(stream, {
          maxLineBytes: o.maxMessageBytes,
          bytesPerSecond: o.bytesPerSecond,
          linesPerSecond: o.linesPerSecond,
          onLine,
          onOversize: (n) => o.onOversize(name, n),
        }),
      );
    reader(this.channel, (line) => this.message(line), "channel");
    reader(this.child.stdout!, (line) => o.onOutput("stdout", line), "stdout");
    reader(
      this.child.stderr!,
      (line) => {
        this.stderrTail = `${this.stderrTail}${line}\n`.slice(-TAIL_BYTES);
        o.onOutput("stderr", line);
      },
      "stderr",
    );
    // A child that dies early closes the channel: a write to it (or a read error on any of its
    // pipes) must not throw in the daemon. Its exit is what counts.
    for (const s of [this.channel, this.child.stdout, this.child.stderr]) s?.on("error", () => {});
    this.exit = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exited) return;
        this.exited = true;
        this.killGroup("SIGKILL"); // its forked children, if any, go with it
        live.delete(this);
        for (const r of this.readers) r.close();
        this.channel.destroy();
        this.child.stdout?.destroy();
        this.child.stderr?.destroy();
        o.onExit({ code, signal, stderrTail: this.stderrTail });
        resolve();
      };
      // On exit, its group is killed; the pipes then close (their last lines, e.g. V8's out-of-memory
      // report, are read first), or a grandchild that left the group holds them: give up after 1 s.
      this.child.on("exit", (code, signal) => {
        this.killGroup("SIGKILL");
        const late = setTimeout(() => done(code, signal), 1000);
        this.child.on("close", () => {
          clearTimeout(late);
          done(code, signal);
        });
      });
      this.child.on("error", (err) => {
        this.stderrTail += `${err.message}\n`;
        if (this.child.pid === undefined) done(127, null);
      });
    });
  }

  private message(line: string): void {
    if (this.o.rawPrefix !== undefined && this.o.onRaw && line.startsWith(this.o.rawPrefix)) {
      this.o.onRaw(line);
      return;
    }
    if (line.trim() === "") return;
    let m: unknown;
    try {
      m = JSON.parse(line);
    } catch {
      this.o.onMalformed(line);
      return;
    }
    if (typeof m !== "object" || m === null || Array.isArray(m)) this.o.onMalformed(line);
    else this.o.onMessage(m as Record<string, unknown>, line);
  }

  /** Sends one message (a JSON line) to the child; ignored once it is gone. */
  send(message: unknown): void {
    if (this.exited || this.channel.destroyed) return;
    this.channel.write(`${JSON.stringify(message)}\n`);
  }

  get running(): boolean {
    return !this.exited;
  }

  killGroup(signal: NodeJS.Signals): void {
    if (this.pgid === undefined) return;
    try {
      process.kill(-this.pgid, signal);
    } catch {
      // no process left in the group
    }
  }

  /**
   * Asks the child to stop (the `stop` message and SIGTERM to its group), kills the group after
   * graceMs, and resolves once the child is gone.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.exited) return;
    this.send({ type: "stop" });
    this.killGroup("SIGTERM");
    const timer = setTimeout(() => this.killGroup("SIGKILL"), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  /** Resolves once the child is gone. */
  get exited$(): Promise<void> {
    return this.exit;
  }
}

/** Why a sandboxed child ended, in words; memory when its stderr or last message says so. */
export function describeExit(e: SandboxExit, memoryBytes: number, lastError?: string): string {
  const text = `${lastError ?? ""}\n${e.stderrTail}`;
  const mb = Math.round(memoryBytes / 2 ** 20);
  const detail = (lastError ?? e.stderrTail.trim().split("\n").slice(-1)[0] ?? "").slice(0, 500);
  const how = e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
  if (/out of memory|allocation failed|Cannot allocate memory|bad_alloc|ENOMEM|MemoryError/i.test(text))
    return `memory limit reached (${mb} MB), ${how}${detail ? `: ${detail}` : ""}`;
  return `${how}${detail ? `: ${detail}` : ""}`;
}
