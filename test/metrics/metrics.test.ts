// The metrics layer end to end on its served text: the series a configuration creates, what one and
// two iterations add, percentiles that vanish without samples, thresholds, and the label values the
// compat contract and users' alert rules rely on. Results are built by hand; no sockets.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { FIXTURES } from "../support/paths.js";
import { config, type Exposition, find, iteration, parseExposition, series, value } from "./exposition.js";

async function scrape(m: Metrics): Promise<Exposition> {
  return parseExposition(await m.metricsText());
}

const rtts = (...ms: number[]) => Float64Array.from(ms.map((v) => v / 1000)).sort();

/** Linear interpolation between closest ranks at (n - 1) * p / 100: the original's percentile. */
function expectedPercentile(sorted: Float64Array, p: number): number {
  const rank = ((sorted.length - 1) * p) / 100;
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

const WEB_G1 = {
  probe_name: "lab",
  destination: "web",
  address_family: "ipv4",
  state: "in production",
  group: "g1",
};

describe("Metrics after applyConfig, before any iteration", () => {
  test("counters of every enabled target × group exist at 0, nothing for the disabled target", async () => {
    const m = new Metrics({ version: "1.2.3" });
    m.applyConfig(config());
    const e = await scrape(m);
    const pairs = (name: string) =>
      find(e, name)
        .map((s) => `${s.labels.destination}/${s.labels.group}=${s.value}`)
        .sort();
    assert.deepEqual(pairs("tcpsyn_sent_total"), ["web/g1=0", "web/g2=0"]);
    assert.deepEqual(pairs("tcpsyn_loss_total"), ["web/g1=0", "web/g2=0"]);
    assert.deepEqual(pairs("icmp_sent_total"), ["ping6/g1=0"]);
    assert.deepEqual(pairs("udp_unreachable_loss_total"), ["udp/g1=0", "udp/g2=0"]);
    assert.deepEqual(pairs("app_time_ooo_total"), [
      "ping6/g1=0",
      "udp/g1=0",
      "udp/g2=0",
      "web/g1=0",
      "web/g2=0",
    ]);
    // Gauges with no measurement yet do not exist (no fake 0 loss, no fake 0 latency).
    assert.equal(find(e, "tcpsyn_loss_ratio").length, 0);
    assert.equal(find(e, "tcpsyn_round_trip_seconds").length, 0);
    assert.deepEqual(
      e.samples.filter((s) => s.labels.destination === "off"),
      [],
    );
    assert.equal(value(e, "netprobify_info", { version: "1.2.3" }), 1);
    assert.equal(value(e, "app_reload_conf_failed_status", { probe_name: "lab" }), 0);
    assert.equal(value(e, "app_process_timed_out_total", { probe_name: "lab" }), 0);
    assert.equal(value(e, "tcpsyn_match_ack_fail_count", { destination: "web" }), 0);
    assert.equal(value(e, "udp_unreachable_port_mismatch_count", { destination: "udp" }), 0);
    assert.equal(find(e, "tcpsyn_port_mismatch_count", { destination: "udp" }).length, 0);
  });

  test("threshold gauges: one per target × group × configured type, with the target's labels", async () => {
    const m = new Metrics({ version: "0" });
    m.applyConfig(config());
    const got = find(await scrape(m), "threshold")
      .map((s) => JSON.stringify({ ...s.labels, value: s.value }))
      .sort();
    const want = [
      ["web", "g1", "latency", 0.1],
      ["web", "g1", "loss", 0.05],
      ["web", "g2", "latency", 0.1],
      ["web", "g2", "loss", 0.05],
    ]
      .map(([d, g, type, v]) => ({
        probe_name: "lab",
        destination: d,
        address_family: "ipv4",
        type,
        state: "in production",
        alert_level: "paging",
        group: g,
        value: v,
      }))
      .concat(
        ["g1", "g2"].map((g) => ({
          probe_name: "lab",
          destination: "udp",
          address_family: "ipv4",
          type: "loss",
          state: "validation",
          alert_level: "sandbox",
          group: g,
          value: 0.5,
        })),
      )
      .map((o) => JSON.stringify(o))
      .sort();
    assert.deepEqual(got, want);
  });
});

test('an alert_level left empty labels the threshold gauge alert_level="None", as the original exported it', async () => {
  const c = await loadConfig(`${FIXTURES}config/adjusted/empty-alert-level.yaml`);
  const m = new Metrics({ version: "0", processMetrics: false });
  m.applyConfig(c);
  const e = await scrape(m);
  const t = find(e, "threshold");
  assert.equal(t.length, 1);
  assert.equal(t[0]!.labels.alert_level, "None");
  assert.equal(t[0]!.labels.type, "loss");
});

describe("Metrics.recordIteration", () => {
  test("a first iteration: sent, loss, ratio, percentiles, out-of-order answers", async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    const samples = rtts(12, 10, 30, 20);
    const report = m.recordIteration(
      c,
      iteration([series("web", "g1", { sent: 5, lost: 1, rtts: samples, negativeRtt: 2 })], {
        durationMs: 2500,
      }),
    );
    assert.deepEqual(report, { recorded: 1, skipped: 0 });
    const e = await scrape(m);
    assert.equal(value(e, "tcpsyn_sent_total", WEB_G1), 5);
    assert.equal(value(e, "tcpsyn_loss_total", WEB_G1), 1);
    assert.equal(value(e, "tcpsyn_loss_ratio", WEB_G1), 0.2);
    for (const p of [95, 50]) {
      const got = value(e, "tcpsyn_round_trip_seconds", { ...WEB_G1, percentile: String(p) });
      assert.ok(got !== undefined && Math.abs(got - expectedPercentile(samples, p)) < 1e-12, `p${p}: ${got}`);
    }
    assert.equal(find(e, "tcpsyn_round_trip_seconds").length, 2);
    assert.equal(value(e, "app_time_ooo_total", { destination: "web", group: "g1" }), 2);
    assert.equal(value(e, "app_iteration_time_seconds", { probe_name: "lab" }), 2.5);
    assert.equal(value(e, "netprobify_iterations_total", { probe_name: "lab" }), 1);
    assert.equal(value(e, "netprobify_iteration_probes", { probe_name: "lab" }), 5);
    // The other group of the same target was not in the result: still 0, no ratio.
    assert.equal(value(e, "tcpsyn_sent_total", { ...WEB_G1, group: "g2" }), 0);
    assert.equal(value(e, "tcpsyn_loss_ratio", { ...WEB_G1, group: "g2" }), undefined);
  });

  test("counters grow over two iterations; the ratio and percentiles are the last iteration's", async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("udp", "g2", { sent: 4, lost: 4 })]));
    const second = rtts(7, 9);
    m.recordIteration(c, iteration([series("udp", "g2", { sent: 6, lost: 1, rtts: second, late: 3 })]));
    const e = await scrape(m);
    const udp = { destination: "udp", group: "g2", state: "validation" };
    assert.equal(value(e, "udp_unreachable_sent_total", udp), 10);
    assert.equal(value(e, "udp_unreachable_loss_total", udp), 5);
    assert.equal(value(e, "udp_unreachable_loss_ratio", udp), 1 / 6);
    const p50 = value(e, "udp_unreachable_round_trip_seconds", { ...udp, percentile: "50" });
    assert.ok(p50 !== undefined && Math.abs(p50 - 0.008) < 1e-12, `p50 ${p50}`);
    assert.equal(value(e, "netprobify_late_replies_total", { destination: "udp", group: "g2" }), 3);
    assert.equal(value(e, "netprobify_iterations_total", { probe_name: "lab" }), 2);
  });

  test("percentile series disappear when an iteration has no RTT sample, and come back with samples", async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 2, rtts: rtts(1, 2) })]));
    assert.equal(find(await scrape(m), "tcpsyn_round_trip_seconds", WEB_G1).length, 2);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 2, lost: 2 })]));
    let e = await scrape(m);
    assert.equal(find(e, "tcpsyn_round_trip_seconds").length, 0);
    assert.equal(value(e, "tcpsyn_loss_ratio", WEB_G1), 1);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 1, rtts: rtts(4) })]));
    e = await scrape(m);
    assert.deepEqual(
      find(e, "tcpsyn_round_trip_seconds", WEB_G1).map((s) => [s.labels.percentile, s.value]),
      [
        ["95", 0.004],
        ["50", 0.004],
      ],
    );
  });

  test("nothing sent: ratio 0, no percentile; refused sends are counted apart from loss", async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    m.recordIteration(
      c,
      iteration([series("ping6", "g1", { failed: 3 })], { sendErrors: new Map([["ENETUNREACH", 3]]) }),
    );
    const e = await scrape(m);
    const p = { destination: "ping6", group: "g1" };
    assert.equal(value(e, "icmp_loss_ratio", p), 0);
    assert.equal(value(e, "icmp_loss_total", p), 0);
    assert.equal(value(e, "netprobify_unsent_probes_total", p), 3);
    assert.equal(value(e, "netprobify_send_failures_total", { probe_name: "lab", errno: "ENETUNREACH" }), 3);
    assert.equal(find(e, "icmp_round_trip_seconds").length, 0);
    assert.equal(value(e, "netprobify_iteration_probes", { probe_name: "lab" }), 3);
  });

  test("a disabled target's results make no series", async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    const r = m.recordIteration(c, iteration([series("off", "g1", { sent: 1, rtts: rtts(1) })]));
    assert.deepEqual(r, { recorded: 0, skipped: 1 });
    const e = await scrape(m);
    assert.deepEqual(
      e.samples.filter((s) => s.labels.destination === "off"),
      [],
    );
  });

  test(`label values are exactly the compat ones: state "None" when unset (the original's), percentile as an integer string`, async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("ping6", "g1", { sent: 1, rtts: rtts(3) })]));
    const e = await scrape(m);
    assert.deepEqual(
      find(e, "icmp_round_trip_seconds").map((s) => s.labels),
      [
        {
          probe_name: "lab",
          destination: "ping6",
          address_family: "ipv6",
          state: "None",
          group: "g1",
          percentile: "95",
        },
        {
          probe_name: "lab",
          destination: "ping6",
          address_family: "ipv6",
          state: "None",
          group: "g1",
          percentile: "50",
        },
      ],
    );
  });

  test("the metric and label combinations of the users' alert rules are served", async () => {
    const m = new Metrics({ version: "0" });
    const c = config();
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 3, lost: 1, rtts: rtts(150, 160) })]));
    m.setReloadConfFailed(false);
    const e = await scrape(m);
    // tcpsyn_loss_ratio{probe_name="lab"} * 100 > 0.1
    assert.ok(
      value(e, "tcpsyn_loss_ratio", { probe_name: "lab", destination: "web", group: "g1" })! * 100 > 0.1,
    );
    // tcpsyn_round_trip_seconds{probe_name="lab",percentile="95"} * 1000 > 100
    const p95 = find(e, "tcpsyn_round_trip_seconds", { probe_name: "lab", percentile: "95" });
    assert.equal(p95.length, 1);
    assert.ok(p95[0]!.value * 1000 > 100);
    // ... > on(destination, probe_name) threshold{alert_level="paging",type="latency"} * 1000
    const th = find(e, "threshold", {
      alert_level: "paging",
      type: "latency",
      destination: "web",
      group: "g1",
    });
    assert.equal(th.length, 1);
    assert.equal(th[0]!.labels.probe_name, p95[0]!.labels.probe_name);
    assert.ok(p95[0]!.value * 1000 > th[0]!.value * 1000);
    // app_iteration_time_seconds{probe_name="lab"}, app_reload_conf_failed_status{probe_name="lab"}
    assert.equal(find(e, "app_iteration_time_seconds", { probe_name: "lab" }).length, 1);
    assert.equal(value(e, "app_reload_conf_failed_status", { probe_name: "lab" }), 0);
    // sum by(probe_name) (increase(tcpsyn_sent_total{probe_name="lab"}[10m])) == 0
    assert.equal(find(e, "tcpsyn_sent_total", { probe_name: "lab" }).length, 2);
  });
});
