// The live view's screen as pure text: which columns fit the width (dropped by priority, flexible
// ones widened when there is room), which targets fit the height (the worst first when not all do,
// with a line saying how many are hidden), and the plain lines printed when stdout is no terminal.
// Pure so that every width, height and colour choice is unit-tested without a terminal.
import { stripVTControlCharacters } from "node:util";
import {
  clock,
  count,
  displayWidth,
  duration,
  fit,
  percent,
  printable,
  sparkline,
  truncate,
} from "./cells.js";
import type { ViewHeader, ViewRow } from "./types.js";

export interface FrameOptions {
  /** Paint with SGR colours (loss yellow/red, titles dim). Default false. */
  color?: boolean;
  /** First word of the status line. Default "netprobify". */
  title?: string;
}

type Style = "yellow" | "red" | "dim" | "bold";
const SGR: Record<Style, string> = { yellow: "33", red: "31", dim: "2", bold: "1" };
type Paint = (style: Style | undefined, text: string) => string;

interface Column {
  title: string;
  /** Narrowest and widest it may be; the content decides in between. */
  min: number;
  max: number;
  align: "left" | "right";
  /** Dropped when the width is short: highest first; 0 = never dropped. */
  drop: number;
  /** Widened with the room left once every kept column has its natural width. */
  flex?: boolean;
  text(row: ViewRow): string;
  /** The cell fitted to `width` and painted; default: text() fitted, painted by style(). */
  cell?(row: ViewRow, width: number, paint: Paint): string;
  style?(row: ViewRow): Style | undefined;
}

const lossStyle = (lost: number, sent: number): Style | undefined =>
  sent > 0 && lost > 0 ? (lost / sent >= 0.5 ? "red" : "yellow") : undefined;
const nonZero = (n: number): Style | undefined => (n > 0 ? "yellow" : undefined);
const TYPE: Record<ViewRow["type"], string> = { TCPsyn: "tcp", ICMPping: "icmp", UDPunreachable: "udp" };

/** A count of the last iteration, yellow when not 0. */
function counter(title: string, drop: number, pick: (r: ViewRow) => number): Column {
  return {
    title,
    min: title.length,
    max: 5,
    align: "right",
    drop,
    text: (r) => count(pick(r)),
    style: (r) => nonZero(pick(r)),
  };
}

const COLUMNS: Column[] = [
  { title: "target", min: 12, max: 28, align: "left", drop: 0, flex: true, text: (r) => printable(r.name) },
  // netstat's way: tcp4, udp6, icmp6.
  { title: "type", min: 5, max: 5, align: "left", drop: 4, text: (r) => `${TYPE[r.type] ?? "?"}${r.family}` },
  { title: "group", min: 5, max: 12, align: "left", drop: 11, text: (r) => printable(r.group) },
  {
    title: "lost",
    min: 5,
    max: 11,
    align: "right",
    drop: 0,
    text: (r) => `${count(r.lost, 5)}/${count(r.sent, 5)}`,
    style: (r) => lossStyle(r.lost, r.sent),
  },
  {
    title: "recent",
    min: 6,
    max: 6,
    align: "right",
    drop: 2,
    text: (r) => percent(r.recentLost, r.recentSent),
    style: (r) => lossStyle(r.recentLost, r.recentSent),
  },
  { title: "p50", min: 6, max: 6, align: "right", drop: 0, text: (r) => duration(r.p50) },
  { title: "p95", min: 6, max: 6, align: "right", drop: 7, text: (r) => duration(r.p95) },
  {
    title: "history",
    min: 8,
    max: 30,
    align: "left",
    drop: 3,
    flex: true,
    text: (r) => "x".repeat(r.history.length),
    cell: (r, width, paint) => {
      const cells = sparkline(r.history, width);
      const loss = r.lossHistory ?? [];
      // Align the loss history on the newest iteration, like the sparkline.
      return cells
        .map((c, i) => {
          const ratio = loss[loss.length - width + i];
          const style = ratio !== undefined && ratio > 0 ? (ratio >= 0.5 ? "red" : "yellow") : undefined;
          return paint(style, c);
        })
        .join("");
    },
  },
  counter("icmp", 8, (r) => r.icmpErrors),
  counter("unr", 10, (r) => r.unreachable),
  counter("late", 9, (r) => r.late),
  counter("dup", 9, (r) => r.duplicates),
  {
    title: "injected",
    min: 11,
    max: 24,
    align: "left",
    drop: 1,
    flex: true,
    text: (r) => printable(r.injected),
  },
];

/** How bad a row looks, for showing the worst first: recent loss, then last loss, errors, p95. */
function badness(r: ViewRow): number[] {
  const ratio = (lost: number, sent: number) => (sent > 0 ? lost / sent : 0);
  return [
    ratio(r.recentLost, r.recentSent),
    ratio(r.lost, r.sent),
    r.icmpErrors + r.late + r.duplicates,
    r.p95 ?? 0,
  ];
}
function worstFirst(a: ViewRow, b: ViewRow): number {
  const x = badness(a);
  const y = badness(b);
  for (let i = 0; i < x.length; i++) {
    const d = (y[i] as number) - (x[i] as number);
    if (d > 0 || d < 0) return d; // NaN (a NaN fed in) orders as equal
  }
  return 0;
}

/** The columns kept for `width` and each one's width. */
function layout(rows: readonly ViewRow[], width: number): { col: Column; w: number }[] {
  const content = (c: Column) => Math.max(displayWidth(c.title), ...rows.map((r) => displayWidth(c.text(r))));
  // Fixed columns take their natural width at once; flexible ones start at their minimum (or less
  // when their content is shorter) and grow with the room left.
  const cols = COLUMNS.map((col) => {
    const want = Math.min(col.max, Math.max(col.flex ? 0 : col.min, content(col)));
    return { col, want, w: col.flex ? Math.min(want, col.min) : want };
  });
  const total = () => cols.reduce((n, c) => n + c.w, 0) + cols.length - 1;
  while (total() > width) {
    const droppable = cols.filter((c) => c.col.drop > 0);
    if (droppable.length === 0) break;
    const next = droppable.reduce((a, b) => (b.col.drop > a.col.drop ? b : a));
    cols.splice(cols.indexOf(next), 1);
  }
  // Room left goes to the flexible columns in their order of importance: name, injected, history.
  for (const title of ["target", "injected", "history"]) {
    const c = cols.find((x) => x.col.title === title);
    const room = width - total();
    if (c && room > 0) c.w += Math.max(0, Math.min(room, c.want - c.w));
  }
  return cols;
}

function statusLine(h: ViewHeader, title: string): string {
  const cpu = Number.isFinite(h.cpuPercent) ? `${h.cpuPercent.toFixed(1)}%` : "-";
  const pps = Number.isFinite(h.probesPerSecond) ? Math.round(h.probesPerSecond) : "-";
  return `${printable(title)}  ${clock(h.elapsedS)}  iter ${h.iterations}  ${pps} probes/s  cpu ${cpu}  q quits`;
}

/** The screen for a given size: lines, each at most `width` columns of display width. */
export function renderFrame(
  header: ViewHeader,
  rows: readonly ViewRow[],
  width: number,
  height: number,
  opts: FrameOptions = {},
): string[] {
  const paint: Paint = (style, text) =>
    opts.color && style && text ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
  const w = Math.max(1, Math.floor(width));
  const h = Math.max(1, Math.floor(height));
  const top = [paint("bold", truncate(statusLine(header, opts.title ?? "netprobify"), w))];
  if (header.metricsUrl) top.push(truncate(`metrics: ${printable(header.metricsUrl)}`, w));
  if (header.hint) top.push(paint("yellow", truncate(printable(header.hint), w)));

  let shown: readonly ViewRow[] = rows;
  let hidden = 0;
  const slots = h - top.length - 1;
  if (rows.length > slots) {
    const keep = Math.max(0, slots - 1);
    shown = [...rows].sort(worstFirst).slice(0, keep);
    hidden = rows.length - keep;
  }
  const cols = layout(shown, w);
  const titles = cols.map(({ col, w: cw }) => fit(col.title, cw, col.align)).join(" ");
  const lines = [...top, paint("dim", truncate(titles.trimEnd(), w))];
  for (const r of shown) {
    const cells = cols.map(({ col, w: cw }) =>
      col.cell ? col.cell(r, cw, paint) : paint(col.style?.(r), fit(col.text(r), cw, col.align)),
    );
    lines.push(cells.join(" ").trimEnd());
  }
  if (hidden > 0) {
    const more = `+${hidden} more target${hidden === 1 ? "" : "s"} hidden (less loss)`;
    lines.push(paint("dim", truncate(more, w)));
  }
  // Only a terminal too narrow for the columns that are never dropped gets here with long lines.
  return lines.slice(0, h).map((l) => (displayWidth(l) <= w ? l : truncate(stripVTControlCharacters(l), w)));
}

const value = (s: string): string => (s === "" || /[\s"=]/.test(s) ? JSON.stringify(s) : s);

/** The plain (non-TTY) lines of one update: a header line, then one line per target, no escapes. */
export function plainLines(header: ViewHeader, rows: readonly ViewRow[]): string[] {
  const head = [
    `elapsed=${clock(header.elapsedS)}`,
    `iteration=${header.iterations}`,
    `probes_per_s=${Math.round(header.probesPerSecond)}`,
    `cpu=${header.cpuPercent.toFixed(1)}%`,
  ];
  if (header.metricsUrl) head.push(`metrics=${value(printable(header.metricsUrl))}`);
  if (header.hint) head.push(`hint=${value(printable(header.hint))}`);
  const lines = [head.join(" ")];
  for (const r of rows) {
    lines.push(
      [
        `target=${value(printable(r.name))}`,
        `type=${r.type}`,
        `family=${r.family}`,
        `group=${value(printable(r.group))}`,
        `sent=${r.sent}`,
        `lost=${r.lost}`,
        `loss=${percent(r.lost, r.sent)}`,
        `recent_loss=${percent(r.recentLost, r.recentSent)}`,
        `p50=${duration(r.p50)}`,
        `p95=${duration(r.p95)}`,
        `icmp_errors=${r.icmpErrors}`,
        `unreachable=${r.unreachable}`,
        `late=${r.late}`,
        `duplicates=${r.duplicates}`,
        `injected=${value(printable(r.injected))}`,
      ].join(" "),
    );
  }
  return lines;
}
