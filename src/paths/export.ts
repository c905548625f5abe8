// From the ledger to the metrics: per target × group of the configuration, the anomaly figures and,
// where path_metrics is on (on the target or on the group), the flows to export: the worst first, at
// most global.path_metrics_max_flows, so a target with thousands of ports never exports more.
import type { Config } from "../config/load.js";
import type { PathReport } from "../metrics/path-series.js";
import { detectIn, flaggedLoss } from "./anomaly.js";
import { type Ledger, worstFirst } from "./ledger.js";

export function pathReports(ledger: Ledger, config: Config): PathReport[] {
  const cap = config.global.path_metrics_max_flows;
  const reports: PathReport[] = [];
  for (const { target, group } of ledger.series()) {
    const t = config.targets.get(target);
    if (!t?.enabled || !t.groups.includes(group)) continue;
    const flows = ledger.view(target, group);
    const d = detectIn(ledger, target, group);
    const optedIn = t.path_metrics || config.groups.get(group)?.path_metrics === true;
    reports.push({
      target,
      group,
      flows: flows.length,
      flagged: d.flagged.length,
      flaggedLossRatio: flaggedLoss(d),
      exported: optedIn ? [...flows].sort(worstFirst).slice(0, cap) : undefined,
    });
  }
  return reports;
}

/** Whether the ledger keeps a target × group under `config` (reload). */
export function inConfig(config: Config): (target: string, group: string) => boolean {
  return (target, group) => {
    const t = config.targets.get(target);
    return t?.enabled === true && t.groups.includes(group);
  };
}
