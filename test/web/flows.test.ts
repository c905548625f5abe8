// /api/v1/target's flows: the per-flow ledger (src/paths/ledger.ts) in the API's shape, worst loss
// first, null where the ledger knows nothing of the target × group.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FlowResults } from "../../src/engine/flows.js";
import { Ledger } from "../../src/paths/ledger.js";
import { answerApi, WebState } from "../../src/web/api.js";
import { ledgerPaths } from "../../src/web/flows.js";
import { iteration, series } from "../metrics/exposition.js";
import { webConfig } from "./history.test.js";

function flowResults(): FlowResults {
  const flows = [65000, 65001].map((srcPort) => ({
    series: 0,
    dst: "198.18.0.10",
    src: "198.18.0.2",
    srcPort,
    flowLabel: 0,
  }));
  return {
    flows,
    sent: Uint32Array.of(5, 5),
    lost: Uint32Array.of(0, 2),
    unreachable: Uint32Array.of(0, 0),
    samples: Uint32Array.of(5, 3),
    rttMin: Float64Array.of(0.001, 0.002),
    rttP50: Float64Array.of(0.0015, 0.0025),
    rttMax: Float64Array.of(0.002, 0.003),
    replyTtl: Uint8Array.of(63, 63),
  };
}

describe("/api/v1/target flows", () => {
  test("the ledger's flows, worst loss first; null without any", () => {
    const c = webConfig();
    const w = new WebState("0", () => 1000);
    w.applyConfig(c);
    const ledger = new Ledger();
    w.paths = ledgerPaths(ledger);
    w.recordIteration(
      c,
      iteration([series("web", "g1", { sent: 10, lost: 2 }), series("web", "g2", { sent: 1 })]),
    );
    ledger.record([{ target: "web", group: "g1" }], flowResults());
    const body = JSON.parse(answerApi(w, "/api/v1/target", new URLSearchParams("id=web/g1"))!.body);
    assert.deepEqual(body.flows, [
      {
        dst_addr: "198.18.0.10",
        src_addr: "198.18.0.2",
        src_port: 65001,
        flow_label: 0,
        sent: 5,
        lost: 2,
        rtt_min: 0.002,
        rtt_p50: 0.0025,
        rtt_max: 0.003,
        reply_ttl: 63,
      },
      {
        dst_addr: "198.18.0.10",
        src_addr: "198.18.0.2",
        src_port: 65000,
        flow_label: 0,
        sent: 5,
        lost: 0,
        rtt_min: 0.001,
        rtt_p50: 0.0015,
        rtt_max: 0.002,
        reply_ttl: 63,
      },
    ]);
    const none = JSON.parse(answerApi(w, "/api/v1/target", new URLSearchParams("id=web/g2"))!.body);
    assert.equal(none.flows, null);
    assert.equal(none.paths, null);
  });
});
