// netprobify_rtt_seconds: a classic Prometheus histogram of every RTT per target × group, which sums
// across targets, groups and probes where the original's percentile gauges cannot. Its buckets come
// from the configuration (global.rtt_histogram_buckets), so it is created, replaced or removed when a
// configuration is applied, outside the catalog-built store (registry.ts). An iteration's sorted RTTs
// are added to each series' bucket counts in one merge-like pass, straight into prom-client's cell
// for the series: prom-client's observe() per sample (label hashing each time) would cost a second
// per million samples.
import { Histogram, type Registry } from "prom-client";
import type { Config } from "../config/load.js";
import { declOf } from "./catalog.js";
import type { Labels } from "./registry.js";

export const RTT_HISTOGRAM = "netprobify_rtt_seconds" as const;
const LABELS = ["probe_name", "destination", "address_family", "group", "type"];
const SORTED = [...LABELS].sort();

interface Cell {
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

export class RttHistogram {
  private hist: Histogram<string> | undefined;
  private bounds: number[] = [];
  /** Series written: key → labels and prom-client's cell. */
  private readonly cells = new Map<string, { labels: Labels; cell: Cell }>();

  constructor(private readonly registry: Registry) {}

  get enabled(): boolean {
    return this.hist !== undefined;
  }

  /**
   * Follows a configuration: off removes the metric; new buckets start it afresh (bucket counts of
   * other bounds cannot be converted); series whose target × group is no longer allowed are removed.
   */
  apply(config: Config, allowed: (labels: Labels) => boolean): void {
    const g = config.global;
    if (!g.rtt_histogram) {
      this.drop();
      return;
    }
    const bounds = [...new Set(g.rtt_histogram_buckets)].sort((a, b) => a - b);
    if (!this.hist || bounds.join() !== this.bounds.join()) {
      this.drop();
      this.bounds = bounds;
      this.hist = new Histogram({
        name: RTT_HISTOGRAM,
        help: declOf(RTT_HISTOGRAM).help,
        labelNames: LABELS,
        buckets: bounds,
        registers: [this.registry],
      });
      return;
    }
    for (const [key, { labels }] of this.cells) {
      if (allowed(labels)) continue;
      this.hist.remove(labels);
      this.cells.delete(key);
    }
  }

  private drop(): void {
    if (this.hist) this.registry.removeSingleMetric(RTT_HISTOGRAM);
    this.hist = undefined;
    this.cells.clear();
  }

  /** Adds one iteration's RTTs (seconds, sorted ascending) of the series `labels` (keyed by `key`). */
  add(labels: Labels, key: string, sorted: Float64Array): void {
    const hist = this.hist;
    if (!hist) return;
    let entry = this.cells.get(key);
    if (!entry) {
      hist.zero(labels);
      entry = { labels, cell: cellOf(hist, labels) };
      this.cells.set(key, entry);
    }
    const cell = entry.cell;
    const bounds = this.bounds;
    let b = 0;
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) {
      const v = sorted[i]!;
      sum += v;
      while (b < bounds.length && v > bounds[b]!) b++;
      // Above the last bound: only in +Inf (prom-client's count).
      if (b < bounds.length) cell.bucketValues[bounds[b]!]! += 1;
    }
    cell.sum += sum;
    cell.count += sorted.length;
  }
}

/** prom-client's stored value of a series (its hashMap entry, keyed as prom-client keys it). */
function cellOf(hist: Histogram<string>, labels: Labels): Cell {
  let h = "";
  for (const l of SORTED) h += `${l}:${labels[l]},`;
  const cell = (hist as unknown as { hashMap: Record<string, Cell> }).hashMap[h];
  if (!cell) throw new Error(`${RTT_HISTOGRAM}: series not found after zero()`);
  return cell;
}
