// The trace-on-loss series written by Metrics.recordTraces: an open incident's suspect link, paths,
// hops, changes and per-packet flag; the link series moving when the verdict names another link; all
// of an incident's series removed when it closes; totals as counters; a reload dropping a target.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import type { IncidentRow } from "../../src/metrics/trace-series.js";
import { config, find, parseExposition, value } from "./exposition.js";

const BODY = `groups:
  g1: {}
targets:
  web: {type: TCPsyn, destination: 198.18.0.10, dst_port: 443}
  db: {type: ICMPping, destination: 198.18.0.11}
`;

const row = (target: string, o: Partial<IncidentRow> = {}): IncidentRow => ({
  target,
  group: "g1",
  perPacket: false,
  distinctPaths: 4,
  hops: 6,
  pathChanges: 0,
  ...o,
});

const INCIDENT_METRICS = [
  "netprobify_path_suspect_link",
  "netprobify_path_per_packet",
  "netprobify_path_distinct_paths",
  "netprobify_path_hops",
  "netprobify_path_changes_total",
];

describe("Metrics.recordTraces", () => {
  test("open incidents' series, the link moving with the verdict, all removed when the incident closes", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = config(BODY);
    m.applyConfig(c);
    const link = { from: "198.18.1.1", to: "198.18.2.3", loss: 0.05 };
    m.recordTraces(c, [row("web", { link }), row("db", { perPacket: true })], {
      open: 2,
      sent: 1200,
      exhausted: 0,
    });
    let e = parseExposition(await m.metricsText());
    assert.equal(
      value(e, "netprobify_path_suspect_link", { destination: "web", from: "198.18.1.1", to: "198.18.2.3" }),
      0.05,
    );
    assert.deepEqual(find(e, "netprobify_path_suspect_link", { destination: "db" }), []);
    assert.equal(value(e, "netprobify_path_per_packet", { destination: "db" }), 1);
    assert.equal(value(e, "netprobify_path_per_packet", { destination: "web" }), 0);
    assert.equal(value(e, "netprobify_path_distinct_paths", { destination: "web" }), 4);
    assert.equal(value(e, "netprobify_path_hops", { destination: "web" }), 6);
    assert.equal(value(e, "netprobify_path_incidents_open", {}), 2);
    assert.equal(value(e, "netprobify_path_trace_probes_sent_total", {}), 1200);

    // The verdict moves to another link (a blackhole: no far end), a path change is counted.
    m.recordTraces(c, [row("web", { link: { from: "198.18.2.3", to: null, loss: 1 }, pathChanges: 2 })], {
      open: 1,
      sent: 1500,
      exhausted: 1,
    });
    e = parseExposition(await m.metricsText());
    assert.equal(find(e, "netprobify_path_suspect_link", { destination: "web" }).length, 1);
    assert.equal(
      value(e, "netprobify_path_suspect_link", { destination: "web", from: "198.18.2.3", to: "*" }),
      1,
    );
    assert.equal(value(e, "netprobify_path_changes_total", { destination: "web" }), 2);
    assert.equal(value(e, "netprobify_path_trace_probes_sent_total", {}), 1500);
    assert.equal(value(e, "netprobify_path_trace_budget_exhausted_total", {}), 1);
    for (const name of INCIDENT_METRICS) assert.deepEqual(find(e, name, { destination: "db" }), [], name);

    // Closed: nothing of the incident is left; the totals stay.
    m.recordTraces(c, [], { open: 0, sent: 1500, exhausted: 1 });
    e = parseExposition(await m.metricsText());
    for (const name of INCIDENT_METRICS) assert.deepEqual(find(e, name), [], name);
    assert.equal(value(e, "netprobify_path_incidents_open", {}), 0);
    assert.equal(value(e, "netprobify_path_trace_probes_sent_total", {}), 1500);
  });

  test("a follow-up incident's link is exported beside the first one's, and goes when it closes; one set of per-incident series", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = config(BODY);
    m.applyConfig(c);
    const first = { from: "198.18.2.1", to: null, loss: 1 };
    const second = { from: "198.18.2.2", to: null, loss: 1 };
    const totals = { open: 2, sent: 100, exhausted: 0 };
    m.recordTraces(c, [row("web", { link: first }), row("web", { link: second, distinctPaths: 9 })], totals);
    let e = parseExposition(await m.metricsText());
    const links = find(e, "netprobify_path_suspect_link", { destination: "web" });
    assert.deepEqual(links.map((l) => l.labels.from).sort(), ["198.18.2.1", "198.18.2.2"]);
    assert.equal(find(e, "netprobify_path_distinct_paths", { destination: "web" }).length, 1);
    assert.equal(
      value(e, "netprobify_path_distinct_paths", { destination: "web" }),
      4,
      "the first incident's",
    );
    m.recordTraces(c, [row("web", { link: first })], { ...totals, open: 1 });
    e = parseExposition(await m.metricsText());
    assert.deepEqual(
      find(e, "netprobify_path_suspect_link", { destination: "web" }).map((l) => l.labels.from),
      ["198.18.2.1"],
    );
  });

  test("a reload that drops the target removes its incident's series; rows for unknown targets are not written", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = config(BODY);
    m.applyConfig(c);
    m.recordTraces(c, [row("web", { link: { from: "a", to: "b", loss: 1 } }), row("nope")], {
      open: 2,
      sent: 10,
      exhausted: 0,
    });
    let e = parseExposition(await m.metricsText());
    assert.deepEqual(find(e, "netprobify_path_hops", { destination: "nope" }), []);
    const next = config(`groups:\n  g1: {}\ntargets:\n  db: {type: ICMPping, destination: 198.18.0.11}\n`);
    m.applyConfig(next);
    e = parseExposition(await m.metricsText());
    for (const name of INCIDENT_METRICS) assert.deepEqual(find(e, name), [], name);
  });
});
