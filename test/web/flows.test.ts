// /api/v1/target's flows: the per-flow ledger (src/paths/ledger.ts) in the API's shape, worst loss
// first, null where the ledger knows nothing of the target × group.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FlowResults } from "../../src/engine/flows.js";
import { Ledger } from "../../src/paths/ledger.js";
import type { PathsDocument } from "../../src/paths/trace-export.js";
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

describe("/api/v1 from trace-on-loss: the open incident and its suspect link", () => {
  test("a link verdict is the target's suspect link (status and target); other targets have none", () => {
    const c = webConfig();
    const w = new WebState("0", () => 1000);
    w.applyConfig(c);
    const incident = {
      destination: "web",
      group: "g1",
      phase: "watch",
      opened_seconds_ago: 12,
      probes: 9000,
      budget: 19200,
      budget_exhausted: false,
      verdict: { kind: "link", from: "198.18.9.1", to: "198.18.9.6", lossEstimate: 0.05 },
      distinct_paths: 4,
      hops: 3,
      path_changes: 0,
      flows: [],
    };
    const doc = { enabled: true, incidents: [incident] } as unknown as PathsDocument;
    w.paths = ledgerPaths(new Ledger(), () => doc);
    w.recordIteration(
      c,
      iteration([series("web", "g1", { sent: 10, lost: 2 }), series("web", "g2", { sent: 1 })]),
    );
    const status = JSON.parse(answerApi(w, "/api/v1/status", new URLSearchParams())!.body);
    const link = (id: string) => status.targets.find((t: { id: string }) => t.id === id).suspect_link;
    assert.deepEqual(link("web/g1"), { from: "198.18.9.1", to: "198.18.9.6", loss: 0.05 });
    assert.equal(link("web/g2"), null);
    const target = JSON.parse(answerApi(w, "/api/v1/target", new URLSearchParams("id=web/g1"))!.body);
    assert.equal(target.paths.distinct_paths, 4);
    // The far end never answered: the link still shows, its end named as silent.
    incident.verdict = { kind: "link", from: "198.18.9.1", to: null, lossEstimate: 1 } as never;
    assert.deepEqual(
      link("web/g1") &&
        JSON.parse(answerApi(w, "/api/v1/status", new URLSearchParams())!.body).targets.find(
          (t: { id: string }) => t.id === "web/g1",
        ).suspect_link,
      { from: "198.18.9.1", to: "(silent)", loss: 1 },
    );
  });
});
