// What the daemon does with an iteration's per-flow results when per-flow tracking is on (issue 15):
// add them to the ledger, run the anomaly detector over every target × group, write the per-flow
// series of `path_metrics: true` targets and render the exposition. bench/rate.ts times it after each
// engine iteration to compare the probing rate with per-flow tracking on and off.
import { loadConfigText } from "../../src/config/load.js";
import type { IterationResult } from "../../src/engine/engine.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { pathReports } from "../../src/paths/export.js";
import { Ledger } from "../../src/paths/ledger.js";

/** One daemon's per-flow state for targets `names` (group g, path_metrics on); kept across runs. */
export function pathsWork(names: readonly string[]): (r: IterationResult) => number {
  const config = loadConfigText(
    "bench.yaml",
    `global: {probe_name: bench, interval: 0, nb_proc: 1, logging_level: INFO, prometheus_port: 1, dns_update_interval: 0}
groups: {g: {path_metrics: true}}
targets:
${names.map((n, i) => `  ${n}: {type: TCPsyn, destination: 198.18.0.${i + 1}, dst_port: 81}`).join("\n")}
`,
  );
  const ledger = new Ledger();
  const metrics = new Metrics({ version: "bench", processMetrics: false });
  /** Does the work for one iteration's result; returns its duration in ms. */
  return (r) => {
    const t0 = performance.now();
    if (r.flows) ledger.record(r.series, r.flows);
    metrics.recordPaths(config, pathReports(ledger, config));
    metrics.publish();
    return performance.now() - t0;
  };
}
