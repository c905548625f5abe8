// The status page's JSON API, /api/v1/status, /api/v1/history and /api/v1/target (contract:
// docs/http.md). Answers are built from the in-memory history (history.ts) and the daemon's state
// (WebState below, fed through the same calls the metrics get); src/server/http.ts serves them behind
// the /metrics auth and TLS, gzip-compressed when the client accepts it. Numbers go in columns (one
// array per field) so 5,000 targets × 600 points stay a few megabytes and parse fast in a browser.
import type { Config, TargetConfig } from "../config/load.js";
import type { IterationResult } from "../engine/engine.js";
import { History, QUANTILE_NAMES, type SeriesHistory } from "./history.js";

/** Most ids one /api/v1/history call may ask for. */
export const MAX_IDS = 200;
/** Default and largest number of points per series of /api/v1/history. */
export const DEFAULT_POINTS = 600;
export const MAX_POINTS = 10_000;
/** The window of loss_ratio_window and worst_rtt_window, in seconds. */
export const WINDOW_SECONDS = 3600;

export interface ApiAnswer {
  status: number;
  /** JSON text (also for errors: { error }). */
  body: string;
}

interface InventoryStatus {
  targets: number;
  crashes: number;
  crashesAtPublish: number;
  lastPublishMs: number | undefined;
}

/** Per-flow and per-path details from the ECMP work, when that work is present. */
export interface PathsSource {
  flows(id: string): unknown[] | null;
  paths(id: string): unknown | null;
  suspectLink(id: string): { from: string; to: string; loss: number } | null;
}

/**
 * What the API reads: the history, and the daemon's state as the daemon reports it to its metrics
 * (src/cli/daemon-reports.ts calls the same-named methods here beside those of src/metrics).
 */
export class WebState {
  readonly history: History;
  config: Config | undefined;
  iterations = 0;
  lastDurationSeconds = 0;
  lastProbes = 0;
  reloadFailed = false;
  lastApplied: number | null = null;
  readonly inventories = new Map<string, InventoryStatus>();
  paths: PathsSource | undefined;

  constructor(
    readonly version: string,
    /** Wall clock, unix seconds (tests). */
    readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.history = new History(86400, 30);
  }

  applyConfig(config: Config): void {
    this.config = config;
    this.history.applyConfig(config);
    this.lastApplied = this.now();
  }

  recordIteration(config: Config, result: IterationResult): void {
    this.iterations++;
    this.lastDurationSeconds = result.durationMs / 1000;
    let probes = 0;
    for (const s of result.series) probes += s.sent + s.failed;
    this.lastProbes = probes;
    this.history.record(config, this.now() - this.lastDurationSeconds, result.series);
  }

  setReloadConfFailed(failed: boolean): void {
    this.reloadFailed = failed;
  }

  setInventory(name: string, s: { targets?: number; lastPublishMs?: number }): void {
    const i = this.inventory(name);
    if (s.targets !== undefined) i.targets = s.targets;
    if (s.lastPublishMs !== undefined && s.lastPublishMs !== i.lastPublishMs) {
      i.lastPublishMs = s.lastPublishMs;
      i.crashesAtPublish = i.crashes;
    }
  }

  countInventoryError(name: string, reason: string): void {
    if (reason === "crash") this.inventory(name).crashes++;
  }

  removeInventory(name: string): void {
    this.inventories.delete(name);
  }

  private inventory(name: string): InventoryStatus {
    let i = this.inventories.get(name);
    if (!i) {
      i = { targets: 0, crashes: 0, crashesAtPublish: 0, lastPublishMs: undefined };
      this.inventories.set(name, i);
    }
    return i;
  }
}

/** Answers a GET of `path` (under /api/v1/) with `query`; undefined when the path is no API route. */
export function answerApi(state: WebState, path: string, query: URLSearchParams): ApiAnswer | undefined {
  switch (path) {
    case "/api/v1/status":
      return ok(status(state));
    case "/api/v1/history":
      return history(state, query);
    case "/api/v1/target":
      return target(state, query);
    default:
      return undefined;
  }
}

/** JSON of `v`; `bigints` when it may hold some (a target's configuration: subnets), which costs a replacer call per value. */
function ok(v: unknown, bigints = false): ApiAnswer {
  return {
    status: 200,
    body: bigints
      ? JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x))
      : JSON.stringify(v),
  };
}

function bad(status: number, error: string): ApiAnswer {
  return { status, body: JSON.stringify({ error }) };
}

/** Seconds rounded to the microsecond: shorter JSON, nothing lost that was measured. */
function us(v: number | null | undefined): number | null {
  return v === undefined || v === null ? null : Math.round(v * 1e6) / 1e6;
}

export interface StatusEntry {
  id: string;
  destination: string;
  group: string;
  type: string;
  family: string;
  state: string;
  description: string;
  loss_ratio: number;
  rtt_p50: number | null;
  rtt_p95: number | null;
  loss_ratio_window: number;
  worst_rtt_window: number | null;
  suspect_link: { from: string; to: string; loss: number } | null;
}

function entry(state: WebState, s: SeriesHistory, since: number): StatusEntry {
  const t: TargetConfig = s.targetConfig;
  const w = state.history.window(s, since);
  return {
    id: s.id,
    destination: s.target,
    group: s.group,
    type: t.type,
    family: t.address_family,
    state: t.state ?? "None",
    description: t.description,
    loss_ratio: Math.round(s.lastLossRatio * 1e4) / 1e4,
    rtt_p50: us(s.lastP50),
    rtt_p95: us(s.lastP95),
    loss_ratio_window: Math.round(w.loss * 1e4) / 1e4,
    worst_rtt_window: us(w.worstRtt),
    suspect_link: state.paths?.suspectLink(s.id) ?? null,
  };
}

function status(state: WebState) {
  const g = state.config?.global;
  const now = state.now();
  const since = (state.history.lastTime ?? now) - WINDOW_SECONDS;
  const targets: StatusEntry[] = [];
  for (const s of state.history.series()) targets.push(entry(state, s, since));
  return {
    probe_name: g?.probe_name ?? null,
    version: state.version,
    now: Math.round(now),
    interval: g?.interval ?? null,
    retention_seconds: g?.history_retention ?? null,
    iteration: {
      count: state.iterations,
      last_duration_seconds: us(state.lastDurationSeconds),
      probes_per_second:
        state.lastDurationSeconds > 0 ? Math.round(state.lastProbes / state.lastDurationSeconds) : 0,
    },
    reload: {
      failed: state.reloadFailed,
      last_applied: state.lastApplied === null ? null : Math.round(state.lastApplied),
    },
    inventories: [...state.inventories].map(([name, i]) => ({
      name,
      healthy: i.lastPublishMs !== undefined && i.crashes === i.crashesAtPublish,
      targets: i.targets,
      crashes: i.crashes,
    })),
    targets,
  };
}

/** A number query parameter, `fallback` when absent, NaN when not a number. */
function num(query: URLSearchParams, name: string, fallback: number): number {
  const v = query.get(name);
  return v === null || v === "" ? fallback : Number(v);
}

/**
 * Series of the ids asked for, over [from, to], at most `points` entries each. With more iterations
 * than points, consecutive iterations are grouped into `points` buckets of (nearly) equal count:
 * t is the first iteration's start, sent/lost/errors are sums, min is the smallest min, max the
 * largest max, and each of p10..p90 is the mean of the iterations' values weighted by their answered
 * probes (sent - lost). A bucket whose iterations are all gaps is a gap (sent 0, RTTs null).
 */
function history(state: WebState, query: URLSearchParams): ApiAnswer {
  const ids = (query.get("ids") ?? "").split(",").filter((x) => x !== "");
  if (ids.length === 0)
    return bad(400, "ids: give one or more target ids (destination/group), comma-separated");
  if (ids.length > MAX_IDS) return bad(400, `ids: at most ${MAX_IDS} per call`);
  const h = state.history;
  const now = state.now();
  const to = num(query, "to", now);
  const from = num(query, "from", to - (state.config?.global.history_retention ?? 86400));
  const points = num(query, "points", DEFAULT_POINTS);
  if (!Number.isFinite(from) || !Number.isFinite(to) || from > to)
    return bad(400, "from/to: unix seconds, from <= to");
  if (!Number.isInteger(points) || points < 1 || points > MAX_POINTS)
    return bad(400, `points: an integer 1..${MAX_POINTS}`);
  const slots = h.slotsIn(from, to);
  const buckets = Math.min(points, slots.length);
  const series: Record<string, unknown> = {};
  for (const id of ids) {
    const s = h.get(id);
    if (s) series[id] = downsample(h, s, slots, buckets);
  }
  return ok({ from, to, series });
}

function downsample(h: History, s: SeriesHistory, slots: number[], buckets: number) {
  const t: number[] = [];
  const sent: number[] = [];
  const lost: number[] = [];
  const errors: number[] = [];
  const rtt: Record<string, (number | null)[]> = {};
  for (const q of QUANTILE_NAMES) rtt[q] = [];
  const cols = QUANTILE_NAMES.map((q) => rtt[q]!);
  const acc = new Float64Array(QUANTILE_NAMES.length);
  const n = slots.length;
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * n) / buckets);
    const end = Math.floor(((b + 1) * n) / buckets);
    let bs = 0;
    let bl = 0;
    let be = 0;
    let weight = 0;
    let data = false;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    acc.fill(0);
    for (let k = start; k < end; k++) {
      const slot = slots[k]!;
      if (h.isGap(s, slot)) continue;
      data = true;
      const answered = s.sent[slot]! - s.lost[slot]!;
      bs += s.sent[slot]!;
      bl += s.lost[slot]!;
      be += s.errors[slot]!;
      const lo = h.rttAt(s, slot, 0);
      if (lo === null) continue;
      const w = Math.max(1, answered);
      weight += w;
      if (lo < min) min = lo;
      const hi = h.rttAt(s, slot, 6)!;
      if (hi > max) max = hi;
      for (let q = 1; q < 6; q++) acc[q]! += h.rttAt(s, slot, q)! * w;
    }
    t.push(h.timeOf(slots[start]!));
    sent.push(bs);
    lost.push(bl);
    errors.push(be);
    const has = data && weight > 0;
    cols[0]!.push(has ? us(min) : null);
    for (let q = 1; q < 6; q++) cols[q]!.push(has ? us(acc[q]! / weight) : null);
    cols[6]!.push(has ? us(max) : null);
  }
  return { t: t.map((x) => Math.round(x * 1000) / 1000), sent, lost, rtt, errors };
}

function target(state: WebState, query: URLSearchParams): ApiAnswer {
  const id = query.get("id") ?? "";
  const s = state.history.get(id);
  if (!s) return bad(404, `no target × group ${JSON.stringify(id)} in the history`);
  const since = (state.history.lastTime ?? state.now()) - WINDOW_SECONDS;
  return ok(
    {
      ...entry(state, s, since),
      config: s.targetConfig,
      icmp_errors: Object.fromEntries(s.icmpErrors),
      late: s.late,
      duplicates: s.duplicates,
      flows: state.paths?.flows(id) ?? null,
      paths: state.paths?.paths(id) ?? null,
    },
    true,
  );
}
