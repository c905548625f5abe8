// The two exposition formats a scraper may ask for, Prometheus text and OpenMetrics, each served from
// a Snapshot of its own (one rendering per change, gzip included), and each rendered at a change only
// if scrapers asked for it in the last WANTED_MS; a format nobody asked for lately is rendered once
// when first asked, for every scraper of that change. Prometheus asks for OpenMetrics at every
// scrape, curl for text: a daemon scraped by Prometheus alone pays one rendering per change, not two.
// Both renderings of a change are started in the same turn, so they show the same moment.
import type { Registry } from "prom-client";
import { type Format, openMetricsView } from "./render.js";
import type { Exposition, Snapshot } from "./snapshot.js";

export type { Format };

/** A format asked for within this long is rendered at every change (longer than any scrape interval). */
export const WANTED_MS = 10 * 60_000;

const FORMATS: readonly Format[] = ["text", "openmetrics"];

export class Expositions {
  private readonly snapshots: Readonly<Record<Format, Snapshot>>;
  /** When each format was last asked for (performance.now()). */
  private readonly asked = new Map<Format, number>();
  /** Changes published so far, and the change each format was last rendered for. */
  private changes = 0;
  private readonly renderedFor = new Map<Format, number>();

  /** `snapshot` makes the Snapshot of a registry (the OpenMetrics one is a view of the same metrics). */
  constructor(registry: Registry, snapshot: (registry: Registry) => Snapshot) {
    this.snapshots = { text: snapshot(registry), openmetrics: snapshot(openMetricsView(registry)) };
  }

  /** The series changed: renders the formats asked for lately (the text format when none was). */
  publish(): void {
    this.changes++;
    const now = performance.now();
    const wanted = FORMATS.filter((f) => now - (this.asked.get(f) ?? Number.NEGATIVE_INFINITY) < WANTED_MS);
    for (const f of wanted.length > 0 ? wanted : (["text"] as const)) this.render(f);
  }

  /** The exposition of the last change in `format`, rendered now if it was not at that change. */
  get(format: Format = "text"): Promise<Exposition> {
    this.asked.set(format, performance.now());
    if (this.renderedFor.get(format) !== this.changes) this.render(format);
    return this.snapshots[format].get();
  }

  private render(format: Format): void {
    this.renderedFor.set(format, this.changes);
    void this.snapshots[format].publish().catch(() => {}); // a failure shows on the next get()
  }
}
