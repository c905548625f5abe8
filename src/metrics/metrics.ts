// The daemon's metrics: turns configurations, iteration results and application events into the
// Prometheus series users' alert rules read (names and labels: the original's, docs/migration.md; declared in
// catalog.ts). The configuration last applied decides which series may exist: a reload removes every
// series of a target, group, percentile or probe_name that is gone (or whose labels changed), and
// creates the counters of new target × group pairs at 0 so `increase()` works from the first scrape.
// Results of an iteration that ran under an older configuration are only recorded where the current
// one still allows them, so a removed series never comes back from a late result.

import { collectDefaultMetrics, Registry } from "prom-client";
import type { Config, TargetConfig } from "../config/load.js";
import type { ProbeType } from "../config/schema.js";
import type { IterationResult } from "../engine/engine.js";
import type { TargetIssue } from "../engine/prober.js";
import { compatLost, lossRatio, rttPercentile } from "../engine/results.js";
import { isProbeKind, isTcp, PROBE_TYPE } from "../probes/types.js";
import {
  declOf,
  EXCLUSION_REASONS,
  INTERNAL_ERROR_PLACES,
  type MetricDecl,
  type MetricName,
  PREFIX,
  SERIES_LABELS,
  TARGET_GROUP_LABELS,
  TARGET_LABELS,
  UNMATCHED_REASONS,
} from "./catalog.js";
import { Expositions, type Format } from "./expositions.js";
import { isFlowMetric, type PathReport, PathSeries } from "./path-series.js";
import { type Labels, SeriesStore } from "./registry.js";
import { RttHistogram } from "./rtt-histogram.js";
import { type Exposition, Snapshot } from "./snapshot.js";
import { type IncidentRow, TraceSeries, type TraceTotals } from "./trace-series.js";

/** A dynamic inventory's state (undefined: leave as is). */
export interface InventoryState {
  targets?: number;
  invalid?: number;
  /** Targets left out because they would push the plan over max_probes_per_iteration. */
  overCeiling?: number;
  lastPublishMs?: number;
  /** CPU seconds to add to the inventory's counter. */
  cpuSecondsAdd?: number;
  residentBytes?: number;
}

/**
 * The files a reload reads: the daemon's configuration (netprobify.yaml) and the web configuration
 * (--web.config.file). One gauge covers both (docs/http.md#reloading).
 */
export type ReloadSource = "config" | "web";

export interface MetricsOptions {
  /** Value of netprobify_info's version label. */
  version: string;
  /**
   * Export prom-client's default metrics (process_cpu_seconds_total, process_resident_memory_bytes,
   * process_open_fds, process_start_time_seconds, nodejs_*), fresh at every scrape (default true).
   */
  processMetrics?: boolean;
  /** Age beyond which a scrape renders the process metrics again, in ms (default 1000). */
  processMetricsMaxAgeMs?: number;
}

/** Totals kept outside the registry (log sink, HTTP server), copied in before each rendering. */
export interface OutsideTotals {
  logLinesDropped?: () => number;
  httpConnectionsRefused?: () => number;
}

/** What the prober found while preparing a plan (src/engine/prober.ts `Prepared`). */
export interface PreparedTargets {
  issues: readonly TargetIssue[];
  /** Addresses probed per target name. */
  addresses: ReadonlyMap<string, readonly string[]>;
}

export interface ApplyReport {
  /** Series removed because the configuration no longer has them. */
  removed: number;
}

export interface RecordReport {
  /** Series (target × group) of the result written to the metrics. */
  recorded: number;
  /** Series the applied configuration no longer has (iteration of an older configuration). */
  skipped: number;
}

/**
 * The `state` label of a target: its configured state, else "None", the original's value (its
 * Prometheus client wrote Python's None as "None"). An empty state counts as unset: the original
 * refused `state: ""` (not one of its states) and exported "None" for an empty `state:`.
 */
export const NO_STATE = "None";
export function stateLabel(t: { state?: string | null }): string {
  return t.state ? t.state : NO_STATE;
}

const REASON_LABEL: Record<TargetIssue["kind"], (typeof EXCLUSION_REASONS)[number]> = {
  self: "self",
  unresolved: "unresolved",
  "no-route": "no_route",
};

export class Metrics {
  private readonly store = new SeriesStore();
  /** The ECMP path series (per-flow under a cap, anomalies): docs/paths.md. */
  private readonly paths = new PathSeries(this.store);
  private config: Config | undefined;
  private addresses: ReadonlyMap<string, readonly string[]> = new Map();
  /** Label sets of target × group series under the applied configuration (see seriesLabels). */
  private labelCache = new Map<string, SeriesLabelSet>();
  private readonly rttHistogram: RttHistogram;
  /**
   * The last resolution outcome per app_host_resolution_* series (fingerprint of the addresses, null:
   * failed): kept across reloads while the series exists, so a reload is no resolution change.
   */
  private readonly lastResolution = new Map<string, { labels: Labels; fingerprint: string | null }>();
  /** Address -> TCPsyn targets probing it, for the applied configuration and addresses. */
  private tcpByAddress: Map<string, string[]> | undefined;
  /** The trace-on-loss series (open incidents, trace probes): docs/paths.md. */
  private readonly traces = new TraceSeries(this.store);
  /** The files whose last reload was refused (app_reload_conf_failed_status). */
  private readonly reloadFailed = new Set<ReloadSource>();

  /**
   * The process's own metrics (prom-client's default metrics, as the original's Prometheus client
   * exported its process_* ones), in a registry of their own: they are rendered per scrape (at most
   * once a second), the probe series once per change.
   */
  private readonly runtime: Registry | undefined;
  /** The exposition served to scrapers, rendered once per change (publish()). */
  private readonly exposition: Expositions;
  private outside: OutsideTotals = {};
  /** The outside totals already added to the counters, per counter. */
  private readonly copied = new Map<MetricName, number>();

  constructor(opts: MetricsOptions) {
    this.store.set("netprobify_info", { version: opts.version }, 1);
    this.rttHistogram = new RttHistogram(this.store.registry);
    if (opts.processMetrics !== false) {
      this.runtime = new Registry();
      collectDefaultMetrics({ register: this.runtime });
    }
    const runtime = this.runtime;
    this.exposition = new Expositions(
      this.store.registry,
      (registry) =>
        new Snapshot(registry, {
          beforeRender: () => this.copyOutsideTotals(),
          live: runtime,
          liveMaxAgeMs: opts.processMetricsMaxAgeMs,
        }),
    );
  }

  /** Where the outside totals are read from (log sink, HTTP server). */
  setOutsideTotals(totals: OutsideTotals): void {
    this.outside = totals;
  }

  /** Renders the exposition once, now (after an iteration, a reload): every scrape is served it. */
  publish(): void {
    this.exposition.publish(); // a failure shows on the next snapshot()
  }

  /** The last rendered exposition in `format` (rendered now if none yet). */
  snapshot(format: Format = "text"): Promise<Exposition> {
    return this.exposition.get(format);
  }

  /** One throw or rejection the daemon survived, by where (INTERNAL_ERROR_PLACES). */
  countInternalError(where: string, n = 1): void {
    if (!this.config) return;
    const probe_name = this.config.global.probe_name;
    this.store.inc("netprobify_internal_errors_total", { probe_name, where }, n);
  }

  private copyOutsideTotals(): void {
    if (!this.config) return;
    const probe = { probe_name: this.config.global.probe_name };
    const pairs: [MetricName, (() => number) | undefined][] = [
      ["netprobify_log_lines_dropped_total", this.outside.logLinesDropped],
      ["netprobify_http_connections_refused_total", this.outside.httpConnectionsRefused],
    ];
    for (const [name, read] of pairs) {
      if (!read) continue;
      const total = read();
      const delta = total - (this.copied.get(name) ?? 0);
      if (delta > 0) this.store.inc(name, probe, delta);
      this.copied.set(name, total);
    }
  }

  /** Content-Type of metricsText(), for the HTTP response. */
  get contentType(): string {
    return this.store.registry.contentType;
  }

  /** The exposition text of every series, the process metrics' included, rendered now by prom-client. */
  async metricsText(): Promise<string> {
    const main = await this.store.registry.metrics();
    return this.runtime ? `${main}\n${await this.runtime.metrics()}` : main;
  }

  /** The configuration currently applied, if any. */
  get applied(): Config | undefined {
    return this.config;
  }

  /**
   * Makes `config` the current configuration: removes the series it no longer has, sets the
   * threshold gauges, and creates every new target × group counter at 0.
   */
  applyConfig(config: Config): ApplyReport {
    this.config = config;
    this.tcpByAddress = undefined;
    this.labelCache = new Map();
    const removed = this.store.retain((decl, labels) => this.allowed(decl, labels));
    this.rttHistogram.apply(config, ({ type, ...labels }) => {
      const t = labels.destination === undefined ? undefined : config.targets.get(labels.destination);
      return t?.type === type && this.allowed(declOf("netprobify_ipdv_max_seconds"), labels);
    });
    this.paths.prune();
    for (const [key, r] of this.lastResolution)
      if (!this.store.has("app_host_resolution_change_total", r.labels)) this.lastResolution.delete(key);
    this.traces.prune();
    const s = this.store;
    const probe = { probe_name: config.global.probe_name };
    for (const t of config.targets.values()) {
      if (!t.enabled) continue;
      const target = targetLabels(config, t);
      const p = PREFIX[t.type];
      for (const group of t.groups) {
        const series = { ...target, state: stateLabel(t), group };
        s.inc(`${p}_sent_total` as MetricName, series, 0);
        s.inc(`${p}_loss_total` as MetricName, series, 0);
        const tg = { ...target, group };
        for (const m of PER_TARGET_GROUP_COUNTERS) s.inc(m, tg, 0);
        for (const type of ["latency", "loss"] as const) {
          const v = t.threshold[type];
          if (v === undefined) continue;
          s.set(
            "threshold",
            { ...target, type, state: stateLabel(t), alert_level: t.alert_level ?? "None", group },
            v,
          );
        }
      }
      const facts = isProbeKind(t.type) ? PROBE_TYPE[t.type] : undefined;
      if (facts?.tcp) s.inc("tcpsyn_match_ack_fail_count", target, 0);
      if (facts?.portMismatchMetric) s.inc(facts.portMismatchMetric, target, 0);
    }
    for (const m of PER_PROBE_COUNTERS) s.inc(m, probe, 0);
    for (const where of INTERNAL_ERROR_PLACES)
      s.inc("netprobify_internal_errors_total", { ...probe, where }, 0);
    // Applying a configuration (an inventory refresh too) changes no reload verdict: a refused file
    // stays refused until the daemon reports a reload that succeeds.
    s.set("app_reload_conf_failed_status", probe, this.reloadFailedValue);
    for (const reason of UNMATCHED_REASONS) {
      s.inc("netprobify_unmatched_replies_total", { ...probe, reason }, 0);
    }
    for (const reason of EXCLUSION_REASONS) s.inc("netprobify_targets_excluded", { ...probe, reason }, 0);
    return { removed };
  }

  /**
   * Records what the prober found while preparing a plan: targets left out (by reason) and the
   * addresses each target probes (needed to attribute foreign TCP replies, keyed by address, to
   * targets). Replaces the previous call's issues.
   */
  applyPrepared(prepared: PreparedTargets): void {
    const config = this.requireConfig();
    this.addresses = prepared.addresses;
    this.tcpByAddress = undefined;
    for (const labels of this.store.seriesOf("netprobify_target_issue")) {
      this.store.remove("netprobify_target_issue", labels);
    }
    const probe = { probe_name: config.global.probe_name };
    const excluded = new Map<string, number>(EXCLUSION_REASONS.map((r) => [r, 0]));
    for (const issue of prepared.issues) {
      const t = config.targets.get(issue.target);
      if (!t?.enabled) continue;
      const reason = REASON_LABEL[issue.kind];
      this.store.set(
        "netprobify_target_issue",
        { ...targetLabels(config, t), reason },
        issue.disabled ? 1 : 0,
      );
      if (issue.disabled) {
        excluded.set(reason, excluded.get(reason)! + 1);
        this.clearMeasurements(t);
      }
    }
    for (const [reason, n] of excluded)
      this.store.set("netprobify_targets_excluded", { ...probe, reason }, n);
  }

  /**
   * Adds one iteration's results. `config` is the configuration the iteration ran with (its labels);
   * only series the applied configuration still has are written. Applies `config` first if none is.
   */
  recordIteration(config: Config, result: IterationResult): RecordReport {
    if (!this.config) this.applyConfig(config);
    const current = this.config!;
    const s = this.store;
    let recorded = 0;
    let skipped = 0;
    let probes = 0;
    for (const r of result.series) {
      probes += r.sent + r.failed;
      const t = config.targets.get(r.target);
      if (!t) {
        skipped++;
        continue;
      }
      const l = this.seriesLabels(config, t, r.group);
      const names = TYPE_METRICS[t.type];
      if (!this.allowed(names.sentDecl, l.series)) {
        skipped++;
        continue;
      }
      recorded++;
      s.inc(names.sent, l.series, r.sent, l.seriesKey);
      s.inc(names.loss, l.series, compatLost(r), l.seriesKey);
      s.set(names.ratio, l.series, lossRatio(r), l.seriesKey);
      for (const pc of l.percentiles) {
        const v = rttPercentile(r, pc.value);
        if (v === undefined) s.remove(names.rtt, pc.labels, pc.key);
        else s.set(names.rtt, pc.labels, v, pc.key);
      }
      const tg = l.targetGroup;
      s.inc("app_time_ooo_total", tg, r.negativeRtt, l.targetGroupKey);
      s.inc("netprobify_late_replies_total", tg, r.late, l.targetGroupKey);
      s.inc("netprobify_duplicate_replies_total", tg, r.duplicates, l.targetGroupKey);
      s.inc("netprobify_unsent_probes_total", tg, r.failed, l.targetGroupKey);
      s.inc("netprobify_untimed_replies_total", tg, r.untimed, l.targetGroupKey);
      const n = r.rtts.length;
      this.setOrRemove("netprobify_rtt_min_seconds", tg, n === 0 ? undefined : r.rtts[0], l.targetGroupKey);
      this.setOrRemove(
        "netprobify_rtt_max_seconds",
        tg,
        n === 0 ? undefined : r.rtts[n - 1],
        l.targetGroupKey,
      );
      this.setOrRemove("netprobify_ipdv_mean_seconds", tg, r.ipdvMeanAbs, l.targetGroupKey);
      this.setOrRemove("netprobify_ipdv_max_seconds", tg, r.ipdvMaxAbs, l.targetGroupKey);
      if (this.rttHistogram.enabled) this.rttHistogram.add(l.histogram, l.targetGroupKey, r.rtts);
      for (const [typeCode, n] of r.icmpErrors) {
        const [icmp_type = "", icmp_code = ""] = typeCode.split("/");
        s.inc("netprobify_icmp_errors_total", { ...l.targetGroup, icmp_type, icmp_code }, n);
      }
      for (const [typeCode, n] of r.unreachableBy) {
        const [icmp_type = "", icmp_code = ""] = typeCode.split("/");
        s.inc("netprobify_unreachable_probes_total", { ...l.targetGroup, icmp_type, icmp_code }, n);
      }
    }
    this.recordForeign(config, result);
    const probe = { probe_name: current.global.probe_name };
    for (const [errno, n] of result.sendErrors)
      s.inc("netprobify_send_failures_total", { ...probe, errno }, n);
    s.inc("netprobify_socket_drops_total", probe, Math.max(0, result.socketDrops));
    s.set("app_iteration_time_seconds", probe, result.durationMs / 1000);
    s.inc("app_process_timed_out_total", probe, result.timedOut ? 1 : 0);
    s.inc("netprobify_iterations_total", probe, 1);
    s.set("netprobify_iteration_probes", probe, probes);
    return { recorded, skipped };
  }

  /** A last-iteration gauge: its value, or no series when the iteration measured none (no fake 0). */
  private setOrRemove(name: MetricName, labels: Labels, v: number | undefined, key: string): void {
    if (v === undefined) this.store.remove(name, labels, key);
    else this.store.set(name, labels, v, key);
  }

  /** Writes the ECMP path series of the targets × groups of `reports` (see path-series.ts). */
  recordPaths(config: Config, reports: readonly PathReport[]): void {
    if (!this.config) this.applyConfig(config);
    this.paths.write(this.config!.global.probe_name, reports, (decl, labels) => this.allowed(decl, labels));
  }

  /** Writes the trace-on-loss series: open incidents' rows (their series only), and the totals. */
  recordTraces(config: Config, rows: readonly IncidentRow[], totals: TraceTotals): void {
    if (!this.config) this.applyConfig(config);
    const allowed = (r: IncidentRow) =>
      this.allowed(declOf("netprobify_path_hops"), { destination: r.target, group: r.group });
    this.traces.write(this.config!.global.probe_name, rows.filter(allowed), totals);
  }

  /** Foreign replies: per-target gauges where a target can be named, else netprobify_unmatched_replies_total. */
  private recordForeign(config: Config, result: IterationResult): void {
    const s = this.store;
    const probe = { probe_name: this.config!.global.probe_name };
    const unmatched = (reason: string, n: number) =>
      s.inc("netprobify_unmatched_replies_total", { ...probe, reason }, n);
    const bumpTarget = (name: MetricName, t: TargetConfig, n: number): boolean => {
      const labels = targetLabels(config, t);
      if (!this.allowed(declOf(name), labels)) return false;
      s.inc(name, labels, n);
      return true;
    };
    const f = result.foreign;
    for (const [name, n] of f.portMismatch) {
      const t = config.targets.get(name);
      const metric = t && isProbeKind(t.type) ? PROBE_TYPE[t.type].portMismatchMetric : undefined;
      // A port mismatch of a target this configuration no longer has: counted, not attributed.
      if (!t || !metric || !bumpTarget(metric, t, n)) unmatched("port_mismatch", n);
    }
    for (const [address, n] of f.tcpAckMismatch) {
      let attributed = false;
      for (const name of this.tcpTargetsAt(address)) {
        const t = config.targets.get(name);
        if (t && isTcp(t.type) && bumpTarget("tcpsyn_match_ack_fail_count", t, n)) attributed = true;
      }
      if (!attributed) unmatched("unknown_source", n);
    }
    if (f.addressMismatch > 0) unmatched("address_mismatch", f.addressMismatch);
    if (f.unknownKey > 0) unmatched("unknown_key", f.unknownKey);
    if (f.notAReply > 0) unmatched("not_a_reply", f.notAReply);
    if (f.settledError > 0) unmatched("settled_error", f.settledError);
  }

  /**
   * The label sets (and tracking keys) of one target × group under `config`: built once per applied
   * configuration, so an iteration's thousands of writes do no label or key building. An iteration of
   * an older configuration gets fresh ones.
   */
  private seriesLabels(config: Config, t: TargetConfig, group: string): SeriesLabelSet {
    const cacheable = config === this.config;
    const id = `${t.name}\u0000${group}`;
    const hit = cacheable ? this.labelCache.get(id) : undefined;
    if (hit) return hit;
    const pn = config.global.probe_name;
    const af = t.address_family;
    const series = { probe_name: pn, destination: t.name, address_family: af, state: stateLabel(t), group };
    const seriesKey = SeriesStore.keyOf(SERIES_LABELS, series);
    const targetGroup = { probe_name: pn, destination: t.name, address_family: af, group };
    const set: SeriesLabelSet = {
      series,
      seriesKey,
      targetGroup,
      targetGroupKey: SeriesStore.keyOf(TARGET_GROUP_LABELS, targetGroup),
      histogram: { ...targetGroup, type: t.type },
      percentiles: this.config!.global.percentile.map((value) => {
        const percentile = String(value);
        return { value, labels: { ...series, percentile }, key: `${seriesKey}${percentile}\u0000` };
      }),
    };
    if (cacheable) this.labelCache.set(id, set);
    return set;
  }

  /** TCPsyn targets of the applied configuration that probe `address`. */
  private tcpTargetsAt(address: string): readonly string[] {
    if (!this.tcpByAddress) {
      const m = new Map<string, string[]>();
      for (const [name, addrs] of this.addresses) {
        if (!isTcp(this.config?.targets.get(name)?.type)) continue;
        for (const a of addrs) {
          const l = m.get(a);
          if (l) l.push(name);
          else m.set(a, [name]);
        }
      }
      this.tcpByAddress = m;
    }
    return this.tcpByAddress.get(address) ?? [];
  }

  /**
   * Removes the last-iteration gauges (loss ratio, round-trip percentiles) of a target that probes
   * nothing now (unresolved, own address, no route): they would show stale values as if measured.
   * Its counters stay (and stop growing), so rate and increase() alerts see it.
   */
  private clearMeasurements(t: TargetConfig): void {
    const m = TYPE_METRICS[t.type];
    for (const name of [m.ratio, m.rtt, ...LAST_ITERATION_GAUGES]) {
      for (const labels of this.store.seriesOf(name)) {
        if (labels.destination === t.name) this.store.remove(name, labels);
      }
    }
  }

  /**
   * The outcome of the last reload of one file (`source`): app_reload_conf_failed_status is 1 while
   * the last reload of either file was refused (the running one stays), 0 once both are applied.
   */
  setReloadConfFailed(failed: boolean, source: ReloadSource = "config"): void {
    const config = this.requireConfig();
    if (failed) this.reloadFailed.add(source);
    else this.reloadFailed.delete(source);
    this.store.set(
      "app_reload_conf_failed_status",
      { probe_name: config.global.probe_name },
      this.reloadFailedValue,
    );
  }

  private get reloadFailedValue(): number {
    return this.reloadFailed.size > 0 ? 1 : 0;
  }

  /**
   * A target of the applied configuration was resolved (any destination: hostname, IP literal, subnet,
   * range): `addresses` is what it resolved to, this host's own addresses included, or undefined when
   * the resolution failed. Sets app_host_resolution_status (1 resolved, 0 failed) and counts in
   * app_host_resolution_change_total the first success of the series and every success after it
   * that gave other addresses than the last outcome (a failure in between makes the next success a
   * change, as in the original). A reload that keeps the series keeps what it last resolved to, so
   * resolving again to the same addresses is no change. Returns false for an unknown or disabled target.
   */
  hostResolved(target: string, addresses: readonly string[] | undefined): boolean {
    const labels = this.enabledTargetLabels(target);
    if (!labels) return false;
    const key = SeriesStore.keyOf(TARGET_LABELS, labels);
    const last = this.lastResolution.get(key);
    const now = addresses === undefined ? null : addressesFingerprint(addresses);
    this.store.set("app_host_resolution_status", labels, now === null ? 0 : 1, key);
    const changed = now !== null && (last === undefined || last.fingerprint !== now);
    this.store.inc("app_host_resolution_change_total", labels, changed ? 1 : 0, key);
    this.lastResolution.set(key, { labels, fingerprint: now });
    return true;
  }

  /** app_target_name_dup_total{target_name} += 1 (kept across reloads: it has no probe_name). */
  countTargetNameDup(targetName: string): void {
    this.store.inc("app_target_name_dup_total", { target_name: targetName }, 1);
  }

  /** One more failure of a dynamic inventory (reason: crash or reported). */
  countInventoryError(inventory: string, reason: string): void {
    const probe_name = this.requireConfig().global.probe_name;
    this.store.inc("netprobify_inventory_errors_total", { probe_name, inventory, reason }, 1);
  }

  /** A dynamic inventory's state: targets in force and invalid entries (undefined: leave as is). */
  setInventory(inventory: string, s: InventoryState): void {
    const labels = { probe_name: this.requireConfig().global.probe_name, inventory };
    if (s.cpuSecondsAdd !== undefined)
      this.store.inc("netprobify_inventory_cpu_seconds_total", labels, s.cpuSecondsAdd);
    if (s.residentBytes !== undefined)
      this.store.set("netprobify_inventory_resident_memory_bytes", labels, s.residentBytes);
    if (s.overCeiling !== undefined)
      this.store.set("netprobify_inventory_targets_over_ceiling", labels, s.overCeiling);
    if (s.targets !== undefined) this.store.set("netprobify_inventory_targets", labels, s.targets);
    if (s.invalid !== undefined) this.store.set("netprobify_inventory_invalid_entries", labels, s.invalid);
    if (s.lastPublishMs !== undefined)
      this.store.set("netprobify_inventory_last_publish_timestamp_seconds", labels, s.lastPublishMs / 1000);
  }

  /** Something a dynamic inventory sent or wrote was dropped (reason: see the catalog). */
  countInventoryDropped(inventory: string, reason: string, n: number): void {
    const probe_name = this.requireConfig().global.probe_name;
    this.store.inc("netprobify_inventory_dropped_total", { probe_name, inventory, reason }, n);
  }

  /** Drops the gauges of an inventory that no longer runs (its error counter stays). */
  removeInventory(inventory: string): void {
    const labels = { probe_name: this.requireConfig().global.probe_name, inventory };
    for (const name of [
      "netprobify_inventory_targets",
      "netprobify_inventory_invalid_entries",
      "netprobify_inventory_targets_over_ceiling",
      "netprobify_inventory_last_publish_timestamp_seconds",
      "netprobify_inventory_resident_memory_bytes",
      "netprobify_inventory_cpu_seconds_total",
    ] as const)
      this.store.remove(name, labels);
  }

  /** Number of series held (all metrics). */
  get seriesCount(): number {
    return this.store.size;
  }

  private enabledTargetLabels(name: string): Labels | undefined {
    const config = this.requireConfig();
    const t = config.targets.get(name);
    return t?.enabled ? targetLabels(config, t) : undefined;
  }

  private requireConfig(): Config {
    if (!this.config) throw new Error("Metrics: applyConfig() must be called first");
    return this.config;
  }

  /**
   * Whether a series may exist under the applied configuration: its probe_name is the configured one,
   * its destination an enabled target of the metric's probe type with the same address family, state,
   * alert level and threshold type, its group one of the target's groups, its percentile configured.
   * Labels the configuration does not decide (errno, reason, icmp_type, version...) are always allowed.
   */
  private allowed(decl: MetricDecl, labels: Labels): boolean {
    const c = this.config;
    if (!c) return true;
    if (labels.probe_name !== undefined && labels.probe_name !== c.global.probe_name) return false;
    if (labels.percentile !== undefined && !c.global.percentile.some((p) => String(p) === labels.percentile))
      return false;
    if (labels.destination === undefined) return true;
    const t = c.targets.get(labels.destination);
    if (!t?.enabled) return false;
    if (decl.probeType !== undefined && decl.probeType !== t.type) return false;
    if (labels.address_family !== undefined && labels.address_family !== t.address_family) return false;
    if (labels.state !== undefined && labels.state !== stateLabel(t)) return false;
    if (labels.group !== undefined && !t.groups.includes(labels.group)) return false;
    if (isFlowMetric(decl) && !t.path_metrics && !c.groups.get(labels.group ?? "")?.path_metrics)
      return false;
    if (labels.alert_level !== undefined && labels.alert_level !== (t.alert_level ?? "None")) return false;
    if (labels.type !== undefined && t.threshold[labels.type as "latency" | "loss"] === undefined)
      return false;
    return true;
  }
}

/** The per-series metric names of each probe type (built once: no string work per series). */
const TYPE_METRICS = Object.fromEntries(
  Object.entries(PREFIX).map(([type, p]) => {
    const sent = `${p}_sent_total` as MetricName;
    return [
      type,
      {
        sent,
        sentDecl: declOf(sent),
        loss: `${p}_loss_total` as MetricName,
        ratio: `${p}_loss_ratio` as MetricName,
        rtt: `${p}_round_trip_seconds` as MetricName,
      },
    ];
  }),
) as Record<
  ProbeType,
  { sent: MetricName; sentDecl: MetricDecl; loss: MetricName; ratio: MetricName; rtt: MetricName }
>;

interface SeriesLabelSet {
  series: Labels;
  seriesKey: string;
  targetGroup: Labels;
  targetGroupKey: string;
  /** netprobify_rtt_seconds' labels (target × group and probe type). */
  histogram: Labels;
  /** The applied configuration's percentiles, with the round-trip series' labels and key. */
  percentiles: { value: number; labels: Labels; key: string }[];
}

/** Per target × group gauges of the last iteration, absent when it measured nothing. */
const LAST_ITERATION_GAUGES = [
  "netprobify_rtt_min_seconds",
  "netprobify_rtt_max_seconds",
  "netprobify_ipdv_mean_seconds",
  "netprobify_ipdv_max_seconds",
] as const satisfies readonly MetricName[];

const PER_TARGET_GROUP_COUNTERS = [
  "app_time_ooo_total",
  "netprobify_late_replies_total",
  "netprobify_duplicate_replies_total",
  "netprobify_unsent_probes_total",
  "netprobify_untimed_replies_total",
] as const satisfies readonly MetricName[];

const PER_PROBE_COUNTERS = [
  "app_process_timed_out_total",
  "netprobify_iterations_total",
  "netprobify_socket_drops_total",
  "netprobify_log_lines_dropped_total",
  "netprobify_http_connections_refused_total",
] as const satisfies readonly MetricName[];

/**
 * An order-free fingerprint of a set of addresses (count and two sums of FNV-1a hashes): a subnet's
 * thousands of addresses are remembered in a few bytes, and the same set in another order is the same.
 */
function addressesFingerprint(addresses: readonly string[]): string {
  let xor = 0;
  let sum = 0;
  for (const a of addresses) {
    let h = 0x811c9dc5;
    for (let i = 0; i < a.length; i++) h = Math.imul(h ^ a.charCodeAt(i), 0x01000193);
    xor ^= h;
    sum = (sum + (h >>> 0)) % 0x100000000;
  }
  return `${addresses.length}:${xor >>> 0}:${sum}`;
}

function targetLabels(config: Config, t: TargetConfig): Labels {
  return { probe_name: config.global.probe_name, destination: t.name, address_family: t.address_family };
}
