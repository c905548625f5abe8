// Starts every dynamic-inventory module found in a directory (.js/.mjs), each in its own worker
// thread, and keeps the last list each one published. A module that throws, rejects or crashes is
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

export interface InventoryHostOptions {
  /** Directory holding the modules (default: dynamic_inventories/ beside the configuration file). */
  dir: string;
  /** netprobify's configuration file: a module's own config is `<module>.yaml` beside it. */
  configFile: string;
  loggingLevel: string;
  disabled?: readonly string[];
  log: InventoryLog;
  /** Called whenever a module publishes a new list. */
  onPublish?: (module: string, targets: unknown) => void;
  /** First restart delay in ms (doubles up to maxBackoffMs). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

interface Running {
  name: string;
  file: string;
  worker: Worker | undefined;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

export class InventoryHost {
  /** Last list published by each module. */
  readonly published = new Map<string, unknown>();
  /** Failures (throw, rejection, crash) per module, for the metrics. */
  readonly failures = new Map<string, number>();
  private readonly modules = new Map<string, Running>();
  private stopped = false;

  constructor(private readonly o: InventoryHostOptions) {}

  static defaultDir(configFile: string): string {
    return join(dirname(configFile), "dynamic_inventories");
  }

  /** Module names found in the directory (sorted), whether disabled or not. */
  discover(): string[] {
    if (!existsSync(this.o.dir)) return [];
    return readdirSync(this.o.dir)
      .filter((f) => f.endsWith(".js") || f.endsWith(".mjs"))
      .map((f) => basename(f, extname(f)))
      .sort();
  }

  start(): string[] {
    const started: string[] = [];
    for (const f of existsSync(this.o.dir) ? readdirSync(this.o.dir).sort() : []) {
      if (!f.endsWith(".js") && !f.endsWith(".mjs")) continue;
      const name = basename(f, extname(f));
      if (this.o.disabled?.includes(name)) {
        this.o.log("info", "dynamic inventory disabled by configuration", { module: name });
        continue;
      }
      const r: Running = {
        name,
        file: join(this.o.dir, f),
        worker: undefined,
        failures: 0,
        timer: undefined,
      };
      this.modules.set(name, r);
      this.launch(r);
      started.push(name);
    }
    return started;
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
          this.published.set(r.name, m.targets);
          r.failures = 0;
          this.o.onPublish?.(r.name, m.targets);
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
    this.failures.set(r.name, (this.failures.get(r.name) ?? 0) + 1);
    const delay = Math.min(this.o.maxBackoffMs ?? 60_000, (this.o.backoffMs ?? 1000) * 2 ** (r.failures - 1));
    this.o.log("error", "dynamic inventory failed; its last published targets stay", {
      module: r.name,
      reason,
      restartInMs: delay,
    });
    r.timer = setTimeout(() => this.launch(r), delay);
    r.timer.unref();
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
