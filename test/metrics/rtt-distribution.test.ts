// The distribution metrics: netprobify_rtt_seconds (a histogram, off unless configured, buckets from
// the configuration, cumulative across iterations, removed with its target), and the last
// iteration's RTT min/max and IPDV gauges (absent when nothing was measured).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { BASE_CONFIG, find, GLOBAL, iteration, parseExposition, series, value } from "./exposition.js";

const cfg = (extra: string, body = BASE_CONFIG) => loadConfigText("dist.yaml", `${GLOBAL()}${extra}${body}`);
const ms = (...v: number[]) => Float64Array.from(v.map((x) => x / 1000)).sort();
const WEB = { destination: "web", group: "g1" };

async function scrape(m: Metrics) {
  return parseExposition(await m.metricsText());
}

describe("netprobify_rtt_seconds", () => {
  test("off by default: no series", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = cfg("");
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 3, rtts: ms(1, 2, 3) })]));
    const e = await scrape(m);
    assert.equal(find(e, "netprobify_rtt_seconds_count", {}).length, 0);
  });

  test("buckets from the configuration, cumulative across iterations, with sum and count", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = cfg("  rtt_histogram: true\n  rtt_histogram_buckets: [0.01, 0.002, 0.005]\n");
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 4, rtts: ms(1, 2, 4.5, 30) })]));
    m.recordIteration(c, iteration([series("web", "g1", { sent: 2, rtts: ms(2.0001, 6) })]));
    const e = await scrape(m);
    const bucket = (le: string) => value(e, "netprobify_rtt_seconds_bucket", { ...WEB, le, type: "TCPsyn" });
    assert.deepEqual(
      ["0.002", "0.005", "0.01", "+Inf"].map(bucket),
      [2, 4, 5, 6], // ≤ 2 ms: 1, 2; ≤ 5: + 4.5, 2.0001; ≤ 10: + 6; +Inf: + 30
    );
    assert.equal(value(e, "netprobify_rtt_seconds_count", WEB), 6);
    assert.ok(Math.abs(value(e, "netprobify_rtt_seconds_sum", WEB)! - 0.0455001) < 1e-9);
  });

  test("a reload removes a removed target's series, and new buckets start afresh", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = cfg("  rtt_histogram: true\n");
    m.applyConfig(c);
    m.recordIteration(
      c,
      iteration([
        series("web", "g1", { sent: 1, rtts: ms(1) }),
        series("udp", "g1", { sent: 1, rtts: ms(1) }),
      ]),
    );
    m.applyConfig(cfg("  rtt_histogram: true\n", BASE_CONFIG.replace(/ {2}udp:[\s\S]*?(?= {2}off:)/, "")));
    let e = await scrape(m);
    assert.equal(value(e, "netprobify_rtt_seconds_count", WEB), 1);
    assert.equal(find(e, "netprobify_rtt_seconds_count", { destination: "udp" }).length, 0);
    m.applyConfig(cfg("  rtt_histogram: true\n  rtt_histogram_buckets: [1]\n"));
    e = await scrape(m);
    assert.equal(find(e, "netprobify_rtt_seconds_count", {}).length, 0);
    m.applyConfig(cfg(""));
    e = await scrape(m);
    assert.equal(e.type.get("netprobify_rtt_seconds"), undefined);
  });
});

describe("RTT min/max and IPDV gauges", () => {
  test("the last iteration's values; absent when it measured none", async () => {
    const m = new Metrics({ version: "0", processMetrics: false });
    const c = cfg("");
    m.applyConfig(c);
    m.recordIteration(
      c,
      iteration([
        series("web", "g1", {
          sent: 3,
          rtts: ms(1, 2, 7),
          ipdvPairs: 2,
          ipdvMeanAbs: 0.003,
          ipdvMaxAbs: 0.005,
        }),
      ]),
    );
    let e = await scrape(m);
    assert.equal(value(e, "netprobify_rtt_min_seconds", WEB), 0.001);
    assert.equal(value(e, "netprobify_rtt_max_seconds", WEB), 0.007);
    assert.equal(value(e, "netprobify_ipdv_mean_seconds", WEB), 0.003);
    assert.equal(value(e, "netprobify_ipdv_max_seconds", WEB), 0.005);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 3, lost: 3 })]));
    e = await scrape(m);
    for (const name of ["rtt_min", "rtt_max", "ipdv_mean", "ipdv_max"])
      assert.equal(find(e, `netprobify_${name}_seconds`, WEB).length, 0, name);
  });
});

test("promtool check metrics (text format) finds nothing on the histogram and gauges", async () => {
  const m = new Metrics({ version: "0", processMetrics: false });
  const c = cfg("  rtt_histogram: true\n");
  m.applyConfig(c);
  m.recordIteration(
    c,
    iteration([
      series("web", "g1", { sent: 2, rtts: ms(1, 3), ipdvPairs: 1, ipdvMeanAbs: 0.002, ipdvMaxAbs: 0.002 }),
    ]),
  );
  const body = (await m.snapshot("text")).body.toString();
  assert.match(body, /netprobify_rtt_seconds_bucket\{/);
  const r = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
  const lines = `${r.stdout}${r.stderr}`.trim().split("\n");
  assert.ok(!lines.some((l) => /error while linting|parse/i.test(l)), lines.join("\n"));
  const ours = lines.filter((l) => /^netprobify_(rtt|ipdv)_/.test(l));
  assert.deepEqual(ours, []);
});
