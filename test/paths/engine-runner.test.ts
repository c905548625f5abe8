// engineRunner: the tracer's asks become engine.trace requests carrying the flow's series from the
// plan, and the engine's per-probe results come back in ask order; flows out of the plan and a closed
// engine are "refused". A fake engine: no sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProbePlan, Series } from "../../src/engine/plan.js";
import type { TraceRequest, TraceResult } from "../../src/engine/trace.js";
import { engineRunner } from "../../src/paths/engine-runner.js";

const series = (target: string): Series => ({
  target,
  group: "g",
  type: "UDPunreachable",
  family: "ipv4",
  dstPort: 33434,
  dscp: 0,
  dontFragment: true,
  payloadSize: undefined,
  timeout: 1,
});

test("asks map to engine.trace requests with the plan's series; results come back per probe in order", async () => {
  const plan = { series: [series("web"), series("db")] } as unknown as ProbePlan;
  const seen: TraceRequest[][] = [];
  const engine = {
    async trace(requests: readonly TraceRequest[]): Promise<TraceResult[]> {
      seen.push([...requests]);
      return requests.flatMap((r, request) =>
        Array.from({ length: r.count ?? 1 }, () => ({
          request,
          ttl: r.ttl,
          fate: r.ttl === 1 ? ("time-exceeded" as const) : ("answered" as const),
          from: r.ttl === 1 ? "198.18.1.1" : r.dst,
          rtt: 0.001,
          icmpType: 11,
          icmpCode: 0,
          quotedTtl: 1,
          key: 0,
        })),
      );
    },
  };
  let open = true;
  const runner = engineRunner(
    () => (open ? engine : undefined),
    () => plan,
  );
  const flow = { dst: "198.18.9.1", src: "198.18.0.1", srcPort: 65001, flowLabel: 0 };
  const out = await runner.trace([
    { target: "db", group: "g", flow, ttl: 1, count: 2 },
    { target: "gone", group: "g", flow, ttl: 1, count: 1 },
    { target: "web", group: "g", flow, ttl: 2, count: 1 },
  ]);
  assert.deepEqual(out, [
    { fate: "time-exceeded", from: "198.18.1.1" },
    { fate: "time-exceeded", from: "198.18.1.1" },
    { fate: "refused" },
    { fate: "answered", from: "198.18.9.1" },
  ]);
  assert.equal(seen[0]!.length, 2);
  assert.equal(seen[0]![0]!.series.target, "db");
  assert.deepEqual([seen[0]![0]!.srcPort, seen[0]![0]!.ttl, seen[0]![0]!.count], [65001, 1, 2]);
  open = false;
  assert.deepEqual(await runner.trace([{ target: "web", group: "g", flow, ttl: 1, count: 1 }]), [
    { fate: "refused" },
  ]);
});
