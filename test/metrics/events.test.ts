// Metrics fed by things other than per-series results: foreign replies (attributed to targets by name
// or by address), kernel send errors and drops, iteration timeouts, and the application events the
// daemon reports (reload failure, DNS, duplicate names).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { config, type Exposition, find, iteration, parseExposition, series, value } from "./exposition.js";

async function scrape(m: Metrics): Promise<Exposition> {
  return parseExposition(await m.metricsText());
}

/** web (TCPsyn) and web2 (TCPsyn) share 198.18.0.10; ping (ICMPping) probes it too. */
const SHARED = `groups:
  g1: {}
targets:
  web:
    type: TCPsyn
    destination: 198.18.0.10
    dst_port: 443
  web2:
    type: TCPsyn
    destination: 198.18.0.10
    dst_port: 80
  ping:
    type: ICMPping
    destination: 198.18.0.10
  udp:
    type: UDPunreachable
    destination: 198.18.0.20
    dst_port: 33434
`;

const addresses = new Map([
  ["web", ["198.18.0.10"]],
  ["web2", ["198.18.0.10"]],
  ["ping", ["198.18.0.10"]],
  ["udp", ["198.18.0.20"]],
]);

describe("Metrics: foreign replies", () => {
  test("port mismatches go to the named target's gauge of its type, and accumulate", async () => {
    const m = new Metrics({ version: "0" });
    const c = config(SHARED);
    m.applyConfig(c);
    const foreign = () => ({
      tcpAckMismatch: new Map<string, number>(),
      portMismatch: new Map([
        ["web", 2],
        ["udp", 5],
        ["gone", 7],
      ]),
      addressMismatch: 1,
      unknownKey: 0,
      notAReply: 0,
      settledError: 0,
      unreachableFrom: new Map(),
    });
    m.recordIteration(c, iteration([], { foreign: foreign() }));
    m.recordIteration(c, iteration([], { foreign: foreign() }));
    const e = await scrape(m);
    assert.equal(value(e, "tcpsyn_port_mismatch_count", { destination: "web" }), 4);
    assert.equal(value(e, "tcpsyn_port_mismatch_count", { destination: "web2" }), 0);
    assert.equal(value(e, "udp_unreachable_port_mismatch_count", { destination: "udp" }), 10);
    assert.equal(value(e, "netprobify_unmatched_replies_total", { reason: "port_mismatch" }), 14);
    assert.equal(value(e, "netprobify_unmatched_replies_total", { reason: "address_mismatch" }), 2);
    assert.deepEqual(find(e, "tcpsyn_port_mismatch_count", { destination: "web" })[0]!.labels, {
      probe_name: "lab",
      destination: "web",
      address_family: "ipv4",
    });
  });

  test("TCP ack mismatches, keyed by address, go to every TCPsyn target probing that address", async () => {
    const m = new Metrics({ version: "0" });
    const c = config(SHARED);
    m.applyConfig(c);
    m.applyPrepared({ issues: [], addresses });
    const foreign = {
      tcpAckMismatch: new Map([
        ["198.18.0.10", 3],
        ["198.18.0.20", 1],
        ["unknown", 2],
      ]),
      portMismatch: new Map<string, number>(),
      addressMismatch: 0,
      unknownKey: 0,
      notAReply: 0,
      settledError: 0,
      unreachableFrom: new Map(),
    };
    m.recordIteration(c, iteration([], { foreign }));
    const e = await scrape(m);
    assert.equal(value(e, "tcpsyn_match_ack_fail_count", { destination: "web" }), 3);
    assert.equal(value(e, "tcpsyn_match_ack_fail_count", { destination: "web2" }), 3);
    assert.equal(find(e, "tcpsyn_match_ack_fail_count", { destination: "ping" }).length, 0);
    // 198.18.0.20 is probed by a UDP target only, "unknown" by nobody.
    assert.equal(value(e, "netprobify_unmatched_replies_total", { reason: "unknown_source" }), 3);
  });

  test("without applyPrepared, TCP ack mismatches cannot be attributed and are counted as unknown_source", async () => {
    const m = new Metrics({ version: "0" });
    const c = config(SHARED);
    m.applyConfig(c);
    const foreign = {
      tcpAckMismatch: new Map([["198.18.0.10", 4]]),
      portMismatch: new Map(),
      addressMismatch: 0,
      unknownKey: 0,
      notAReply: 0,
      settledError: 0,
      unreachableFrom: new Map(),
    };
    m.recordIteration(c, iteration([], { foreign }));
    const e = await scrape(m);
    assert.equal(value(e, "tcpsyn_match_ack_fail_count", { destination: "web" }), 0);
    assert.equal(value(e, "netprobify_unmatched_replies_total", { reason: "unknown_source" }), 4);
  });
});

describe("Metrics: engine and application events", () => {
  test("send errors by errno, socket drops, ICMP errors by type and code, duplicates, untimed answers", async () => {
    const m = new Metrics({ version: "0" });
    const c = config(SHARED);
    m.applyConfig(c);
    const one = () =>
      iteration(
        [
          series("udp", "g1", {
            sent: 4,
            failed: 1,
            duplicates: 2,
            untimed: 1,
            icmpErrors: new Map([
              ["3/3", 3],
              ["3/1", 1],
            ]),
          }),
        ],
        {
          sendErrors: new Map([
            ["EPERM", 1],
            ["ENOBUFS", 2],
          ]),
          socketDrops: 6,
        },
      );
    m.recordIteration(c, one());
    m.recordIteration(c, one());
    const e = await scrape(m);
    const tg = { probe_name: "lab", destination: "udp", address_family: "ipv4", group: "g1" };
    assert.deepEqual(
      find(e, "netprobify_icmp_errors_total").map((s) => s.labels),
      [
        { ...tg, icmp_type: "3", icmp_code: "3" },
        { ...tg, icmp_type: "3", icmp_code: "1" },
      ],
    );
    assert.deepEqual(
      find(e, "netprobify_icmp_errors_total").map((s) => s.value),
      [6, 2],
    );
    assert.equal(value(e, "netprobify_duplicate_replies_total", tg), 4);
    assert.equal(value(e, "netprobify_untimed_replies_total", tg), 2);
    assert.equal(value(e, "netprobify_unsent_probes_total", tg), 2);
    assert.equal(value(e, "netprobify_send_failures_total", { errno: "EPERM" }), 2);
    assert.equal(value(e, "netprobify_send_failures_total", { errno: "ENOBUFS" }), 4);
    assert.equal(value(e, "netprobify_socket_drops_total", { probe_name: "lab" }), 12);
  });

  test("an iteration stopped by global.timeout increments app_process_timed_out_total", async () => {
    const m = new Metrics({ version: "0" });
    const c = config(SHARED);
    m.applyConfig(c);
    m.recordIteration(c, iteration([], { timedOut: true, durationMs: 3_600_000 }));
    m.recordIteration(c, iteration([], { timedOut: false, durationMs: 40 }));
    m.recordIteration(c, iteration([], { timedOut: true, durationMs: 3_600_000 }));
    const e = await scrape(m);
    assert.equal(value(e, "app_process_timed_out_total", { probe_name: "lab" }), 2);
    assert.equal(value(e, "app_iteration_time_seconds", { probe_name: "lab" }), 3600);
  });

  test("reload failure status, host resolution, resolution changes, duplicate names, info", async () => {
    const m = new Metrics({ version: "9.9.9" });
    assert.throws(() => m.setReloadConfFailed(true), /applyConfig/);
    m.applyConfig(config(SHARED));
    m.setReloadConfFailed(true);
    assert.equal(m.hostResolved("web", undefined), true);
    assert.equal(m.hostResolved("nope", ["198.18.0.1"]), false);
    assert.equal(m.hostResolved("web2", ["198.18.0.10"]), true);
    m.hostResolved("web2", ["198.18.0.11"]);
    m.countTargetNameDup("inv_host1");
    m.countTargetNameDup("inv_host1");
    let e = await scrape(m);
    assert.equal(value(e, "app_reload_conf_failed_status", { probe_name: "lab" }), 1);
    assert.equal(value(e, "app_host_resolution_status", { destination: "web", address_family: "ipv4" }), 0);
    assert.equal(value(e, "app_host_resolution_change_total", { destination: "web" }), 0);
    assert.equal(value(e, "app_host_resolution_change_total", { destination: "web2" }), 2);
    assert.equal(find(e, "app_host_resolution_status", { destination: "nope" }).length, 0);
    assert.equal(value(e, "app_target_name_dup_total", { target_name: "inv_host1" }), 2);
    assert.deepEqual(find(e, "netprobify_info"), [
      { name: "netprobify_info", labels: { version: "9.9.9" }, value: 1 },
    ]);
    // Applying a configuration alone (an inventory refresh) keeps the refusal: the file is still bad.
    m.applyConfig(config(SHARED));
    e = await scrape(m);
    assert.equal(value(e, "app_reload_conf_failed_status", { probe_name: "lab" }), 1);
    // A successful reload, as the daemon reports it, clears the failure status.
    m.setReloadConfFailed(false);
    e = await scrape(m);
    assert.equal(value(e, "app_reload_conf_failed_status", { probe_name: "lab" }), 0);
    assert.equal(value(e, "app_host_resolution_status", { destination: "web" }), 0);
  });

  test("the reload-failed gauge covers both files: a refused web configuration outlives applied configurations", async () => {
    const m = new Metrics({ version: "1", processMetrics: false });
    m.applyConfig(config(SHARED));
    const gauge = async () => value(await scrape(m), "app_reload_conf_failed_status", { probe_name: "lab" });
    m.setReloadConfFailed(true, "web");
    assert.equal(await gauge(), 1);
    // The daemon's file reloaded (a new configuration applied, its reload reported good): still refused.
    m.applyConfig(config(SHARED));
    m.setReloadConfFailed(false);
    assert.equal(await gauge(), 1);
    // Both refused, then the web file fixed: the daemon's refusal still shows.
    m.setReloadConfFailed(true, "config");
    m.setReloadConfFailed(false, "web");
    assert.equal(await gauge(), 1);
    m.setReloadConfFailed(false, "config");
    assert.equal(await gauge(), 0);
  });

  test("the content type is Prometheus text 0.0.4 and two instances never share series", async () => {
    const a = new Metrics({ version: "a" });
    const b = new Metrics({ version: "b" });
    assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
    a.applyConfig(config(SHARED));
    const eb = await scrape(b);
    assert.equal(find(eb, "tcpsyn_sent_total").length, 0);
    assert.deepEqual(
      find(eb, "netprobify_info").map((s) => s.labels.version),
      ["b"],
    );
  });
});
