// OpenMetrics, as Prometheus asks for it: the daemon's registry rendered byte for byte as prom-client
// renders an OpenMetrics registry, read by an independent strict parser (Python's prometheus_client,
// Debian's package), without breaking the text format (prom-client renames counters in place when it
// renders OpenMetrics itself); and rendered per change only when scrapers asked for it lately.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { CATALOG } from "../../src/metrics/catalog.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { render } from "../../src/metrics/render.js";
import { config, iteration, parseExposition, series, value } from "./exposition.js";

function daemonMetrics(processMetrics = true): { m: Metrics; registry: Registry } {
  const m = new Metrics({ version: "t", processMetrics });
  const c = config();
  m.applyConfig(c);
  m.recordIteration(c, iteration([series("web", "g1", { sent: 10, lost: 2 })]));
  return { m, registry: (m as unknown as { store: { registry: Registry } }).store.registry };
}

/** prom-client's own OpenMetrics output for the same metric objects (names restored after). */
async function promClientOpenMetrics(registry: Registry): Promise<string> {
  const metrics = registry.getMetricsAsArray() as unknown as { name: string }[];
  const names = metrics.map((x) => x.name);
  const om = new Registry();
  om.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
  for (const x of metrics) om.registerMetric(x as never);
  try {
    return await om.metrics();
  } finally {
    metrics.forEach((x, i) => {
      x.name = names[i]!;
    });
  }
}

const WEB_G1 = {
  probe_name: "lab",
  destination: "web",
  address_family: "ipv4",
  state: "in production",
  group: "g1",
};

describe("OpenMetrics rendering", () => {
  test("byte for byte prom-client's OpenMetrics, and the text format is unchanged after it", async () => {
    const { registry } = daemonMetrics();
    const textBefore = await render(registry, "text");
    const om = await render(registry, "openmetrics");
    assert.equal(om, await promClientOpenMetrics(registry));
    assert.ok(om.endsWith("\n# EOF\n"));
    assert.match(om, /^# TYPE tcpsyn_sent counter$/m, "a counter's family is named without _total");
    assert.match(om, /^tcpsyn_sent_total\{/m, "its samples with _total");
    // Rendering OpenMetrics left the registry alone: the text format still says tcpsyn_sent_total.
    assert.equal(await render(registry, "text"), textBefore);
    assert.equal(textBefore, await registry.metrics());
  });

  test("histograms, labels with escapes and prom-client's fallbacks (shared labels) agree too", async () => {
    const registry = new Registry();
    const h = new Histogram({
      name: "t_h",
      help: "a histogram",
      labelNames: ["l"],
      buckets: [0.1, 1],
      registers: [registry],
    });
    h.observe({ l: 'q"x\\y\nz' }, 0.5);
    new Counter({ name: "t_c_total", help: "help \\ with\nnewline", registers: [registry] }).inc(3);
    new Gauge({ name: "t_g", help: "g", registers: [registry] }).set(Number.POSITIVE_INFINITY);
    assert.equal(await render(registry, "openmetrics"), await promClientOpenMetrics(registry));
    assert.equal(await render(registry, "text"), await registry.metrics());
    // Default labels are handed to prom-client (through a registry of its own): names are put back.
    registry.setDefaultLabels({ host: "h1" });
    const om = await render(registry, "openmetrics");
    assert.match(om, /^t_c_total\{host="h1"\} 3$/m);
    assert.match(await registry.metrics(), /^t_c_total\{host="h1"\} 3$/m, "the counter kept its name");
  });

  test("a strict OpenMetrics parser (python3-prometheus-client) reads what the daemon serves", async () => {
    const { m } = daemonMetrics();
    m.publish();
    const om = (await m.snapshot("openmetrics")).body.toString();
    const out = execFileSync(
      "/usr/bin/python3",
      [
        "-c",
        "import sys,json\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n" +
          "fams=list(p(sys.stdin.read()))\n" +
          "v=lambda x: x if x == x else 'NaN'\n" +
          "print(json.dumps({f.name: [[s.name, s.labels, v(s.value)] for s in f.samples] for f in fams}))",
      ],
      { input: om },
    ).toString();
    const families = JSON.parse(out) as Record<string, [string, Record<string, string>, number][]>;
    const sent = families.tcpsyn_sent?.find(([n, l]) => n === "tcpsyn_sent_total" && l.destination === "web");
    assert.equal(sent?.[2], 10);
    assert.ok(families.tcpsyn_loss_ratio, "gauges too");
    // The process metrics (rendered per scrape, appended) end the exposition, with its one # EOF.
    assert.ok(families.process_cpu_seconds, "process metrics in OpenMetrics");
    assert.equal(om.match(/^# EOF$/gm)?.length, 1);
    assert.ok(om.endsWith("\n# EOF\n"));
  });
});

test("promtool check metrics reads the text format: no finding but the original's _count names", async () => {
  const { registry } = daemonMetrics();
  const r = spawnSync("promtool", ["check", "metrics"], {
    input: await render(registry, "text"),
    encoding: "utf8",
  });
  const lines = `${r.stdout}${r.stderr}`.trim().split("\n");
  assert.ok(!lines.some((l) => /error while linting|parse/i.test(l)), lines.join("\n"));
  // Findings on the catalog's metrics (others' are prom-client's): only names kept from the original
  // netprobify (docs/migration.md), which promtool would have end otherwise.
  const ours = new Set(CATALOG.map((d) => d.name));
  const findings = lines.filter((l) => ours.has(l.split(" ")[0]!)).sort();
  assert.deepEqual(
    findings,
    ["tcpsyn_match_ack_fail_count", "tcpsyn_port_mismatch_count", "udp_unreachable_port_mismatch_count"].map(
      (n) => `${n} non-histogram and non-summary metrics should not have "_count" suffix`,
    ),
  );
});

describe("Snapshot: each format rendered once per change, OpenMetrics only when asked", () => {
  test("nobody asked: text only; asked once: rendered then, and at every change after", async () => {
    const counted = { n: 0 };
    const original = Registry.prototype.getMetricsAsArray;
    // Without the process metrics, whose registry is read by each scrape's rendering too.
    const { m } = daemonMetrics(false);
    m.publish();
    const text = await m.snapshot("text");
    // Every rendering reads the registry's metrics once.
    Registry.prototype.getMetricsAsArray = function (this: Registry) {
      counted.n++;
      return original.call(this);
    } as typeof original;
    try {
      assert.equal(text.contentType, "text/plain; version=0.0.4; charset=utf-8");
      const [a, b] = await Promise.all([m.snapshot("openmetrics"), m.snapshot("openmetrics")]);
      assert.equal(counted.n, 1, "one late OpenMetrics rendering for two scrapers");
      assert.equal(a, b);
      assert.equal(a.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8");
      assert.ok(a.body.toString().endsWith("# EOF\n"));
      assert.deepEqual(gunzipSync(a.gzip!), a.body, "gzip too");
      assert.equal(await m.snapshot("text"), text, "the text rendering of the change is kept");
      assert.equal(counted.n, 1);
      // Both formats were asked for lately: the next change renders both, at once.
      m.recordIteration(config(), iteration([series("web", "g1", { sent: 10, lost: 0 })]));
      m.publish();
      const om2 = await m.snapshot("openmetrics");
      const text2 = await m.snapshot("text");
      assert.equal(counted.n, 3);
      assert.equal(value(parseExposition(text2.body.toString()), "tcpsyn_sent_total", WEB_G1), 20);
      assert.match(om2.body.toString(), /^tcpsyn_sent_total\{[^}]*destination="web"[^}]*\} 20$/m);
    } finally {
      Registry.prototype.getMetricsAsArray = original;
    }
  });
});
