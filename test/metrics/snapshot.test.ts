// Scrapes are served from one rendering per change (issue 11, item 5): between two publish() calls
// every scrape gets the same bytes, rendered once, whatever the number of scrapers; every series of
// one answer comes from the same iteration (a recorded iteration shows only once published, all at
// once); outside totals (dropped log lines, refused connections) are copied in at each rendering.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crc32, gunzipSync, inflateRawSync } from "node:zlib";
import { collectDefaultMetrics, Gauge, Histogram, Registry, Summary } from "prom-client";
import { Metrics } from "../../src/metrics/metrics.js";
import { render } from "../../src/metrics/render.js";
import { config, find, iteration, parseExposition, series, value } from "./exposition.js";

const WEB_G1 = {
  probe_name: "lab",
  destination: "web",
  address_family: "ipv4",
  state: "in production",
  group: "g1",
};

/** A prom-client metric whose readings the test replaces. */
interface Frozen {
  get: () => Promise<unknown>;
  getForPromString?: () => Promise<unknown>;
}

async function served(m: Metrics) {
  return parseExposition((await m.snapshot()).body.toString());
}

describe("Metrics.snapshot: one rendering per change", () => {
  test("scrapes between two publishes share one rendering; an iteration shows once published", async () => {
    const renders = { n: 0 };
    // Every rendering reads the registry's metrics once (the process metrics' own small registry, a
    // live part rendered per scrape, is left out here: see "process metrics" below).
    const original = Registry.prototype.getMetricsAsArray;
    Registry.prototype.getMetricsAsArray = function (this: Registry) {
      renders.n++;
      return original.call(this);
    };
    try {
      const m = new Metrics({ version: "t", processMetrics: false });
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

describe("process metrics (prom-client's default metrics): fresh at scrape time", () => {
  test("served with every scrape, re-rendered once older than the maximum age, the probe part unchanged", async () => {
    let clock = 0;
    const m = new Metrics({ version: "t" });
    // The snapshot's clock, made explicit so the test does not depend on how fast it runs.
    (
      m as unknown as { exposition: { snapshots: { text: { now: () => number } } } }
    ).exposition.snapshots.text.now = () => clock;
    m.applyConfig(config());
    m.publish();
    const first = await m.snapshot();
    const e1 = parseExposition(first.body.toString());
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_open_fds",
      "process_max_fds",
      "process_start_time_seconds",
      "nodejs_heap_size_used_bytes",
      "nodejs_eventloop_lag_seconds",
    ])
      assert.equal(find(e1, name).length, 1, name);
    assert.equal(e1.type.get("nodejs_gc_duration_seconds"), "histogram");
    assert.equal(value(e1, "netprobify_info", { version: "t" }), 1);
    // Within the maximum age: the same exposition, not rendered again.
    clock = 999;
    assert.equal(await m.snapshot(), first);
    // Older: rendered again, with the CPU time spent meanwhile; the probe part is the same rendering.
    const spin = performance.now() + 20;
    while (performance.now() < spin) {}
    clock = 1000;
    const second = await m.snapshot();
    assert.notEqual(second, first);
    const e2 = parseExposition(second.body.toString());
    assert.ok(
      value(e2, "process_cpu_seconds_total", {})! > value(e1, "process_cpu_seconds_total", {})!,
      "CPU seconds moved between the two scrapes",
    );
    assert.equal(second.renderedAt, first.renderedAt, "the probe series were not rendered again");
    assert.deepEqual(gunzipSync(second.gzip!), second.body, "one gzip member decoding to the whole body");
  });

  test("the gzip copy is one member whose deflate stream and CRC cover both parts", async () => {
    const m = new Metrics({ version: "t" });
    m.applyConfig(config());
    m.publish();
    const e = await m.snapshot();
    const gz = e.gzip!;
    // One member: the trailer's size is the whole body's, and nothing follows it.
    assert.equal(gz.readUInt32LE(gz.length - 4), e.body.length);
    assert.equal(gz.readUInt32LE(gz.length - 8), crc32(e.body));
    assert.deepEqual(inflateRawSync(gz.subarray(10, gz.length - 8)), e.body);
  });

  test("process metrics that cannot be read never fail a scrape: the probe series are served", async () => {
    const m = new Metrics({ version: "t" });
    m.applyConfig(config());
    const runtime = (m as unknown as { runtime: Registry }).runtime;
    runtime.getSingleMetric("process_open_fds")!.get = async () => {
      throw new Error("EMFILE (test)");
    };
    const e = parseExposition((await m.snapshot()).body.toString());
    assert.equal(value(e, "netprobify_info", { version: "t" }), 1);
    assert.deepEqual(find(e, "process_open_fds"), []);
  });

  test("processMetrics: false serves the probe series only", async () => {
    const m = new Metrics({ version: "t", processMetrics: false });
    m.applyConfig(config());
    const e = parseExposition((await m.snapshot()).body.toString());
    assert.deepEqual(
      e.samples.filter((s) => /^(process|nodejs)_/.test(s.name)),
      [],
    );
  });
});

describe("render: the exposition as prom-client writes it", () => {
  test("histograms and summaries, labelled or not, byte for byte", async () => {
    const registry = new Registry();
    const h = new Histogram({
      name: "t_h",
      help: "h",
      labelNames: ["kind"],
      buckets: [0.001, 0.1, 1],
      registers: [registry],
    });
    h.observe({ kind: "minor" }, 0.0005);
    h.observe({ kind: "major" }, 0.5);
    h.observe({ kind: "major" }, 7);
    new Histogram({ name: "t_h_bare", help: "h", registers: [registry] }).observe(0.2);
    const s = new Summary({ name: "t_s", help: "s", percentiles: [0.5, 0.99], registers: [registry] });
    for (const v of [1, 2, 3]) s.observe(v);
    for (let i = 0; i < 2; i++) assert.equal(await render(registry), await registry.metrics());
  });

  test("prom-client's default metrics (GC histogram included), byte for byte", async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // Garbage until the GC histogram has observations (delivered asynchronously after each GC).
    const gc = registry.getSingleMetric("nodejs_gc_duration_seconds")!;
    const observed = async () => (await gc.get()).values.some((v) => v.value > 0);
    while (!(await observed())) {
      for (let i = 0; i < 1e5; i++) void new Array(64);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Their values move between two readings: read each metric once and serve that reading to both.
    for (const metric of registry.getMetricsAsArray() as unknown as Frozen[]) {
      const reading = await (metric.getForPromString ?? metric.get).call(metric);
      metric.get = async () => reading;
      if (metric.getForPromString) metric.getForPromString = async () => reading;
    }
    const ours = await render(registry);
    assert.match(ours, /\n# TYPE nodejs_gc_duration_seconds histogram\n/);
    assert.match(ours, /\nnodejs_gc_duration_seconds_bucket\{le="\+Inf",kind="minor"\} \d+\n/);
    assert.equal(ours, await registry.metrics());
  });

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
