// The tables of the daemon rows (bench/lib/daemon-run.ts) and of the cold first iterations
// (daemon-once.ts), for `npm run bench` and `npm run bench:daemon`: pure functions of their results.
import type { OnceRun } from "./daemon-once.js";
import type { DaemonRow } from "./daemon-run.js";
import { markdownTable, median, thousands } from "./stats.js";

/** The daemon table of the bench: steady-state CPU per probe beside the reference's, and the rates. */
export function daemonTable(rows: readonly DaemonRow[]): string {
  const us = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
  return markdownTable(
    [
      "type",
      "addresses × pkts",
      "probes/iteration",
      "iterations",
      "warm-up probes",
      "warm-up ms",
      "node flags",
      "daemon CPU µs/probe (after the 1st)",
      "of which kernel",
      "JS thread user / kernel",
      "send threads user / kernel",
      "receive threads user / kernel",
      "other later threads (libuv)",
      "start-up threads (V8 workers)",
      "reference",
      "reference CPU µs/probe",
      "of which kernel",
      "÷ reference",
      "C floor µs/probe (ICMP) ÷ reference",
      "1st iteration probes/s",
      "later iterations probes/s (median)",
      "1st ÷ later",
    ],
    rows.map((r) => [
      r.scenario.type,
      `2 × ${thousands(r.scenario.targets)} × ${r.scenario.packets}`,
      thousands(r.iterations[0]?.sent ?? Number.NaN),
      String(r.iterations.length),
      r.scenario.warmUp === undefined ? "default" : String(r.scenario.warmUp),
      r.warmUpMs === null ? "" : String(r.warmUpMs),
      (r.scenario.nodeFlags ?? []).filter((f) => !f.startsWith("--cpu-prof")).join(" "),
      us(r.daemonUsPerProbe),
      us(r.daemonSystemUsPerProbe),
      `${us(r.threadsUsPerProbe.main.user)} / ${us(r.threadsUsPerProbe.main.system)}`,
      `${us(r.threadsUsPerProbe.send.user)} / ${us(r.threadsUsPerProbe.send.system)}`,
      `${us(r.threadsUsPerProbe.receive.user)} / ${us(r.threadsUsPerProbe.receive.system)}`,
      us(r.threadsUsPerProbe.later.user + r.threadsUsPerProbe.later.system),
      us(r.threadsUsPerProbe.startup.user + r.threadsUsPerProbe.startup.system),
      r.ref?.tool ?? "",
      us(r.ref?.usPerProbe ?? Number.NaN),
      us(r.ref?.systemUsPerProbe ?? Number.NaN),
      r.ref ? (r.daemonUsPerProbe / r.ref.usPerProbe).toFixed(2) : "",
      r.floor && r.ref
        ? `${us(r.floor.usPerProbe)} ÷ ${us(r.ref.usPerProbe)} = ${(r.floor.usPerProbe / r.ref.usPerProbe).toFixed(2)}`
        : "",
      thousands(r.firstPps),
      thousands(r.laterPps),
      (r.firstPps / r.laterPps).toFixed(2),
    ]),
  );
}

/** The cold first iterations, by warm-up setting: medians over the trials. */
export function onceTable(runs: readonly OnceRun[]): string {
  const settings = [...new Set(runs.map((r) => r.warmUp))];
  return markdownTable(
    [
      "warm-up probes",
      "trials",
      "probes",
      "probes/s (sent ÷ iteration)",
      "send probes/s (kernel TX span)",
      "iteration CPU µs/probe",
      "spawn → iteration start ms",
    ],
    settings.map((w) => {
      const rs = runs.filter((r) => r.warmUp === w);
      return [
        w === undefined ? "default" : String(w),
        String(rs.length),
        thousands(rs[0]!.sent),
        thousands(median(rs.map((r) => r.sent / (r.durationMs / 1000)))),
        thousands(median(rs.map((r) => (r.sendMs ? (r.sent - 1) / (r.sendMs / 1000) : Number.NaN)))),
        median(rs.map((r) => (r.iterationCpuMs * 1000) / r.sent)).toFixed(2),
        median(rs.map((r) => r.startMs)).toFixed(0),
      ];
    }),
  );
}
