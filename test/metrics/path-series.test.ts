// The ECMP path series written by Metrics.recordPaths: per-flow series only where path_metrics is
// on (the configuration decides, whatever the caller passes), counters advancing by the ledger's
// totals, a flow no longer given (out of the cap) losing every series, and a reload that turns
// path_metrics off removing them.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import type { FlowRow, PathReport } from "../../src/metrics/path-series.js";
import { config, find, parseExposition, value } from "./exposition.js";

const BODY = (on: boolean) => `groups:
  g1: {path_metrics: ${on}}
  g2: {}
targets:
  web: {type: TCPsyn, destination: 198.18.0.10, dst_port: 443}
`;

const row = (srcPort: number, sentTotal: number, lostTotal: number): FlowRow => ({
  dst: "198.18.0.10",
  src: "198.18.0.2",
  srcPort,
  flowLabel: 0,
  sentTotal,
  lostTotal,
  lossRatio: lostTotal / sentTotal,
  rttMin: lostTotal === sentTotal ? Number.NaN : 0.001,
  rttP50: lostTotal === sentTotal ? Number.NaN : 0.002,
  rttMax: lostTotal === sentTotal ? Number.NaN : 0.003,
  replyTtl: 64,
});

const report = (group: string, rows: FlowRow[]): PathReport => ({
  target: "web",
  group,
  flows: 16,
  flagged: 1,
  flaggedLossRatio: 1,
  exported: rows,
});

async function scrape(m: Metrics) {
  return parseExposition(await m.metricsText());
}

describe("Metrics.recordPaths", () => {
  test("flow series where path_metrics is on, counters from the ledger's totals, out of the cap removed", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = config(BODY(true));
    m.applyConfig(c);
    m.recordPaths(c, [
      report("g1", [row(65000, 10, 10), row(65001, 10, 0)]),
      report("g2", [row(65000, 5, 0)]),
    ]);
    let e = await scrape(m);
    assert.equal(value(e, "netprobify_path_flow_sent_total", { group: "g1", src_port: "65000" }), 10);
    assert.equal(value(e, "netprobify_path_flow_lost_total", { group: "g1", src_port: "65000" }), 10);
    assert.equal(value(e, "netprobify_path_flow_reply_ttl", { group: "g1", src_port: "65001" }), 64);
    assert.equal(find(e, "netprobify_path_flow_rtt_seconds", { group: "g1", src_port: "65000" }).length, 0);
    assert.equal(find(e, "netprobify_path_flow_rtt_seconds", { group: "g1", src_port: "65001" }).length, 3);
    assert.deepEqual(find(e, "netprobify_path_flow_sent_total", { group: "g2" }), [], "g2 did not opt in");
    assert.equal(value(e, "netprobify_path_anomaly", { group: "g2" }), 1);
    assert.equal(value(e, "netprobify_path_flows", { group: "g1" }), 16);

    // Next iteration: 65001 drops out of the cap, 65000 advances.
    m.recordPaths(c, [report("g1", [row(65000, 20, 15)])]);
    e = await scrape(m);
    assert.equal(value(e, "netprobify_path_flow_sent_total", { group: "g1", src_port: "65000" }), 20);
    assert.equal(value(e, "netprobify_path_flow_lost_total", { group: "g1", src_port: "65000" }), 15);
    assert.equal(find(e, "netprobify_path_flow_rtt_seconds", { group: "g1", src_port: "65000" }).length, 3);
    for (const name of [
      "netprobify_path_flow_sent_total",
      "netprobify_path_flow_lost_total",
      "netprobify_path_flow_loss_ratio",
      "netprobify_path_flow_reply_ttl",
      "netprobify_path_flow_rtt_seconds",
    ])
      assert.deepEqual(find(e, name, { src_port: "65001" }), [], name);

    // A reload turning path_metrics off removes the flow series; back on, counters start again.
    const off = config(BODY(false));
    m.applyConfig(off);
    e = await scrape(m);
    assert.deepEqual(find(e, "netprobify_path_flow_sent_total", {}), []);
    assert.equal(value(e, "netprobify_path_anomaly", { group: "g1" }), 1, "anomalies stay");
    m.recordPaths(off, [report("g1", [row(65000, 30, 15)])]);
    assert.deepEqual(find(await scrape(m), "netprobify_path_flow_sent_total", {}), []);
    m.applyConfig(c);
    m.recordPaths(c, [report("g1", [row(65000, 40, 15)])]);
    e = await scrape(m);
    assert.equal(value(e, "netprobify_path_flow_sent_total", { group: "g1", src_port: "65000" }), 40);
  });
});
