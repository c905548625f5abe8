// The live view's vocabulary: what the demo feeds the view each iteration. Its own module so the
// renderer (frame.ts) and the terminal driver (../live-view.ts) share it without importing upward.
import type { ProbeKind } from "../../probes/types.js";

export interface ViewRow {
  /** Target name. */
  name: string;
  type: ProbeKind;
  family: 4 | 6;
  group: string;
  /** What the demo does there, e.g. "5% loss", "40ms ±5ms", "unreachable", "". */
  injected: string;
  /** Last iteration (lost = compat loss, i.e. including unreachable). */
  sent: number;
  lost: number;
  /** Over the recent iterations (e.g. the last 10). */
  recentSent: number;
  recentLost: number;
  /** Seconds, last iteration; undefined when no sample. */
  p50?: number;
  p95?: number;
  /** p50 per iteration, seconds, oldest first, NaN where none (sparkline). */
  history: number[];
  /** Loss ratio per iteration, oldest first (colours the sparkline). */
  lossHistory?: number[];
  /** Last iteration. */
  icmpErrors: number;
  unreachable: number;
  late: number;
  duplicates: number;
}

export interface ViewHeader {
  elapsedS: number;
  iterations: number;
  /** Probes sent per second over the last iteration(s). */
  probesPerSecond: number;
  /** The daemon's CPU (100 = one core). */
  cpuPercent: number;
  /** How to reach /metrics from the user's shell. */
  metricsUrl?: string;
  /** One line, e.g. "loss episode on tor3 until 0:45". */
  hint?: string;
}

export interface LiveView {
  /** Redraw (TTY) or print plain lines. */
  update(header: ViewHeader, rows: readonly ViewRow[]): void;
  /** Restore the terminal (idempotent; also on process exit). */
  close(): void;
  /**
   * 'q', 'Q' or Ctrl-C pressed (TTY only; also SIGINT). With no callback registered, a key restores
   * the terminal and raises SIGINT, as Ctrl-C would on a terminal that is not raw.
   */
  onQuit(cb: () => void): void;
}
