// Scrapes are served from one rendering per change (issue 11, item 5): between two publish() calls
// every scrape gets the same bytes, rendered once, whatever the number of scrapers; every series of
// one answer comes from the same iteration (a recorded iteration shows only once published, all at
// once); outside totals (dropped log lines, refused connections) are copied in at each rendering.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Gauge, Registry } from "prom-client";
import { Metrics } from "../../src/metrics/metrics.js";
import { render } from "../../src/metrics/render.js";
import { config, iteration, parseExposition, series, value } from "./exposition.js";

const WEB_G1 = {
  probe_name: "lab",
  destination: "web",
  address_family: "ipv4",
  state: "in production",
  group: "g1",
};

async function served(m: Metrics) {
  return parseExposition((await m.snapshot()).body.toString());
}

describe("Metrics.snapshot: one rendering per change", () => {
  test("scrapes between two publishes share one rendering; an iteration shows once published", async () => {
    const renders = { n: 0 };
    // Every rendering reads the registry's metrics once.
    const original = Registry.prototype.getMetricsAsArray;
    Registry.prototype.getMetricsAsArray = function (this: Registry) {
      renders.n++;
      return original.call(this);
    };
    try {
      const m = new Metrics({ version: "t" });
      const c = config();
      m.applyConfig(c);
      m.recordIteration(c, iteration([series("web", "g1", { sent: 10, lost: 1 })]));
      m.publish();
      const first = await m.snapshot();
      const many = await Promise.all(Array.from({ length: 16 }, () => m.snapshot()));
      assert.equal(renders.n, 1, "sixteen scrapes, one rendering");
      for (const s of many) assert.equal(s.body, first.body, "the same Buffer, not a copy");
      assert.equal(value(await served(m), "tcpsyn_sent_total", WEB_G1), 10);

      // A second iteration is recorded: scrapes still see the first, whole, until it is published.
      m.recordIteration(c, iteration([series("web", "g1", { sent: 10, lost: 0 })]));
      const between = await served(m);
      assert.equal(value(between, "tcpsyn_sent_total", WEB_G1), 10);
      assert.equal(value(between, "tcpsyn_loss_total", WEB_G1), 1);
      assert.equal(value(between, "netprobify_iterations_total", { probe_name: "lab" }), 1);
      m.publish();
      const next = await served(m);
      assert.equal(value(next, "tcpsyn_sent_total", WEB_G1), 20);
      assert.equal(value(next, "netprobify_iterations_total", { probe_name: "lab" }), 2);
      assert.equal(renders.n, 2);
    } finally {
      Registry.prototype.getMetricsAsArray = original;
    }
  });

  test("outside totals (log lines dropped, connections refused) are copied in at each rendering", async () => {
    const m = new Metrics({ version: "t" });
    m.applyConfig(config());
    let dropped = 0;
    let refused = 0;
    m.setOutsideTotals({ logLinesDropped: () => dropped, httpConnectionsRefused: () => refused });
    m.publish();
    const probe = { probe_name: "lab" };
    assert.equal(value(await served(m), "netprobify_log_lines_dropped_total", probe), 0);
    dropped = 7;
    refused = 2;
    m.publish();
    let e = await served(m);
    assert.equal(value(e, "netprobify_log_lines_dropped_total", probe), 7);
    assert.equal(value(e, "netprobify_http_connections_refused_total", probe), 2);
    dropped = 9;
    m.publish();
    e = await served(m);
    assert.equal(value(e, "netprobify_log_lines_dropped_total", probe), 9);
    assert.equal(value(e, "netprobify_http_connections_refused_total", probe), 2);
  });

  test("internal errors are counted by where, every place at 0 from the start", async () => {
    const m = new Metrics({ version: "t" });
    m.applyConfig(config());
    m.countInternalError("iteration");
    m.countInternalError("iteration");
    m.publish();
    const e = await served(m);
    assert.equal(value(e, "netprobify_internal_errors_total", { probe_name: "lab", where: "iteration" }), 2);
    assert.equal(value(e, "netprobify_internal_errors_total", { probe_name: "lab", where: "dns" }), 0);
  });
});

describe("render: the exposition as prom-client writes it", () => {
  test("byte for byte registry.metrics(), escapes and special values included, twice (cached labels)", async () => {
    const m = new Metrics({ version: 'a"b\\c\nd' });
    const c = config();
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 3, lost: 1 })]));
    const registry = (m as unknown as { store: { registry: Registry } }).store.registry;
    const g = new Gauge({
      name: "t_special",
      help: "help \\ with\nnewline",
      labelNames: ["l"],
      registers: [registry],
    });
    g.set({ l: "x" }, Number.NaN);
    g.set({ l: "y" }, Number.POSITIVE_INFINITY);
    g.set({ l: "z" }, Number.NEGATIVE_INFINITY);
    for (let i = 0; i < 2; i++) assert.equal(await render(registry), await registry.metrics());
  });
});

describe("the gzip copy of a rendering", () => {
  test("is made once per rendering, off the event loop, and decompresses to the body", async () => {
    const m = new Metrics({ version: "t" });
    m.applyConfig(config());
    m.publish();
    const e = await m.snapshot();
    for (let i = 0; i < 200 && e.gzip === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(e.gzip, "compressed within 2 s");
    assert.deepEqual(gunzipSync(e.gzip), e.body);
    assert.ok(e.gzip.length < e.body.length / 4);
  });
});
