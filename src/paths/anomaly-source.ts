// The tracer's view of the ledger (src/paths/trace.ts AnomalySource): per target × group of the
// running configuration with a flagged or a lossy flow, the flows the detector flags (worst first),
// the others (least lossy first: the best healthy references), and every flow with loss (for
// trace_on_loss: any). Targets with neither are left out: the tracer has nothing to do for them.
import type { Config } from "../config/load.js";
import { detectIn } from "./anomaly.js";
import { inConfig } from "./export.js";
import { type FlowStats, type Ledger, worstFirst } from "./ledger.js";
import type { AnomalySource, AnomalyView, FlowRef } from "./trace.js";

const ref = (f: FlowStats): FlowRef => ({
  dst: f.dst,
  src: f.src,
  srcPort: f.srcPort,
  flowLabel: f.flowLabel,
});

export function ledgerAnomalies(ledger: Ledger, config: () => Config): AnomalySource {
  return {
    current(): AnomalyView[] {
      const keep = inConfig(config());
      const out: AnomalyView[] = [];
      for (const { target, group } of ledger.series()) {
        if (!keep(target, group)) continue;
        const { flagged, healthy } = detectIn(ledger, target, group);
        const flows = ledger.view(target, group);
        // Nothing to trace (most targets, most of the time): no view, no arrays.
        if (flagged.length === 0 && !flows.some((f) => f.lost > 0)) continue;
        // Read only when an incident opens: sorted then, not after every iteration (thousands of flows).
        let healthyRefs: FlowRef[] | undefined;
        out.push({
          target,
          group,
          flagged: flagged.map(ref),
          get healthy() {
            healthyRefs ??= [...healthy]
              .sort((a, b) => a.lossRatio - b.lossRatio || b.sent - a.sent)
              .map(ref);
            return healthyRefs;
          },
          lossy: flows
            .filter((f) => f.lost > 0)
            .sort(worstFirst)
            .map(ref),
        });
      }
      return out;
    },
  };
}
