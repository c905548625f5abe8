// Cell text for the live view: numbers in a few columns, sparklines, and cutting or padding text by
// its display width (what a terminal shows: CJK is two columns, combining marks none), which
// string-width knows and `.length` does not.
import stringWidth from "string-width";

export const displayWidth = (s: string): number => stringWidth(s);

const segmenter = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** `s` cut to at most `width` columns; "…" marks a cut. Never splits a grapheme. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return "";
  if (stringWidth(s) <= width) return s;
  let out = "";
  let used = 0;
  for (const { segment } of segmenter.segment(s)) {
    const w = stringWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return `${out}…`;
}

/** `s` cut or padded with spaces to exactly `width` columns. */
export function fit(s: string, width: number, align: "left" | "right" = "left"): string {
  const t = truncate(s, width);
  const pad = " ".repeat(Math.max(0, width - stringWidth(t)));
  return align === "left" ? t + pad : pad + t;
}

/** A duration in seconds in at most 6 columns: 850µs, 1.25ms, 40.1ms, 123ms, 1.50s, 12.3s. */
export function duration(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s) || s < 0) return "-";
  const us = s * 1e6;
  if (us < 999.5) return `${Math.round(us)}µs`;
  const ms = s * 1e3;
  if (ms < 9.995) return `${ms.toFixed(2)}ms`;
  if (ms < 99.95) return `${ms.toFixed(1)}ms`;
  if (ms < 999.5) return `${Math.round(ms)}ms`;
  if (s < 9.995) return `${s.toFixed(2)}s`;
  if (s < 99.95) return `${s.toFixed(1)}s`;
  return `${Math.round(s)}s`;
}

/** A ratio as a percentage in at most 5 columns: 0%, 0.4%, 12%, 100%; "-" when nothing was sent. */
export function percent(lost: number, sent: number): string {
  if (!(sent > 0)) return "-";
  const p = (100 * lost) / sent;
  if (p === 0) return "0%";
  if (p < 9.95) return `${p.toFixed(1)}%`;
  return `${Math.round(p)}%`;
}

/** A count in at most `width` columns (1.2k, 45k, 3.4M beyond). */
export function count(n: number, width = 4): string {
  const s = String(n);
  if (s.length <= width) return s;
  if (n < 1e6) return `${Math.round(n / 1e3)}k`;
  return `${Math.round(n / 1e6)}M`;
}

const BLOCKS = "▁▂▃▄▅▆▇█";

/**
 * The last `width` values as block characters, one column each, newest last (right-aligned). The
 * scale runs from the window's minimum over at least half its maximum: a jitter of 10% stays low
 * (▁▂), a doubling reaches the top (█); noise does not look like news. NaN (an iteration without a
 * sample) is a blank.
 */
export function sparkline(values: readonly number[], width: number): string[] {
  const win = values.slice(Math.max(0, values.length - width));
  const ok = win.filter((v) => Number.isFinite(v));
  const lo = Math.min(...ok);
  const hi = Math.max(...ok);
  const span = Math.max(hi - lo, hi / 2);
  const cells = win.map((v) => {
    if (!Number.isFinite(v)) return " ";
    const level = Math.floor(((v - lo) / span) * BLOCKS.length);
    return BLOCKS[Number.isFinite(level) ? Math.min(BLOCKS.length - 1, Math.max(0, level)) : 0] as string;
  });
  while (cells.length < width) cells.unshift(" ");
  return cells;
}

/** m:ss (h:mm:ss past an hour). */
export function clock(seconds: number): string {
  const t = Math.max(0, Math.floor(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Control characters (ESC, CR, ...) replaced: a target name must not move the cursor. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
export const printable = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
