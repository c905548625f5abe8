// Stand-in for live-view.ts (written on another branch) with exactly its interface: one plain line
// per target and iteration, no terminal control. The demo codes against this interface, so swapping
// in the real view changes one import.

export interface ViewRow {
  name: string;
  type: "TCPsyn" | "ICMPping" | "UDPunreachable";
  family: 4 | 6;
  group: string;
  injected: string;
  sent: number;
  lost: number;
  recentSent: number;
  recentLost: number;
  p50?: number;
  p95?: number;
  history: number[];
  lossHistory?: number[];
  icmpErrors: number;
  unreachable: number;
  late: number;
  duplicates: number;
}

export interface ViewHeader {
  elapsedS: number;
  iterations: number;
  probesPerSecond: number;
  cpuPercent: number;
  metricsUrl?: string;
  hint?: string;
}

export interface LiveView {
  update(h: ViewHeader, rows: readonly ViewRow[]): void;
  close(): void;
  onQuit(cb: () => void): void;
}

const ms = (s: number | undefined) => (s === undefined ? "-" : `${(s * 1000).toFixed(2)}ms`);
const pct = (lost: number, sent: number) => (sent === 0 ? "-" : `${((100 * lost) / sent).toFixed(1)}%`);

export function createLiveView(
  opts: { out?: NodeJS.WriteStream; input?: NodeJS.ReadStream; title?: string } = {},
): LiveView {
  const out = opts.out ?? process.stdout;
  if (opts.title) out.write(`${opts.title}\n`);
  return {
    update(h, rows) {
      const head = [
        `t=${h.elapsedS.toFixed(0)}s`,
        `iterations=${h.iterations}`,
        `probes/s=${h.probesPerSecond.toFixed(0)}`,
        `cpu=${h.cpuPercent.toFixed(1)}%`,
      ];
      if (h.metricsUrl) head.push(`metrics=${h.metricsUrl}`);
      out.write(`${head.join(" ")}\n`);
      for (const r of rows) {
        out.write(
          `  ${r.name} ${r.type} v${r.family} ${r.group} loss=${pct(r.lost, r.sent)} recent=${pct(r.recentLost, r.recentSent)} p50=${ms(r.p50)} p95=${ms(r.p95)} icmp=${r.icmpErrors} unreach=${r.unreachable} late=${r.late} dup=${r.duplicates} [${r.injected}]\n`,
        );
      }
    },
    close() {},
    onQuit() {
      // Plain output reads no keys: Ctrl-C (SIGINT) is the way out.
    },
  };
}
