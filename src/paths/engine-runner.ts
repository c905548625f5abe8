// The tracer's probes through the engine (engine.trace, src/engine/trace.ts): each ask names a flow of
// a target × group; the flow's series (type, port, DSCP, sizes, timeout) comes from the running plan,
// so a trace probe is the flow's regular probe with another TTL. A flow whose series is no longer in
// the plan (a reload dropped it) and a closed engine give "refused" probes: they cost no budget.
import type { Engine } from "../engine/engine.js";
import type { ProbePlan, Series } from "../engine/plan.js";
import type { TraceRequest } from "../engine/trace.js";
import type { ProbeFate } from "./incident.js";
import type { RunnerAsk, TraceRunner } from "./trace.js";

export function engineRunner(
  engine: () => Pick<Engine, "trace"> | undefined,
  plan: () => ProbePlan | undefined,
): TraceRunner {
  return {
    async trace(asks: readonly RunnerAsk[]) {
      const series = new Map<string, Series>();
      for (const s of plan()?.series ?? []) series.set(`${s.target}\u0000${s.group}`, s);
      const requests: TraceRequest[] = [];
      /** Per ask: its request's index, or -1 when it cannot be sent. */
      const index = asks.map((a) => {
        const s = series.get(`${a.target}\u0000${a.group}`);
        if (!s) return -1;
        const f = a.flow;
        return (
          requests.push({
            series: s,
            dst: f.dst,
            src: f.src,
            srcPort: f.srcPort,
            flowLabel: f.flowLabel,
            ttl: a.ttl,
            count: a.count,
          }) - 1
        );
      });
      const e = engine();
      const results = e && requests.length > 0 ? await e.trace(requests) : [];
      const byRequest = new Map<number, { fate: ProbeFate; from?: string }[]>();
      for (const r of results) {
        const list = byRequest.get(r.request) ?? [];
        list.push({ fate: r.fate, from: r.from });
        byRequest.set(r.request, list);
      }
      return asks.flatMap((a, i) => {
        const got = index[i]! >= 0 ? (byRequest.get(index[i]!) ?? []) : [];
        return Array.from({ length: a.count }, (_, n) => got[n] ?? { fate: "refused" as const });
      });
    },
  };
}
