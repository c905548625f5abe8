// The long-running prober: one iteration every `interval` seconds (start to start; an iteration that
// takes longer is followed at once), DNS kept fresh in the background, the configuration reloaded on
// SIGHUP and every `reload_conf_interval` (a bad file changes nothing: the running configuration goes
// on and the failure is visible), and a prompt, clean stop on SIGTERM/SIGINT. Metrics and the HTTP
// endpoint are reached through the small interfaces below, so the loop is tested without them.

import { statSync } from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { formatDiagnostic } from "../config/format.js";
import { type Config, loadConfig } from "../config/load.js";
import { targetProbes } from "../config/plan-size.js";
import type { Engine, IterationResult } from "../engine/engine.js";
import { engineOptions } from "../engine/from-config.js";
import type { ProbePlan } from "../engine/plan.js";
import { openEngine, planFor, resolveOne, type TargetIssue } from "../engine/prober.js";
import { WARM_UP_ROUNDS, warmUp } from "../engine/warmup.js";
import { ConfigError, errorText } from "../errors.js";
import { validateEntries } from "../inventory/entries.js";
import { type BuiltinInventory, InventoryHost } from "../inventory/host.js";
import { shardFilter } from "../inventory/shard.js";
import type { InventoryState } from "../metrics/metrics.js";
import type { PathReport } from "../metrics/path-series.js";
import type { IncidentRow, TraceTotals } from "../metrics/trace-series.js";
import { ledgerAnomalies } from "../paths/anomaly-source.js";
import { engineRunner } from "../paths/engine-runner.js";
import { inConfig, pathReports } from "../paths/export.js";
import { Ledger } from "../paths/ledger.js";
import { verdictJudge } from "../paths/trace.js";
import type { PathsDocument } from "../paths/trace-export.js";
import { PathTracing } from "../paths/tracing.js";
import { type Lookup, localAddresses } from "../targets/resolve.js";
import { releaseYoungGeneration } from "../young-generation.js";
import { errorFields, type Logger, levelFor } from "./logger.js";
import { UnreachableLog } from "./unreachable-log.js";

/** What the daemon reports to: the subset of src/metrics' Metrics it calls (tests pass a recorder). */
export interface DaemonMetrics {
  applyConfig(config: Config): unknown;
  applyPrepared(prepared: {
    issues: readonly TargetIssue[];
    addresses: ReadonlyMap<string, readonly string[]>;
  }): void;
  recordIteration(config: Config, result: IterationResult): unknown;
  /** The ECMP path series (anomalies, opted-in flows) from the ledger, after each iteration. */
  recordPaths?(config: Config, reports: readonly PathReport[]): void;
  /** The trace-on-loss series (open incidents, trace probes), from src/paths/tracing.ts. */
  recordTraces?(config: Config, rows: readonly IncidentRow[], totals: TraceTotals): void;
  setReloadConfFailed(failed: boolean): void;
  /** A target was resolved to `addresses` (this host's included), or not (undefined). */
  hostResolved(target: string, addresses: readonly string[] | undefined): boolean;
  countTargetNameDup?(targetName: string): void;
  countInventoryError?(inventory: string, reason: string): void;
  setInventory?(inventory: string, s: InventoryState): void;
  countInventoryDropped?(inventory: string, reason: string, n: number): void;
  removeInventory?(inventory: string): void;
  /** One throw or rejection the loop survived (where: INTERNAL_ERROR_PLACES of src/metrics/catalog.ts). */
  countInternalError?(where: string, n?: number): void;
  /** The series changed (an iteration, a reload): produce the exposition served to scrapers once. */
  publish?(): void;
}

export interface DaemonOptions {
  file: string;
  log: Logger;
  metrics?: DaemonMetrics;
  /** Opens the engine (tests inject fakes). */
  openEngine?: (config: Config) => Engine;
  lookup?: Lookup;
  /** Monotonic ms clock. */
  now?: () => number;
  /** Reads and validates the file (tests inject failures); default loadConfig. */
  loadConfig?: (file: string) => Promise<Config>;
  /** Restart backoff of inventory modules (tests shorten it). */
  inventoryBackoff?: { backoffMs?: number; maxBackoffMs?: number };
}

interface Resolution {
  addresses: string[];
  issue?: TargetIssue;
  /** Monotonic ms of the last resolution. */
  at: number;
}

/**
 * How long a reload or an inventory change waits for the resolution of its new targets before the
 * loop goes on (a dead resolver takes 5 s per attempt and name, glibc's default).
 */
const RESOLVE_WAIT_MS = 1_000;
/**
 * The same at start-up: the first iteration includes every name a working resolver answers, but a
 * dead one (thousands of names, two lookups at a time: libuv gives slow work half its pool) does not
 * keep the daemon from serving and probing everything else for an hour.
 */
const START_RESOLVE_WAIT_MS = 5_000;

export class Daemon {
  /** The running configuration: the file's, plus inventory targets. */
  config!: Config;
  /** The configuration file's own content. */
  private fileConfig!: Config;
  private engine: Engine | undefined;
  private inventory: InventoryHost | undefined;
  private readonly inventoryLists = new Map<string, unknown>();
  private inventoryDirty = false;
  private inventoryCheckedAt = 0;
  private plan: ProbePlan | undefined;
  private planIssues: TargetIssue[] = [];
  private planDirty = true;
  /** The engine's hot functions ran once on fake sockets before the first iteration (engine/warmup.ts). */
  private warmed = false;
  private readonly resolved = new Map<string, Resolution>();
  private readonly resolving = new Set<string>();
  private running = false;
  private wake: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloadRequested = false;
  /** The configuration validated during the last iteration, and the identity of the file it came from. */
  private early: { config: Config; stamp: string } | undefined;
  /** True while engine.run() is in progress (a SIGHUP then validates the file at once). */
  private iterating = false;
  private validating = false;
  private readonly now: () => number;
  /** Resolves when the loop has ended. */
  done: Promise<void> = Promise.resolve();
  iterations = 0;
  /** Engine iterations run: each turns the order of the plan's flows once more (src/engine/rotation.ts). */
  private runs = 0;

  constructor(private readonly o: DaemonOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  private readonly unreachableLog = new UnreachableLog();
  /** Per-flow figures of the recent iterations (src/paths): anomalies, path metrics, traces. */
  readonly ledger = new Ledger();
  /** Trace-on-loss (src/paths/tracing.ts): incidents traced between iterations. */
  private tracing: PathTracing | undefined;

  private get log(): Logger {
    return this.o.log;
  }

  /** Loads the configuration and opens the sockets; throws ConfigError or a socket error. */
  async init(): Promise<void> {
    this.config = await (this.o.loadConfig ?? loadConfig)(this.o.file);
    this.fileConfig = this.config;
    this.logWarnings(this.config);
    this.log.level = levelFor(this.config.global.logging_level);
    this.engine = (this.o.openEngine ?? openEngine)(this.config);
    this.tracing = new PathTracing({
      runner: engineRunner(
        () => this.engine,
        () => this.plan,
      ),
      anomalies: ledgerAnomalies(this.ledger, () => this.config),
      judge: verdictJudge,
      log: (level, msg, fields) => this.log[level](fields, msg),
      metrics: {
        recordTraces: (config, rows, totals) => this.o.metrics?.recordTraces?.(config, rows, totals),
        publish: () => this.o.metrics?.publish?.(),
      },
      onError: () => this.o.metrics?.countInternalError?.("trace"),
    });
    this.tracing.configure(this.config);
    this.o.metrics?.applyConfig(this.config);
    this.o.metrics?.setReloadConfFailed(false);
    await this.resolveDue(START_RESOLVE_WAIT_MS);
    this.o.metrics?.publish?.();
  }

  /**
   * Starts the dynamic inventories: the modules found beside the configuration (or in
   * dynamic_inventories_dir) and the built-in ones under `inventories`.
   */
  startInventories(): string[] {
    const g = this.fileConfig.global;
    const dir = g.dynamic_inventories_dir
      ? resolvePath(dirname(this.o.file), g.dynamic_inventories_dir)
      : InventoryHost.defaultDir(this.o.file);
    this.inventory = new InventoryHost({
      dir,
      configFile: this.o.file,
      loggingLevel: g.logging_level,
      disabled: g.disable_dynamic_inventories,
      builtins: builtinsOf(this.fileConfig),
      log: (level, msg, fields) => this.log[level](fields, msg),
      onPublish: (module, targets) => {
        this.inventoryLists.set(module, targets);
        this.inventoryDirty = true;
      },
      onFailure: (module, reason) => this.o.metrics?.countInventoryError?.(module, reason),
      onDropped: (module, reason, n) => this.o.metrics?.countInventoryDropped?.(module, reason, n),
      onUsage: (module, u, cpuDelta) =>
        this.o.metrics?.setInventory?.(module, { cpuSecondsAdd: cpuDelta, residentBytes: u.residentBytes }),
      memoryBytes: g.dynamic_inventories_memory_mb * 2 ** 20,
      python: g.dynamic_inventories_python,
      ...this.o.inventoryBackoff,
    });
    return this.inventory.start();
  }

  /** Starts the iteration loop (after init). */
  start(): void {
    this.running = true;
    this.armReloadTimer();
    this.done = this.loop();
    this.tracing?.start();
  }

  /** The GET /paths document (trace-on-loss incidents, hop lists, verdicts). */
  pathsDocument(): PathsDocument {
    return this.tracing?.document() ?? { enabled: false, incidents: [] };
  }

  /** Stops promptly: the current iteration is abandoned, sockets closed. */
  async stop(): Promise<void> {
    // Also before start(): init() may have opened sockets that must not keep the process alive.
    this.running = false;
    clearTimeout(this.sleepTimer);
    clearInterval(this.reloadTimer);
    this.wake?.();
    const tracing = this.tracing?.stop();
    this.engine?.close();
    this.engine = undefined;
    await tracing;
    await this.inventory?.stop();
  }

  /**
   * Asks for a reload; it is applied between iterations. During an iteration the file is validated
   * at once, so a bad one is reported (log, failed gauge) without waiting for the iteration to end.
   */
  requestReload(): void {
    this.reloadRequested = true;
    if (this.iterating && !this.validating) {
      // One validation at a time: a burst of SIGHUPs does not read the file a hundred times.
      this.validating = true;
      void this.guard("reload", () => this.validateEarly()).finally(() => {
        this.validating = false;
      });
    }
    this.wake?.();
  }

  /**
   * Reads the file during an iteration: a bad one is refused now; a good one is kept with the file's
   * identity, so that reload() at the iteration's end applies it without reading it again (a large
   * file takes a good part of a second to validate) unless the file changed meanwhile.
   */
  private async validateEarly(): Promise<void> {
    this.early = undefined;
    try {
      const stamp = fileStamp(this.o.file);
      const config = await (this.o.loadConfig ?? loadConfig)(this.o.file);
      if (stamp !== undefined) this.early = { config, stamp };
    } catch {
      // Any error refuses the file, as in reload(). The loop's reload() reads the file again at the
      // end of the iteration and reports it then, once; here only the gauge goes up at once.
      this.o.metrics?.setReloadConfFailed(true);
      this.o.metrics?.publish?.();
      this.log.error(
        { file: this.o.file },
        "reload refused: the file is invalid (details after this iteration)",
      );
    }
  }

  /**
   * Runs one step of the loop; a throw or rejection is logged and counted (netprobify_internal_errors_total
   * {where}) and the loop goes on: a daemon that stops probing is worse than one iteration lost.
   */
  private async guard<T>(where: string, step: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await step();
    } catch (err) {
      this.log.error({ where, err: errorFields(err) }, "internal error: the daemon goes on");
      try {
        this.o.metrics?.countInternalError?.(where);
      } catch {
        // counting must not be what stops the loop
      }
      return undefined;
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const t0 = this.now();
      if (this.reloadRequested) await this.guard("reload", () => this.reload());
      if (!this.running) break;
      await this.guard("inventory", () => this.refreshInventory());
      void this.guard("dns", () => this.resolveDue(0));
      if (this.planDirty) await this.guard("plan", () => this.rebuildPlan());
      await this.iterate();
      if (!this.running) break;
      // A SIGHUP that came during the iteration is applied now, not after the sleep.
      if (this.reloadRequested) await this.guard("reload", () => this.reload());
      const wait = t0 + this.config.global.interval * 1000 - this.now();
      // interval 0 (or an iteration longer than it): the next starts at once, as in the original, but
      // through a timer, so HTTP scrapes, signals and reloads are served between iterations.
      await this.sleep(Math.max(0, wait));
    }
  }

  /** One probing iteration and its recording; failures are survived (see guard). */
  private async iterate(): Promise<void> {
    const engine = this.engine;
    if (!engine || !this.plan || this.plan.count === 0) {
      this.iterations++;
      // Nothing to probe (e.g. every target unresolved): the changes still reach the scrapes.
      await this.guard("metrics", () => this.o.metrics?.publish?.());
      return;
    }
    if (!this.warmed) {
      this.warmed = true;
      const plan = this.plan;
      // The rounds' results go through a scratch ledger and its path reports as an iteration's do:
      // trained only by the first real iterations, V8 compiled the ledger's recording again in
      // iterations 2 to 11 (docs/performance.md, the daemon's steady state).
      const scratch = new Ledger();
      const config = this.config;
      const w = await this.guard("plan", () =>
        warmUp(plan, engineOptions(config), undefined, WARM_UP_ROUNDS, (r) => {
          if (!r.flows) return;
          scratch.record(r.series, r.flows);
          pathReports(scratch, config);
        }),
      );
      if (w)
        this.log.info({ probes: w.probes, answered: w.answered, ms: Math.round(w.ms) }, "engine warmed up");
      if (!this.running) return;
    }
    // stop() closes the engine, which settles a running iteration at once.
    this.iterating = true;
    const result = await this.guard("iteration", () => engine.run(this.plan!, this.runs++));
    this.iterating = false;
    if (!this.running || result === undefined) return;
    this.iterations++;
    // Logged first: the line's time is the iteration's end (the scrape benchmark reads it).
    const lost = result.series.reduce((n, s) => n + s.lost, 0);
    const sent = result.series.reduce((n, s) => n + s.sent, 0);
    const untimed = result.series.reduce((n, s) => n + s.untimed, 0);
    this.log[this.config.global.verbose ? "info" : "debug"](
      { sent, lost, untimed, ms: Math.round(result.durationMs), timedOut: result.timedOut },
      "iteration done",
    );
    for (const [errno, n] of result.sendErrors)
      this.log.warn({ errno, count: n }, "probes not sent (counted as failed, not as loss)");
    this.unreachableLog.add(result.foreign.unreachableFrom, this.log);
    for (const [where, n] of result.faults) {
      this.log.error({ where, count: n }, "socket fault survived (counted; the sockets are read again)");
      this.o.metrics?.countInternalError?.(where, n);
    }
    await this.guard("metrics", () => {
      this.o.metrics?.recordIteration(this.config, result);
      if (result.flows) this.ledger.record(result.series, result.flows);
      this.tracing?.afterIteration();
      this.o.metrics?.recordPaths?.(this.config, pathReports(this.ledger, this.config));
      this.o.metrics?.publish?.();
    });
    // Start-up is over (its peak, the first iteration's ledger, included): each later iteration makes
    // its results and scrapes in V8's young generation, which may grow again for them.
    if (this.iterations === 1) releaseYoungGeneration();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.sleepTimer);
        this.wake = undefined;
        resolve();
      };
      this.sleepTimer = setTimeout(() => this.wake?.(), ms);
    });
  }

  private armReloadTimer(): void {
    clearInterval(this.reloadTimer);
    const every = this.config.global.reload_conf_interval;
    if (every > 0) this.reloadTimer = setInterval(() => this.requestReload(), every * 1000);
  }

  /** Callers of reloadAndWait, told the outcome of the next reload. */
  private reloadWaiters: ((ok: boolean) => void)[] = [];

  /** requestReload, resolving with the outcome once the reload is done (POST /-/reload answers it). */
  reloadAndWait(): Promise<boolean> {
    const outcome = new Promise<boolean>((resolve) => this.reloadWaiters.push(resolve));
    this.requestReload();
    return outcome;
  }

  /** Validates the file again; a bad one keeps everything as it is. */
  async reload(): Promise<boolean> {
    const waiters = this.reloadWaiters.splice(0);
    let ok = false;
    try {
      ok = await this.reloadNow();
      return ok;
    } finally {
      for (const tell of waiters) tell(ok);
    }
  }

  private async reloadNow(): Promise<boolean> {
    this.reloadRequested = false;
    const early = this.early;
    this.early = undefined;
    let next: Config;
    try {
      next =
        early !== undefined && early.stamp === fileStamp(this.o.file)
          ? early.config
          : await (this.o.loadConfig ?? loadConfig)(this.o.file);
    } catch (err) {
      // Any error, not only a ConfigError, refuses the reload: the running configuration goes on.
      if (err instanceof ConfigError)
        for (const d of err.diagnostics) this.log.error({ rule: d.rule }, formatDiagnostic(err.file, d));
      else this.log.error({ err: errorFields(err) }, `${this.o.file}: reload failed: ${errorText(err)}`);
      this.log.error("reload refused: the running configuration stays in force");
      this.o.metrics?.setReloadConfFailed(true);
      this.o.metrics?.publish?.();
      return false;
    }
    this.logWarnings(next);
    // Applied first, the file and its built-in inventories taken only then: a file refused for want
    // of sockets must leave nothing behind (the inventories' re-check would apply it later, unasked).
    if (!(await this.apply(this.withInventory(next, true)))) {
      this.o.metrics?.setReloadConfFailed(true);
      this.o.metrics?.publish?.();
      return false;
    }
    this.fileConfig = next;
    const gone = (await this.inventory?.setBuiltins(builtinsOf(next))) ?? [];
    for (const name of gone) {
      this.inventoryLists.delete(name);
      this.o.metrics?.removeInventory?.(name);
      this.log.info({ module: name }, "built-in inventory stopped or restarted by the reload");
    }
    // Their targets go with them (a restarted one publishes again).
    if (gone.length > 0) await this.apply(this.withInventory(next, false));
    this.o.metrics?.setReloadConfFailed(false);
    this.o.metrics?.publish?.();
    this.armReloadTimer();
    this.log.info({ targets: this.config.targets.size, groups: next.groups.size }, "configuration reloaded");
    return true;
  }

  /**
   * Makes `next` (the file's configuration plus inventory targets) the running one, between
   * iterations: new sockets if families, ports or pacing changed; unchanged targets keep their
   * resolution and series. False (nothing changed) when the sockets it needs cannot be opened.
   */
  private async apply(next: Config): Promise<boolean> {
    const prev = this.config;
    if (stableJson(engineOptions(prev)) !== stableJson(engineOptions(next)) || !this.engine) {
      let engine: Engine;
      try {
        engine = (this.o.openEngine ?? openEngine)(next);
      } catch (err) {
        // E.g. privileges dropped with --user: new raw sockets cannot be opened. Keep what runs.
        this.log.error(
          { err: errorText(err) },
          "configuration change refused: cannot open the sockets it needs",
        );
        return false;
      }
      this.engine?.close();
      this.engine = engine;
    }
    this.config = next;
    this.log.level = levelFor(next.global.logging_level);
    for (const name of [...this.resolved.keys()]) {
      const a = prev.targets.get(name);
      const b = next.targets.get(name);
      if (!a || !b || stableJson(a) !== stableJson(b)) this.resolved.delete(name);
    }
    this.o.metrics?.applyConfig(next);
    this.ledger.retain(inConfig(next));
    this.tracing?.configure(next);
    // New and changed targets are resolved before the next iteration if their names answer quickly;
    // a slow or dead resolver must not hold the loop (probing) for its timeouts: those targets join
    // the plan when their resolution arrives.
    await this.resolveDue(RESOLVE_WAIT_MS);
    this.planDirty = true;
    return true;
  }

  /**
   * The file's configuration plus the valid, unexpired, in-shard targets the inventories published,
   * as long as the plan stays within global.max_probes_per_iteration (the excess is refused).
   */
  private withInventory(file: Config, report: boolean): Config {
    if (this.inventoryLists.size === 0) return file;
    const targets = new Map(file.targets);
    const now = new Date(Date.now());
    const ceiling = file.global.max_probes_per_iteration;
    let planned = 0;
    for (const t of file.targets.values()) planned += targetProbes(t);
    for (const [module, list] of this.inventoryLists) {
      const r = validateEntries(module, list, file, now);
      let added = 0;
      let overCeiling = 0;
      if (report) {
        for (const p of r.invalid)
          this.log.warn(
            { module, entry: p.index, target: p.name },
            `inventory entry skipped: ${p.messages.join("; ")}`,
          );
        if (r.expired.length > 0)
          this.log.info({ module, expired: r.expired.length }, "inventory targets expired");
      }
      for (const t of shardFilter(r.targets, (x) => x.name, file.global.shard)) {
        if (targets.has(t.name)) {
          if (report) {
            this.log.warn({ module, target: t.name }, "inventory target name already in use: skipped");
            this.o.metrics?.countTargetNameDup?.(t.name);
          }
          continue;
        }
        const probes = targetProbes(t);
        if (planned + probes > ceiling) {
          overCeiling++;
          continue;
        }
        planned += probes;
        targets.set(t.name, t);
        added++;
      }
      if (report && overCeiling > 0)
        this.log.warn(
          { module, refused: overCeiling, ceiling },
          "inventory targets refused: they would take the plan over global.max_probes_per_iteration",
        );
      if (report)
        this.o.metrics?.setInventory?.(module, { targets: added, invalid: r.invalid.length, overCeiling });
    }
    return { ...file, targets };
  }

  /** Folds what the inventories published (or what expired) into the running configuration. */
  private async refreshInventory(): Promise<void> {
    for (const [module, at] of this.inventory?.lastPublish ?? [])
      this.o.metrics?.setInventory?.(module, { lastPublishMs: at });
    const now = this.now();
    if (!this.inventoryDirty && now - this.inventoryCheckedAt < 60_000) return;
    const report = this.inventoryDirty;
    this.inventoryDirty = false;
    this.inventoryCheckedAt = now;
    const next = this.withInventory(this.fileConfig, report);
    if (stableJson([...next.targets.keys()]) === stableJson([...this.config.targets.keys()]) && !report)
      return;
    await this.apply(next);
    this.o.metrics?.publish?.();
  }

  /**
   * Resolves targets that were never resolved, or whose dns_update_interval has passed; waits for
   * their answers at most `waitMs` (those that come later still reach the plan: planDirty).
   */
  private async resolveDue(waitMs: number): Promise<void> {
    const now = this.now();
    let local: ReadonlySet<string> | undefined; // read once, and only when something is due
    const jobs: Promise<void>[] = [];
    for (const t of this.config.targets.values()) {
      if (!t.enabled || this.resolving.has(t.name)) continue;
      const r = this.resolved.get(t.name);
      if (
        r &&
        (t.destination.kind !== "hostname" ||
          t.dns_update_interval === 0 ||
          now - r.at < t.dns_update_interval * 1000)
      ) {
        continue;
      }
      this.resolving.add(t.name);
      local ??= localAddresses();
      const config = this.config;
      jobs.push(
        resolveOne(config, t, { lookup: this.o.lookup, local })
          .then((res) => {
            if (this.config !== config) return; // a reload happened meanwhile
            // A change is a resolution to other addresses; a failure is not one (status says it).
            const changed =
              r !== undefined && res.addresses.length > 0 && r.addresses.join() !== res.addresses.join();
            this.resolved.set(t.name, { addresses: res.addresses, issue: res.issue, at: this.now() });
            // Every target, not only hostnames: IP literals, subnets and ranges "resolve" too (status
            // 1, one change the first time), as in the original.
            const failed = res.issue?.kind === "unresolved";
            this.o.metrics?.hostResolved(
              t.name,
              failed ? undefined : [...res.addresses, ...(res.self ?? [])],
            );
            if (t.destination.kind === "hostname") {
              if (changed) this.log.info({ target: t.name, addresses: res.addresses }, "resolution changed");
              if (res.issue?.kind === "unresolved") this.log.warn({ target: t.name }, res.issue.message);
            }
            if (changed || r === undefined || r.issue?.message !== res.issue?.message) this.planDirty = true;
          })
          // Not awaited by the loop: a rejection here would be unhandled (fatal in Node).
          .catch((err) => {
            this.log.error({ target: t.name, err: errorFields(err) }, "internal error while resolving");
            this.o.metrics?.countInternalError?.("dns");
          })
          .finally(() => this.resolving.delete(t.name)),
      );
    }
    if (waitMs <= 0 || jobs.length === 0) return;
    const all = Promise.all(jobs);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  private async rebuildPlan(): Promise<void> {
    this.planDirty = false;
    const addresses = new Map<string, string[]>();
    const issues: TargetIssue[] = [];
    for (const [name, r] of this.resolved) {
      if (r.addresses.length > 0) addresses.set(name, r.addresses);
      if (r.issue) issues.push(r.issue);
    }
    const planned = await planFor(this.config, addresses);
    this.plan = planned.plan;
    this.planIssues = [...issues, ...planned.issues];
    for (const i of this.planIssues) this.log.warn({ target: i.target, disabled: i.disabled }, i.message);
    this.o.metrics?.applyPrepared({ issues: this.planIssues, addresses: planned.addresses });
  }

  private logWarnings(config: Config): void {
    for (const w of config.warnings) this.log.warn({ rule: w.rule }, formatDiagnostic(config.file, w));
  }
}

/** The built-in inventories a configuration asks for, as the module host takes them. */
function builtinsOf(config: Config): BuiltinInventory[] {
  return [...config.inventories.values()].map(({ name, ...options }) => ({
    name,
    type: options.type,
    options,
  }));
}

/** JSON for comparing configurations (bigints, e.g. subnet networks, as strings). */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

/** The file's identity (device, inode, size, change and modification times in ns); undefined if unreadable. */
function fileStamp(file: string): string | undefined {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}:${st.mtimeNs}`;
  } catch {
    return undefined;
  }
}
