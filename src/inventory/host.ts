// Starts every dynamic-inventory module found in a directory (.js/.mjs, and the original's Python
// modules, .py, through python.ts), and the built-in ones
// configured under `inventories` (src/inventory/builtin), each in its own child process under a
// kernel memory limit (sandbox.ts), and keeps the last list each one published. A module that
// throws, rejects, exits, is killed or reaches its memory limit is logged (with why), counted as a
// crash and restarted with exponential backoff; its last published targets stay. What a module can
// make the daemon do is bounded: messages and output lines are size-capped and read at a bounded
// rate (sandbox.ts), then lists and log lines pass the module's Gate (gate.ts); every drop is
// counted. Each module's CPU, memory and process count are sampled from /proc (procstat.ts). Modules named in global.disable_dynamic_inventories are not started.
import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type DropReason, Gate, type InventoryLog, LIMITS } from "./gate.js";
import { type GroupUsage, treeUsage } from "./procstat.js";
import { isPythonModule, pythonCommand } from "./python.js";
import { describeExit, Sandbox } from "./sandbox.js";

export { type DropReason, type InventoryLog, LIMITS } from "./gate.js";

/** A built-in inventory to run (top-level `inventories` of netprobify.yaml). */
export interface BuiltinInventory {
  name: string;
  type: "file" | "http";
  options: unknown;
}

/** Why a module's failure was counted: it crashed (threw, rejected, exited, was killed), or it said so. */
export type FailureReason = "crash" | "reported";

export interface InventoryHostOptions {
  /** Directory holding the modules (default: dynamic_inventories/ beside the configuration file). */
  dir: string;
  /** netprobify's configuration file: a module's own config is `<module>.yaml` beside it. */
  configFile: string;
  loggingLevel: string;
  disabled?: readonly string[];
  /** Built-in inventories, started next to the directory's modules (a module of the same name is not). */
  builtins?: readonly BuiltinInventory[];
  log: InventoryLog;
  /** Called whenever a module publishes a list different from its previous one. */
  onPublish?: (module: string, targets: unknown) => void;
  /** Called on every counted failure. */
  onFailure?: (module: string, reason: FailureReason) => void;
  /** Called when something a module sent or wrote is dropped (n: how many). */
  onDropped?: (module: string, reason: DropReason, n: number) => void;
  /** Called after each sample of the modules' processes (cpuDelta: CPU seconds since the last one). */
  onUsage?: (module: string, usage: ModuleUsage, cpuDelta: number) => void;
  /** First restart delay in ms (doubles up to maxBackoffMs). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A process that ran this long before failing starts a new series of delays (default maxBackoffMs). */
  healthyMs?: number;
  /** Interpreter of the Python modules (default python3, from PATH). */
  python?: string;
  /** Memory limit of each module's process (RLIMIT_DATA), bytes. */
  memoryBytes?: number;
  /** Time a stopped module has to end before its process group is killed (default 3 s). */
  stopGraceMs?: number;
  /** A module's published lists are processed at most this often (default 1 s). */
  publishIntervalMs?: number;
  /** Period of the CPU and memory samples (default 1 s). */
  sampleMs?: number;
}

export interface ModuleUsage {
  /** CPU seconds used by the module's processes since netprobify started it (all its restarts). */
  cpuSeconds: number;
  residentBytes: number;
  processes: number;
}

/** A module to run: a file of the directory, or a built-in with its options. */
interface Module {
  name: string;
  file: string;
  options?: unknown;
  /** One of the original's Python modules (run through python_shim.py). */
  python?: boolean;
}

/** How bootstrap.js begins a publish message (JSON.stringify keeps the key order). */
const PUBLISH_PREFIX = '{"type":"publish",';

function builtinModule(b: BuiltinInventory): Module {
  return { name: b.name, file: new URL(`./builtin/${b.type}.js`, import.meta.url).href, options: b.options };
}

/** The command running a JavaScript module: V8's heap is capped below the kernel's limit, so that
 * heap growth ends in V8's own clear out-of-memory report rather than a failed malloc elsewhere.
 * The kernel's limit also counts what is not heap: ~8 MB of reserved stack per thread (V8's
 * workers, libuv's pool) and malloc's arenas. With the old space at half the limit and Node's
 * default young generation (3 × 16 MB) a 256 MB module reached the kernel's limit first in about
 * 1 run in 15 under load, and died by SIGSEGV with nothing said; with a 4 MB semi-space and two
 * V8 workers (an inventory module is no compute job) V8's own limit came first in 40 of 40. */
function nodeCommand(memoryBytes: number): string[] {
  const heapMb = Math.max(16, Math.floor(memoryBytes / 2 ** 20 / 2));
  return [
    process.execPath,
    `--max-old-space-size=${heapMb}`,
    "--max-semi-space-size=4",
    "--v8-pool-size=2",
    fileURLToPath(new URL("./bootstrap.js", import.meta.url)),
  ];
}

interface Running extends Module {
  /** The line of the last accepted publish, to tell a new list from a confirmation of the same one. */
  lastLine?: string;
  box: Sandbox | undefined;
  gate: Gate;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** Last fatal message of the current process (why it is about to exit). */
  fatal?: string;
  usage: ModuleUsage;
  /** CPU seconds of the current process tree at the last sample. */
  groupCpu: number;
  /** When the current process was started (performance.now()). */
  startedAt: number;
}

export class InventoryHost {
  /** Last list published by each module. */
  readonly published = new Map<string, unknown>();
  /** Failures per module (crash: threw, rejected, exited, killed; reported: the module said so). */
  readonly failures = new Map<string, number>();
  /** Wall-clock ms of each module's last publish (a repeat of the same list counts: it is current). */
  readonly lastPublish = new Map<string, number>();
  /** Drops per module and reason. */
  readonly dropped = new Map<string, Map<DropReason, number>>();
  private readonly modules = new Map<string, Running>();
  private stopped = false;
  private sampler: NodeJS.Timeout | undefined;

  constructor(private readonly o: InventoryHostOptions) {}

  static defaultDir(configFile: string): string {
    return join(dirname(configFile), "dynamic_inventories");
  }

  /** Module names found in the directory (sorted), whether disabled or not. */
  discover(): string[] {
    return this.moduleFiles().map((m) => m.name);
  }

  /** The directory's modules (.js/.mjs/.py), sorted by file name. */
  private moduleFiles(): Module[] {
    if (!existsSync(this.o.dir)) return [];
    return readdirSync(this.o.dir)
      .sort()
      .filter((f) => f.endsWith(".js") || f.endsWith(".mjs") || isPythonModule(f))
      .map((f) => ({ name: basename(f, extname(f)), file: join(this.o.dir, f), python: isPythonModule(f) }));
  }

  start(): string[] {
    const candidates: Module[] = (this.o.builtins ?? []).map(builtinModule);
    for (const m of this.moduleFiles()) {
      if (candidates.some((c) => c.name === m.name)) {
        this.o.log("error", "dynamic inventory module not started: its name is already taken", {
          module: m.name,
          file: m.file,
        });
        continue;
      }
      candidates.push(m);
    }
    const started: string[] = [];
    for (const c of candidates) {
      if (this.o.disabled?.includes(c.name)) {
        this.o.log("info", "dynamic inventory disabled by configuration", { module: c.name });
        continue;
      }
      this.begin(c);
      started.push(c.name);
    }
    this.sampler = setInterval(() => {
      try {
        this.sample();
      } catch (err) {
        this.o.log("error", "sampling the dynamic inventories' processes failed", { err: String(err) });
      }
    }, this.o.sampleMs ?? 1000);
    this.sampler.unref();
    return started;
  }

  /** Usage of a module's processes at the last sample. */
  usage(module: string): ModuleUsage | undefined {
    return this.modules.get(module)?.usage;
  }

  private begin(m: Module): void {
    const r: Running = {
      ...m,
      box: undefined,
      gate: new Gate({
        module: m.name,
        log: this.o.log,
        accept: (targets, line) => this.accept(r, targets, line),
        onDropped: (reason, n) => this.countDrop(m.name, reason, n),
        publishIntervalMs: this.o.publishIntervalMs ?? 1000,
      }),
      failures: 0,
      timer: undefined,
      usage: { cpuSeconds: 0, residentBytes: 0, processes: 0 },
      groupCpu: 0,
      startedAt: 0,
    };
    this.modules.set(m.name, r);
    this.launch(r);
  }

  private get memoryBytes(): number {
    return this.o.memoryBytes ?? LIMITS.memoryBytes;
  }

  private launch(r: Running): void {
    if (this.stopped) return;
    try {
      this.spawn(r);
    } catch (err) {
      // Spawning itself failed (e.g. no pipes left): a crash like any other, retried with backoff.
      r.box = undefined;
      this.failed(r, `could not start: ${(err as Error).message}`);
    }
  }

  private spawn(r: Running): void {
    r.fatal = undefined;
    r.groupCpu = 0;
    r.startedAt = performance.now();
    // A Python module runs where the original ran: in the directory of netprobify's configuration
    // (its working directory), given its file's name relative to it, "<module>.yaml".
    const cwd = r.python ? dirname(this.o.configFile) : undefined;
    const box: Sandbox = new Sandbox({
      argv: r.python ? pythonCommand(this.o.python) : nodeCommand(this.memoryBytes),
      cwd,
      limits: { memoryBytes: this.memoryBytes, openFiles: LIMITS.openFiles },
      maxMessageBytes: LIMITS.messageBytes,
      bytesPerSecond: LIMITS.bytesPerSecond,
      linesPerSecond: LIMITS.linesPerSecond,
      onMessage: (m, line) => {
        if (r.box === box) this.message(r, m, line);
      },
      // bootstrap.js writes every list with this prefix: the gate parses only the ones it keeps.
      rawPrefix: PUBLISH_PREFIX,
      onRaw: (line) => {
        if (r.box === box) r.gate.publish(line);
      },
      onMalformed: (line) => r.gate.drop("malformed", { line: line.slice(0, 200) }),
      onOutput: (stream, line) => r.gate.log(stream === "stderr" ? "warn" : "info", line, { stream }),
      onOversize: (stream, bytes) =>
        r.gate.drop(stream === "channel" ? "too_large" : "log", { stream, bytes }),
      onExit: (e) => {
        if (r.box !== box || this.stopped) return;
        r.box = undefined;
        r.usage = { ...r.usage, residentBytes: 0, processes: 0 };
        if (e.code === 0 && !e.signal && !r.fatal) {
          this.o.log("info", "dynamic inventory returned", { module: r.name });
          return;
        }
        this.failed(r, describeExit(e, this.memoryBytes, r.fatal));
      },
    });
    r.box = box;
    this.o.log("info", "dynamic inventory process started", {
      module: r.name,
      pid: box.pgid,
      memoryLimitMb: Math.round(this.memoryBytes / 2 ** 20),
    });
    box.send({
      type: "init",
      name: r.name,
      file: r.file,
      loggingLevel: this.o.loggingLevel,
      configPath: r.python ? `${r.name}.yaml` : join(dirname(this.o.configFile), `${r.name}.yaml`),
      options: r.options,
    });
  }

  private message(r: Running, m: Record<string, unknown>, line: string): void {
    if (m.type === "publish") r.gate.publish(line);
    else if (m.type === "failure") {
      this.count(r.name, "reported");
      r.gate.log("error", String(m.msg ?? "failure"), {});
    } else if (m.type === "log") {
      const level = (["debug", "info", "warn", "error"] as const).find((l) => l === m.level) ?? "info";
      r.gate.log(level, String(m.msg ?? ""), m.fields);
    } else if (m.type === "fatal") r.fatal = String(m.msg ?? "").slice(0, LIMITS.logLineChars);
  }

  /** A list through the gate: in force if it differs from the last one, confirmed if not. */
  private accept(r: Running, targets: unknown, line: string): void {
    if (this.modules.get(r.name) !== r) return;
    this.lastPublish.set(r.name, Date.now());
    if (line === r.lastLine) return;
    r.lastLine = line;
    this.published.set(r.name, targets);
    this.o.onPublish?.(r.name, targets);
  }

  private countDrop(module: string, reason: DropReason, n: number): void {
    const per = this.dropped.get(module) ?? new Map<DropReason, number>();
    per.set(reason, (per.get(reason) ?? 0) + n);
    this.dropped.set(module, per);
    this.o.onDropped?.(module, reason, n);
  }

  private failed(r: Running, reason: string): void {
    // Delays double while the module keeps failing soon after each start, even if it publishes
    // first (the original's example publishes, then dies of a NameError); a long run resets them.
    const maxBackoff = this.o.maxBackoffMs ?? 60_000;
    if (performance.now() - r.startedAt >= (this.o.healthyMs ?? maxBackoff)) r.failures = 0;
    r.failures++;
    this.count(r.name, "crash");
    const delay = Math.min(maxBackoff, (this.o.backoffMs ?? 1000) * 2 ** (r.failures - 1));
    this.o.log("error", "dynamic inventory failed; its last published targets stay", {
      module: r.name,
      reason,
      restartInMs: delay,
    });
    r.timer = setTimeout(() => this.launch(r), delay);
    r.timer.unref();
  }

  /** Samples the modules' process groups: CPU (a counter across restarts), memory, processes. */
  sample(): void {
    const before = new Map([...this.modules.values()].map((r) => [r, r.usage.cpuSeconds]));
    for (const r of this.modules.values()) {
      if (r.box?.pgid === undefined) continue;
      const u: GroupUsage = treeUsage(r.box.pgid) ?? {
        cpuSeconds: r.groupCpu,
        residentBytes: 0,
        processes: 0,
      };
      // A process of the group that ended unreaped takes its CPU time with it: never count backwards.
      const cpu = r.usage.cpuSeconds + Math.max(0, u.cpuSeconds - r.groupCpu);
      r.groupCpu = u.cpuSeconds;
      r.usage = { cpuSeconds: cpu, residentBytes: u.residentBytes, processes: u.processes };
      if (u.processes > LIMITS.processes && r.box) {
        r.fatal = `too many processes (${u.processes} > ${LIMITS.processes})`;
        r.box.killGroup("SIGKILL");
      }
    }
    for (const [r, cpu] of before) this.o.onUsage?.(r.name, r.usage, r.usage.cpuSeconds - cpu);
  }

  /**
   * Replaces the built-in inventories after a reload: those removed or whose settings changed are
   * stopped (their lists dropped: returned names), new and changed ones started.
   */
  async setBuiltins(builtins: readonly BuiltinInventory[]): Promise<string[]> {
    const dropped: string[] = [];
    const wanted = new Map(
      builtins.filter((b) => !this.o.disabled?.includes(b.name)).map((b) => [b.name, b]),
    );
    for (const r of [...this.modules.values()]) {
      if (r.options === undefined) continue; // a directory module: started once, kept
      const b = wanted.get(r.name);
      if (b && JSON.stringify(b.options) === JSON.stringify(r.options)) {
        wanted.delete(r.name);
        continue;
      }
      this.modules.delete(r.name);
      await this.end(r);
      this.published.delete(r.name);
      this.lastPublish.delete(r.name);
      dropped.push(r.name);
    }
    for (const b of wanted.values()) {
      if (!this.modules.has(b.name)) this.begin(builtinModule(b)); // else a directory module holds the name
    }
    return dropped;
  }

  private async end(r: Running): Promise<void> {
    clearTimeout(r.timer);
    r.gate.close();
    const box = r.box;
    r.box = undefined;
    await box?.stop(this.o.stopGraceMs ?? 3000);
  }

  private count(module: string, reason: FailureReason): void {
    this.failures.set(module, (this.failures.get(module) ?? 0) + 1);
    this.o.onFailure?.(module, reason);
  }

  /** Stops every module: asked to end, their process groups killed after the grace period. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sampler);
    await Promise.all([...this.modules.values()].map((r) => this.end(r)));
  }
}
