// Unreachable probes in the metrics (issue 11 item 8): the compat loss counters and ratio count them
// as lost, as the original did (a router's error never reached its capture filter), and
// netprobify_unreachable_probes_total says why, by ICMP type and code. Foreign replies the engine now
// counts instead of dropping go to netprobify_unmatched_replies_total by reason.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { newForeignCounters } from "../../src/engine/results.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { config, iteration, parseExposition, series, value } from "./exposition.js";

const CONF = `groups:
  g1: {}
targets:
  web:
    type: UDPunreachable
    destination: 198.18.0.10
    dst_port: 33434
`;

describe("Metrics: unreachable probes", () => {
  test("loss counts lost + unreachable; the unreachable counter by type/code; unmatched by reason", async () => {
    const m = new Metrics({ version: "0" });
    const c = config(CONF);
    m.applyConfig(c);
    const s = series("web", "g1", {
      sent: 10,
      lost: 1,
      unreachable: 5,
      unreachableBy: new Map([
        ["3/1", 4],
        ["11/0", 1],
      ]),
      icmpErrors: new Map([["3/3", 4]]),
    });
    const foreign = { ...newForeignCounters(), unknownKey: 7, notAReply: 2, settledError: 3 };
    m.recordIteration(c, iteration([s], { foreign }));
    const e = parseExposition(await m.metricsText());
    const w = { destination: "web", group: "g1" };
    assert.equal(value(e, "udp_unreachable_sent_total", w), 10);
    assert.equal(value(e, "udp_unreachable_loss_total", w), 6);
    assert.equal(value(e, "udp_unreachable_loss_ratio", w), 0.6);
    assert.equal(
      value(e, "netprobify_unreachable_probes_total", { ...w, icmp_type: "3", icmp_code: "1" }),
      4,
    );
    assert.equal(
      value(e, "netprobify_unreachable_probes_total", { ...w, icmp_type: "11", icmp_code: "0" }),
      1,
    );
    assert.equal(value(e, "netprobify_icmp_errors_total", { ...w, icmp_type: "3", icmp_code: "3" }), 4);
    for (const [reason, n] of [
      ["unknown_key", 7],
      ["not_a_reply", 2],
      ["settled_error", 3],
    ] as const)
      assert.equal(value(e, "netprobify_unmatched_replies_total", { reason }), n, reason);
  });
});
