// Starts every dynamic-inventory module found in a directory (.js/.mjs), and the built-in ones
// configured under `inventories` (src/inventory/builtin), each in its own worker thread, and keeps
// the last list each one published. A module that throws, rejects or crashes is
// logged, counted and restarted with exponential backoff; its last published targets stay. A module
// that never returns is fine (it lives in its own thread); one that loops forever costs a core, not
// probing. Modules named in global.disable_dynamic_inventories are not started.
import { existsSync, readdirSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { Worker } from "node:worker_threads";

export type InventoryLog = (
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields: Record<string, unknown>,
) => void;

/** A built-in inventory to run (top-level `inventories` of netprobify.yaml). */
export interface BuiltinInventory {
  name: string;
  type: "file" | "http";
  options: unknown;
}

/** Why a module's failure was counted: it crashed (threw, rejected, exited), or it said so. */
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
  /** First restart delay in ms (doubles up to maxBackoffMs). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** A module to run: a file of the directory, or a built-in with its options. */
interface Module {
  name: string;
  file: string;
  options?: unknown;
}

function builtinModule(b: BuiltinInventory): Module {
  return { name: b.name, file: new URL(`./builtin/${b.type}.js`, import.meta.url).href, options: b.options };
}

interface Running extends Module {
  /** JSON of the last published list, to tell a new list from a confirmation of the same one. */
  lastJson?: string;
  worker: Worker | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

export class InventoryHost {
  /** Last list published by each module. */
  readonly published = new Map<string, unknown>();
  /** Failures per module (crash: threw, rejected, exited; reported: the module said so). */
  readonly failures = new Map<string, number>();
  /** Wall-clock ms of each module's last publish (a repeat of the same list counts: it is current). */
  readonly lastPublish = new Map<string, number>();
  private readonly modules = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly o: InventoryHostOptions) {}

  static defaultDir(configFile: string): string {
    return join(dirname(configFile), "dynamic_inventories");
  }

  /** Module names found in the directory (sorted), whether disabled or not. */
  discover(): string[] {
    return this.moduleFiles().map((m) => m.name);
  }

  /** The directory's modules (.js/.mjs), sorted by file name. */
  private moduleFiles(): { name: string; file: string }[] {
    if (!existsSync(this.o.dir)) return [];
    return readdirSync(this.o.dir)
      .sort()
      .filter((f) => f.endsWith(".js") || f.endsWith(".mjs"))
      .map((f) => ({ name: basename(f, extname(f)), file: join(this.o.dir, f) }));
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
    return started;
  }

  private begin(m: Module): void {
    const r: Running = { ...m, worker: undefined, failures: 0, timer: undefined };
    this.modules.set(m.name, r);
    this.launch(r);
  }

  private launch(r: Running): void {
    if (this.stopped) return;
    const workerFile = new URL("./worker.js", import.meta.url);
    const w = new Worker(workerFile, {
      workerData: {
        name: r.name,
        file: r.file,
        loggingLevel: this.o.loggingLevel,
        configPath: join(dirname(this.o.configFile), `${r.name}.yaml`),
        options: r.options,
      },
    });
    r.worker = w;
    w.on(
      "message",
      (m: {
        type: string;
        level?: string;
        msg?: string;
        fields?: Record<string, unknown>;
        targets?: unknown;
      }) => {
        if (m.type === "publish") {
          r.failures = 0;
          this.lastPublish.set(r.name, Date.now());
          const json = JSON.stringify(m.targets);
          if (json === r.lastJson) return;
          r.lastJson = json;
          this.published.set(r.name, m.targets);
          this.o.onPublish?.(r.name, m.targets);
        } else if (m.type === "failure") {
          this.count(r.name, "reported");
          this.o.log("error", m.msg ?? "failure", { module: r.name });
        } else if (m.type === "log") {
          const level = (["debug", "info", "warn", "error"] as const).find((l) => l === m.level) ?? "info";
          this.o.log(level, m.msg ?? "", { ...m.fields, module: r.name });
        }
      },
    );
    w.on("error", (err) => this.failed(r, w, err.message));
    w.on("exit", (code) => {
      if (r.worker === w && !this.stopped && code !== 0) this.failed(r, w, `worker exited with code ${code}`);
      else if (r.worker === w && !this.stopped)
        this.o.log("info", "dynamic inventory returned", { module: r.name });
    });
  }

  private failed(r: Running, w: Worker, reason: string): void {
    if (r.worker !== w || this.stopped) return;
    r.worker = undefined;
    void w.terminate();
    r.failures++;
    this.count(r.name, "crash");
    const delay = Math.min(this.o.maxBackoffMs ?? 60_000, (this.o.backoffMs ?? 1000) * 2 ** (r.failures - 1));
    this.o.log("error", "dynamic inventory failed; its last published targets stay", {
      module: r.name,
      reason,
      restartInMs: delay,
    });
    r.timer = setTimeout(() => this.launch(r), delay);
    r.timer.unref();
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
      clearTimeout(r.timer);
      const w = r.worker;
      r.worker = undefined;
      await w?.terminate();
      this.modules.delete(r.name);
      this.published.delete(r.name);
      this.lastPublish.delete(r.name);
      dropped.push(r.name);
    }
    for (const b of wanted.values()) {
      if (!this.modules.has(b.name)) this.begin(builtinModule(b)); // else a directory module holds the name
    }
    return dropped;
  }

  private count(module: string, reason: FailureReason): void {
    this.failures.set(module, (this.failures.get(module) ?? 0) + 1);
    this.o.onFailure?.(module, reason);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.modules.values()].map(async (r) => {
        clearTimeout(r.timer);
        r.worker?.postMessage({ type: "abort" });
        await r.worker?.terminate();
      }),
    );
  }
}
