// `netprobify run --once`: one probing iteration of a configuration, printed as a table. For an
// operator checking a new configuration against the real network before deploying the daemon, and
// for demos in the lab. Needs CAP_NET_RAW like the daemon.
import type { Config } from "../config/load.js";
import { openEngine, prepare } from "../engine/prober.js";
import { lossRatio, rttPercentile, type SeriesResult } from "../engine/results.js";
import type { Io } from "./main.js";

function ms(s: number | undefined): string {
  return s === undefined ? "-" : (s * 1000).toFixed(3);
}

export function formatResults(series: readonly SeriesResult[], percentiles: readonly number[]): string {
  const head = [
    "target",
    "group",
    "sent",
    "lost",
    "loss%",
    ...percentiles.map((p) => `p${p} ms`),
    "late",
    "dup",
    "failed",
    "icmp errors",
  ];
  const rows = series.map((s) => [
    s.target,
    s.group,
    String(s.sent),
    String(s.lost),
    (lossRatio(s) * 100).toFixed(2),
    ...percentiles.map((p) => ms(rttPercentile(s, p))),
    String(s.late),
    String(s.duplicates),
    String(s.failed),
    [...s.icmpErrors].map(([k, v]) => `${k}:${v}`).join(" ") || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

export async function runOnce(config: Config, io: Io): Promise<number> {
  const prepared = await prepare(config);
  for (const i of prepared.issues)
    io.err(`netprobify: target ${i.target}: ${i.message}${i.disabled ? " (target disabled)" : ""}`);
  const engine = openEngine(config);
  try {
    // The kernel switches RX timestamping on lazily: give it a moment before the first probe.
    await new Promise((r) => setTimeout(r, 50));
    const r = await engine.run(prepared.plan);
    for (const [errno, n] of r.sendErrors)
      io.err(
        `netprobify: ${n} probe${n === 1 ? "" : "s"} not sent: ${errno} (counted as failed, not as loss)`,
      );
    io.out(formatResults(r.series, config.global.percentile));
    const probes = r.series.reduce((n, s) => n + s.sent, 0);
    io.out(
      `${probes} probes in ${(r.durationMs / 1000).toFixed(3)} s${r.timedOut ? " (stopped by global.timeout)" : ""}, socket drops ${r.socketDrops}`,
    );
  } finally {
    engine.close();
  }
  return 0;
}
