// Small helpers shared by the benchmarks: order statistics over repeated runs and error samples,
// markdown tables, and command-line flags. Kept dependency-free so a benchmark's own cost is only
// what it measures.

/** The q-quantile (0..1) of `values` by the nearest-rank method; NaN for an empty list. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Quantiles of an already sorted Float64Array (no copy). */
export function sortedQuantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const median = (values: ArrayLike<number>): number => quantile(values, 0.5);

/** Best (largest) and median of repeated rate measurements. */
export interface RateSummary {
  best: number;
  median: number;
  runs: number[];
}

export function summarizeRates(runs: number[]): RateSummary {
  return { best: Math.max(...runs), median: median(runs), runs };
}

/** A markdown table with a header row; cells are written as given. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(" | ")} |`;
  const sep = `|${widths.map((w, c) => (c === 0 ? `${"-".repeat(w + 1)}-` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), sep, ...rows.map(line)].join("\n");
}

/** "123,456" for a count or a rate. */
export const thousands = (n: number): string =>
  Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a";

/** Value of `--name N` in argv as a positive integer, else `fallback`; throws on a bad value. */
export function intFlag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${name} needs a positive integer, got ${argv[i + 1]}`);
  return v;
}

/** Value of `--name S` in argv, else `fallback`. */
export function stringFlag(argv: readonly string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i < 0 || argv[i + 1] === undefined ? fallback : argv[i + 1]!;
}
