// PathTracing (src/paths/tracing.ts), the daemon's trace-on-loss service, with a fake runner, anomaly
// source and judge: on by default, off with global.path_tracing: false; an anomaly opens an incident
// whose batches run in the service's own loop, the verdict reaches the metrics and /paths, and the
// incident's series go when the anomaly clears. No sockets, no root.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import type { IncidentRow, TraceTotals } from "../../src/metrics/trace-series.js";
import { TRACE_BUDGET } from "../../src/paths/budget.js";
import type { AnomalyView, RunnerAsk } from "../../src/paths/trace.js";
import { PathTracing } from "../../src/paths/tracing.js";

const CONFIG = (extra = "") =>
  loadConfigText(
    "t.yaml",
    `global: {probe_name: t, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 1, dns_update_interval: 0${extra}}
groups: {g: {}}
targets: {web: {type: TCPsyn, destination: 198.18.9.1, dst_port: 80}}
`,
  );

const flow = (srcPort: number) => ({ dst: "198.18.9.1", src: "198.18.0.1", srcPort, flowLabel: 0 });

function harness(extra = "") {
  let views: AnomalyView[] = [];
  const recorded: { rows: readonly IncidentRow[]; totals: TraceTotals }[] = [];
  const logs: string[] = [];
  let traced = 0;
  let publishes = 0;
  let resolveTraced: () => void = () => {};
  const tracedOnce = new Promise<void>((r) => {
    resolveTraced = r;
  });
  const svc = new PathTracing({
    runner: {
      async trace(asks: readonly RunnerAsk[]) {
        traced++;
        resolveTraced();
        return asks.flatMap((a) =>
          Array.from({ length: a.count }, () =>
            a.ttl >= 3
              ? { fate: "answered" as const, from: a.flow.dst }
              : { fate: "time-exceeded" as const, from: `198.18.${a.ttl}.${a.flow.srcPort % 2}` },
          ),
        );
      },
    },
    anomalies: { current: () => views },
    judge: {
      judge: () => ({
        kind: "link",
        from: "198.18.1.1",
        to: "198.18.2.1",
        lossEstimate: 1,
        confidence: 1,
        votes: 1,
      }),
    },
    log: (_level, msg) => logs.push(msg),
    metrics: {
      recordTraces: (_c, rows, totals) => recorded.push({ rows, totals }),
      publish: () => {
        publishes++;
      },
    },
  });
  return {
    svc,
    recorded,
    logs,
    tracedOnce,
    traced: () => traced,
    publishes: () => publishes,
    set: (v: AnomalyView[]) => {
      views = v;
    },
    config: CONFIG(extra),
  };
}

test("path_tracing on by default: an anomaly is traced in the background, reported, and cleared", async () => {
  const h = harness(", path_tracing_packets_per_second: 2000");
  assert.equal(CONFIG().global.path_tracing, true);
  assert.equal(
    CONFIG().global.path_tracing_budget,
    TRACE_BUDGET,
    "the schema's default is the verdict's budget",
  );
  assert.equal(h.config.global.trace_on_loss, "anomaly");
  h.svc.configure(h.config);
  h.svc.start();
  try {
    h.set([{ target: "web", group: "g", flagged: [flow(1)], healthy: [flow(2)], lossy: [flow(1)] }]);
    h.svc.afterIteration();
    await h.tracedOnce;
    // The loop finishes the incident on its own (no bound here: the test runner's timeout is the bound).
    while (h.svc.document().incidents[0]?.verdict == null) await new Promise((r) => setTimeout(r, 20));
    const doc = h.svc.document();
    assert.equal(doc.enabled, true);
    assert.equal(doc.incidents.length, 1);
    assert.equal(doc.incidents[0]!.verdict?.kind, "link");
    assert.deepEqual(doc.incidents[0]!.flows[0]!.hops, ["198.18.1.1", "198.18.2.1"]);
    const last = h.recorded[h.recorded.length - 1]!;
    // Rendered again for scrapers when the incident shows something new, not after every batch.
    assert.ok(h.publishes() >= 1);
    assert.ok(h.publishes() < h.traced(), `${h.publishes()} renderings for ${h.traced()} batches`);
    assert.equal(last.rows[0]!.link?.from, "198.18.1.1");
    assert.equal(last.totals.open, 1);
    assert.ok(last.totals.sent > 0);
    h.set([]);
    h.svc.afterIteration();
    const closed = h.recorded[h.recorded.length - 1]!;
    assert.deepEqual(closed.rows, []);
    assert.equal(closed.totals.open, 0);
    assert.equal(closed.totals.sent, last.totals.sent);
    assert.deepEqual(h.logs, ["path incident opened", "path incident verdict", "path incident closed"]);
  } finally {
    await h.svc.stop();
  }
});

test("path_tracing: false traces nothing and /paths says so", async () => {
  const h = harness(", path_tracing: false");
  h.svc.configure(h.config);
  h.svc.start();
  h.set([{ target: "web", group: "g", flagged: [flow(1)], healthy: [flow(2)], lossy: [flow(1)] }]);
  h.svc.afterIteration();
  await new Promise((r) => setTimeout(r, 100));
  await h.svc.stop();
  assert.equal(h.traced(), 0);
  assert.deepEqual(h.svc.document(), { enabled: false, incidents: [] });
});
