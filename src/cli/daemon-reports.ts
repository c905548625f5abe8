// Where the running daemon's reports go: to the metrics, and the few the status page shows also to
// its state (src/web/api.ts WebState: history, reloads, inventories). Spelled out call by call so
// each route can be read here; the page must never cost the metrics anything, so a throw in it is
// logged and counted as an internal error, and the metrics' answer stands.
import type { Config } from "../config/load.js";
import type { DaemonMetrics } from "../daemon/daemon.js";
import type { IterationResult } from "../engine/engine.js";
import type { InventoryState, Metrics, PreparedTargets } from "../metrics/metrics.js";
import type { PathReport } from "../metrics/path-series.js";
import type { IncidentRow, TraceTotals } from "../metrics/trace-series.js";
import type { WebState } from "../web/api.js";

export class DaemonReports implements DaemonMetrics {
  constructor(
    private readonly metrics: Metrics,
    private readonly page: WebState,
    /** A call of the page's state threw (the metrics have heard the report). */
    private readonly onPageError: (err: unknown) => void,
  ) {}

  applyConfig(config: Config): void {
    this.metrics.applyConfig(config);
    this.tellPage(() => this.page.applyConfig(config));
  }

  applyPrepared(prepared: PreparedTargets): void {
    this.metrics.applyPrepared(prepared);
  }

  recordIteration(config: Config, result: IterationResult): void {
    this.metrics.recordIteration(config, result);
    this.tellPage(() => this.page.recordIteration(config, result));
  }

  recordPaths(config: Config, reports: readonly PathReport[]): void {
    this.metrics.recordPaths(config, reports);
  }

  recordTraces(config: Config, rows: readonly IncidentRow[], totals: TraceTotals): void {
    this.metrics.recordTraces(config, rows, totals);
  }

  /** The daemon's configuration only: the web configuration's reloads report to the metrics themselves. */
  setReloadConfFailed(failed: boolean): void {
    this.metrics.setReloadConfFailed(failed, "config");
    this.tellPage(() => this.page.setReloadConfFailed(failed));
  }

  hostResolved(target: string, addresses: readonly string[] | undefined): boolean {
    return this.metrics.hostResolved(target, addresses);
  }

  countTargetNameDup(targetName: string): void {
    this.metrics.countTargetNameDup(targetName);
  }

  countInventoryError(inventory: string, reason: string): void {
    this.metrics.countInventoryError(inventory, reason);
    this.tellPage(() => this.page.countInventoryError(inventory, reason));
  }

  setInventory(inventory: string, s: InventoryState): void {
    this.metrics.setInventory(inventory, s);
    this.tellPage(() => this.page.setInventory(inventory, s));
  }

  countInventoryDropped(inventory: string, reason: string, n: number): void {
    this.metrics.countInventoryDropped(inventory, reason, n);
  }

  removeInventory(inventory: string): void {
    this.metrics.removeInventory(inventory);
    this.tellPage(() => this.page.removeInventory(inventory));
  }

  countInternalError(where: string, n?: number): void {
    this.metrics.countInternalError(where, n);
  }

  publish(): void {
    this.metrics.publish();
  }

  private tellPage(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.onPageError(err);
    }
  }
}
