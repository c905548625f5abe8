// What a reload (applyConfig with a new configuration) does to the served series: the series of a
// removed target, group, percentile or old probe_name disappear from every metric, changed labels
// move the series, unchanged targets keep their counters, and a late result of the old configuration
// brings nothing back.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import {
  BASE_CONFIG,
  config,
  type Exposition,
  find,
  iteration,
  parseExposition,
  series,
  value,
} from "./exposition.js";

async function scrape(m: Metrics): Promise<Exposition> {
  return parseExposition(await m.metricsText());
}

const rtts = (...ms: number[]) => Float64Array.from(ms.map((v) => v / 1000)).sort();

/** A Metrics with the base configuration and one iteration measured on every enabled series. */
function measured() {
  const m = new Metrics({ version: "0" });
  const c = config();
  m.applyConfig(c);
  const all = [
    series("web", "g1", { sent: 10, lost: 1, rtts: rtts(5, 6), late: 1 }),
    series("web", "g2", { sent: 10, rtts: rtts(7), icmpErrors: new Map([["3/3", 2]]) }),
    series("ping6", "g1", { sent: 4, rtts: rtts(1, 2) }),
    series("udp", "g1", { sent: 3, rtts: rtts(3) }),
    series("udp", "g2", { sent: 3, lost: 3 }),
  ];
  const foreign = {
    tcpAckMismatch: new Map<string, number>(),
    portMismatch: new Map([
      ["web", 1],
      ["udp", 2],
    ]),
    addressMismatch: 0,
    unknownKey: 0,
    notAReply: 0,
    settledError: 0,
    unreachableFrom: new Map(),
  };
  m.recordIteration(c, iteration(all, { foreign }));
  m.hostResolved("web", ["198.18.0.10"]);
  m.applyPrepared({
    issues: [{ target: "udp", kind: "self", message: "", disabled: false }],
    addresses: new Map(),
  });
  return { m, c };
}

function without(body: string, name: string): string {
  return body.replace(new RegExp(`\\n  ${name}:\\n(    .*\\n)+`), "\n");
}

describe("Metrics.applyConfig on reload", () => {
  test("a removed target's series disappear from every metric; the others keep their counters", async () => {
    const { m } = measured();
    const before = await scrape(m);
    assert.ok(before.samples.filter((s) => s.labels.destination === "udp").length >= 10);
    const r = m.applyConfig(config(without(BASE_CONFIG, "udp")));
    const e = await scrape(m);
    assert.deepEqual(
      e.samples.filter((s) => s.labels.destination === "udp"),
      [],
    );
    assert.equal(r.removed, before.samples.filter((s) => s.labels.destination === "udp").length);
    assert.equal(value(e, "tcpsyn_sent_total", { destination: "web", group: "g1" }), 10);
    assert.equal(value(e, "netprobify_late_replies_total", { destination: "web", group: "g1" }), 1);
    assert.equal(find(e, "tcpsyn_round_trip_seconds", { destination: "web" }).length, 4);
    assert.equal(value(e, "tcpsyn_port_mismatch_count", { destination: "web" }), 1);
    assert.equal(value(e, "app_host_resolution_status", { destination: "web" }), 1);
  });

  test("a removed group's series disappear; the target's other group stays", async () => {
    const { m } = measured();
    const body = BASE_CONFIG.replace("  g2: {src_port_a: 65100, src_port_z: 65101}\n", "").replace(
      "    explicit_groups: {exclude_from: [g2]}\n",
      "",
    );
    m.applyConfig(config(body));
    const e = await scrape(m);
    assert.deepEqual(
      e.samples.filter((s) => s.labels.group === "g2"),
      [],
    );
    assert.equal(value(e, "tcpsyn_sent_total", { destination: "web", group: "g1" }), 10);
    assert.equal(value(e, "udp_unreachable_sent_total", { destination: "udp", group: "g1" }), 3);
    assert.equal(find(e, "threshold", { destination: "web" }).length, 2);
  });

  test("a target leaving a group (exclude_from) loses that group's series only", async () => {
    const { m } = measured();
    m.applyConfig(
      config(
        BASE_CONFIG.replace(
          "    dst_port: 443\n",
          "    dst_port: 443\n    explicit_groups: {exclude_from: [g1]}\n",
        ),
      ),
    );
    const e = await scrape(m);
    assert.deepEqual(
      find(e, "tcpsyn_sent_total").map((s) => [s.labels.group, s.value]),
      [["g2", 10]],
    );
    assert.equal(
      value(e, "netprobify_icmp_errors_total", { destination: "web", icmp_type: "3", icmp_code: "3" }),
      2,
    );
  });

  test("a removed percentile disappears; a new one appears with the next samples", async () => {
    const { m } = measured();
    const c = config(BASE_CONFIG, "lab", "[99, 50]");
    m.applyConfig(c);
    let e = await scrape(m);
    assert.equal(find(e, "tcpsyn_round_trip_seconds", { percentile: "95" }).length, 0);
    assert.equal(find(e, "icmp_round_trip_seconds", { percentile: "95" }).length, 0);
    assert.equal(find(e, "tcpsyn_round_trip_seconds", { percentile: "50" }).length, 2);
    assert.equal(find(e, "tcpsyn_round_trip_seconds", { percentile: "99" }).length, 0);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 1, rtts: rtts(8) })]));
    e = await scrape(m);
    assert.equal(
      value(e, "tcpsyn_round_trip_seconds", { destination: "web", group: "g1", percentile: "99" }),
      0.008,
    );
  });

  test("a new probe_name: no series keep the old one, counters start again at 0", async () => {
    const { m } = measured();
    m.applyConfig(config(BASE_CONFIG, "lab2"));
    const e = await scrape(m);
    assert.deepEqual(
      e.samples.filter((s) => s.labels.probe_name === "lab"),
      [],
    );
    assert.equal(value(e, "tcpsyn_sent_total", { probe_name: "lab2", destination: "web", group: "g1" }), 0);
    assert.equal(value(e, "app_reload_conf_failed_status", { probe_name: "lab2" }), 0);
    assert.equal(find(e, "app_iteration_time_seconds").length, 0);
    // Metrics without probe_name stay.
    assert.equal(value(e, "netprobify_info", { version: "0" }), 1);
  });

  test("a changed state, alert level, type or family moves the target's series to the new labels", async () => {
    const { m } = measured();
    const body = BASE_CONFIG.replace("    state: in production\n", "    state: validation\n")
      .replace("alert_level: paging\n", "alert_level: paging_validation\n")
      .replace("type: UDPunreachable", "type: ICMPping")
      .replace("    dst_port: 33434\n", "")
      .replace("destination: fd18::10", "destination: 198.18.0.40");
    m.applyConfig(config(body));
    const e = await scrape(m);
    assert.deepEqual(
      find(e, "tcpsyn_sent_total").map((s) => [s.labels.state, s.value]),
      [
        ["validation", 0],
        ["validation", 0],
      ],
    );
    assert.deepEqual(
      [...new Set(find(e, "threshold", { destination: "web" }).map((s) => s.labels.alert_level))],
      ["paging_validation"],
    );
    assert.equal(find(e, "udp_unreachable_sent_total").length, 0);
    assert.equal(find(e, "udp_unreachable_port_mismatch_count").length, 0);
    assert.deepEqual(
      find(e, "icmp_sent_total")
        .map((s) => `${s.labels.destination}/${s.labels.group}/${s.labels.address_family}`)
        .sort(),
      ["ping6/g1/ipv4", "udp/g1/ipv4", "udp/g2/ipv4"],
    );
    // A threshold type removed from the target goes too.
    m.applyConfig(config(body.replace("threshold: {latency: 0.1, loss: 0.05}", "threshold: {loss: 0.05}")));
    assert.equal(find(await scrape(m), "threshold", { type: "latency" }).length, 0);
  });

  test("a disabled target loses its series; its results from the old configuration are not recorded", async () => {
    const { m, c } = measured();
    m.applyConfig(
      config(
        BASE_CONFIG.replace("    dst_port: 443\n", "    dst_port: 443\n    auto_register_to_groups: false\n"),
      ),
    );
    const late = m.recordIteration(
      c,
      iteration([series("web", "g1", { sent: 1, rtts: rtts(1) }), series("ping6", "g1", { sent: 1 })]),
    );
    assert.deepEqual(late, { recorded: 1, skipped: 1 });
    const e = await scrape(m);
    assert.deepEqual(
      e.samples.filter((s) => s.labels.destination === "web"),
      [],
    );
    assert.equal(value(e, "icmp_sent_total", { destination: "ping6" }), 5);
  });

  test("target issues are replaced by the next applyPrepared and follow their target out", async () => {
    const { m } = measured();
    let e = await scrape(m);
    assert.equal(value(e, "netprobify_target_issue", { destination: "udp", reason: "self" }), 0);
    assert.equal(value(e, "netprobify_targets_excluded", { reason: "self" }), 0);
    m.applyPrepared({
      issues: [
        { target: "web", kind: "unresolved", message: "", disabled: true },
        { target: "ping6", kind: "no-route", message: "", disabled: true },
        { target: "off", kind: "no-route", message: "", disabled: true },
      ],
      addresses: new Map(),
    });
    e = await scrape(m);
    assert.deepEqual(
      find(e, "netprobify_target_issue")
        .map((s) => `${s.labels.destination}:${s.labels.reason}=${s.value}`)
        .sort(),
      ["ping6:no_route=1", "web:unresolved=1"],
    );
    assert.deepEqual(
      find(e, "netprobify_targets_excluded").map((s) => `${s.labels.reason}=${s.value}`),
      ["self=0", "unresolved=1", "no_route=1"],
    );
    m.applyConfig(config(without(BASE_CONFIG, "web")));
    assert.deepEqual(
      find(await scrape(m), "netprobify_target_issue").map((s) => s.labels.destination),
      ["ping6"],
    );
  });
});
