// The trace-on-loss series (docs/paths.md): per open incident the suspect link, distinct paths and
// hops, path changes and per-packet balancing; per probe the incidents open, trace probes sent and
// budgets exhausted. An incident's series exist while it is open: written from the tracer's report
// after each step, removed when the incident is no longer reported (closed, or its target gone).
import { type MetricName, PATH_LABELS } from "./catalog.js";
import { type Labels, SeriesStore } from "./registry.js";

/** What one open incident shows (plain data from src/paths/trace.ts's report). */
export interface IncidentRow {
  target: string;
  group: string;
  /** The blamed link, if any (to null: the far end never answered). */
  link?: { from: string; to: string | null; loss: number };
  perPacket: boolean;
  distinctPaths: number;
  hops: number;
  pathChanges: number;
}

export interface TraceTotals {
  open: number;
  sent: number;
  exhausted: number;
}

const PER_INCIDENT = [
  "netprobify_path_per_packet",
  "netprobify_path_distinct_paths",
  "netprobify_path_hops",
  "netprobify_path_changes_total",
] as const satisfies readonly MetricName[];
const LINK = "netprobify_path_suspect_link" satisfies MetricName;

interface Written {
  labels: Labels;
  /** The suspect links of the target × group's incidents (a follow-up may name a second one). */
  links: Labels[];
  changes: number;
}

export class TraceSeries {
  private readonly written = new Map<string, Written>();
  private sent = 0;
  private exhausted = 0;

  constructor(private readonly store: SeriesStore) {}

  write(probeName: string, rows: readonly IncidentRow[], totals: TraceTotals): void {
    const s = this.store;
    const probe = { probe_name: probeName };
    s.set("netprobify_path_incidents_open", probe, totals.open);
    s.inc("netprobify_path_trace_probes_sent_total", probe, Math.max(0, totals.sent - this.sent));
    s.inc(
      "netprobify_path_trace_budget_exhausted_total",
      probe,
      Math.max(0, totals.exhausted - this.exhausted),
    );
    this.sent = Math.max(this.sent, totals.sent);
    this.exhausted = Math.max(this.exhausted, totals.exhausted);
    // Rows of one target × group after its first (follow-up incidents, docs/paths.md) add their link.
    const links = new Map<string, Labels[]>();
    for (const r of rows) {
      const labels = { probe_name: probeName, destination: r.target, group: r.group };
      const key = SeriesStore.keyOf(PATH_LABELS, labels);
      if (!links.has(key)) {
        links.set(key, []);
        const w = this.written.get(key) ?? { labels, links: [], changes: 0 };
        this.written.set(key, w);
        s.set("netprobify_path_per_packet", labels, r.perPacket ? 1 : 0);
        s.set("netprobify_path_distinct_paths", labels, r.distinctPaths);
        s.set("netprobify_path_hops", labels, r.hops);
        s.inc("netprobify_path_changes_total", labels, Math.max(0, r.pathChanges - w.changes));
        w.changes = Math.max(w.changes, r.pathChanges);
      }
      if (!r.link) continue;
      const link = { ...labels, from: r.link.from, to: r.link.to ?? "*" };
      s.set(LINK, link, r.link.loss);
      links.get(key)!.push(link);
    }
    for (const [key, w] of this.written) {
      const now = links.get(key);
      for (const l of w.links) if (!now?.some((x) => x.from === l.from && x.to === l.to)) s.remove(LINK, l);
      if (now) {
        w.links = now;
        continue;
      }
      for (const m of PER_INCIDENT) s.remove(m, w.labels);
      this.written.delete(key);
    }
  }

  /** Forgets incidents whose series a reload removed. */
  prune(): void {
    for (const [key, w] of this.written)
      if (!this.store.has("netprobify_path_hops", w.labels)) {
        for (const l of w.links) this.store.remove(LINK, l);
        this.written.delete(key);
      }
  }
}
