// ledgerAnomalies: the tracer's view of the ledger. A flow losing everything among healthy ones is
// flagged; the healthy ones come least lossy first; `lossy` lists every flow with loss (for
// trace_on_loss: any); a target no longer in the configuration is left out. A low loss spread over a
// few flows (a 1 %-like member) is flagged by the concentration test, those flows first. The detection
// is computed once per recorded iteration for its two readers (detectIn). No sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import { summarizeFlows } from "../../src/engine/flows.js";
import { InFlight } from "../../src/engine/inflight.js";
import { buildPlan, type ProbePlan } from "../../src/engine/plan.js";
import { detect, detectIn } from "../../src/paths/anomaly.js";
import { ledgerAnomalies } from "../../src/paths/anomaly-source.js";
import { Ledger } from "../../src/paths/ledger.js";

const plan = (): ProbePlan =>
  buildPlan(
    [
      {
        name: "t",
        type: "TCPsyn",
        family: "ipv4",
        addresses: ["198.18.1.1"],
        dstPort: 80,
        nbPackets: 64,
        dontFragment: true,
        timeout: 1,
        groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1007, dscp: 0 }],
      },
    ],
    () => "198.18.0.2",
  );

/** By default port 1003 loses everything, 1005 one probe in eight, the others nothing. */
function iteration(
  p: ProbePlan,
  lose = (i: number, port: number) => port === 1003 || (port === 1005 && i % 64 === 5),
) {
  const f = new InFlight(0, p.count, () => 1000);
  for (let i = 0; i < p.count; i++) {
    f.markSent(i, 0);
    const port = p.srcPort[i]!;
    if (lose(i, port)) continue;
    f.setTx(i, 1e9);
    f.reply(i, 1e9 + 1e6);
  }
  f.expire(10_000);
  return summarizeFlows(p, f);
}

const config = (target: string) =>
  loadConfigText(
    "a.yaml",
    `global: {probe_name: a, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 1, dns_update_interval: 0}
groups: {g: {}}
targets: {${target}: {type: TCPsyn, destination: 198.18.1.1, dst_port: 80}}
`,
  );

test("flagged, healthy least lossy first, lossy worst first; targets out of the configuration left out", () => {
  const p = plan();
  const ledger = new Ledger();
  const series = p.series.map((s) => ({ target: s.target, group: s.group }));
  for (let it = 0; it < 4; it++) ledger.record(series, iteration(p));
  let c = config("t");
  const source = ledgerAnomalies(ledger, () => c);
  const [v] = source.current();
  assert.equal(v!.target, "t");
  assert.deepEqual(
    v!.flagged.map((f) => f.srcPort),
    [1003],
  );
  assert.deepEqual(v!.flagged[0], { dst: "198.18.1.1", src: "198.18.0.2", srcPort: 1003, flowLabel: 0 });
  assert.equal(v!.healthy.length, 7);
  assert.equal(v!.healthy[v!.healthy.length - 1]!.srcPort, 1005, "the lossy healthy flow last");
  assert.deepEqual(
    v!.lossy.map((f) => f.srcPort),
    [1003, 1005],
  );
  c = config("other");
  assert.deepEqual(source.current(), []);
});

test("one probe in 64 lost on 3 of 8 flows: none flagged alone, the three flagged by the concentration test", () => {
  const p = plan();
  const ledger = new Ledger();
  const series = p.series.map((s) => ({ target: s.target, group: s.group }));
  const bad = new Set([1001, 1004, 1006]);
  // Each bad flow (8 probes per iteration) loses its first probe every 8th iteration: 1.6 %.
  let first = new Set<number>();
  const lose = (it: number) => (_i: number, port: number) => {
    if (it % 8 !== 0 || !bad.has(port) || first.has(port)) return false;
    first.add(port);
    return true;
  };
  const c = config("t");
  const source = ledgerAnomalies(ledger, () => c);
  let flaggedAt = -1;
  for (let it = 0; it < 48 && flaggedAt < 0; it++) {
    first = new Set();
    ledger.record(series, iteration(p, lose(it)));
    if ((source.current()[0]?.flagged.length ?? 0) > 0) flaggedAt = it;
  }
  assert.ok(flaggedAt > 8, `not at the first losses (${flaggedAt})`);
  const [v] = source.current();
  assert.deepEqual(v!.flagged.map((f) => f.srcPort).sort(), [...bad].sort());
  assert.deepEqual(v!.healthy.map((f) => f.srcPort).sort(), [1000, 1002, 1003, 1005, 1007]);
});

test("detectIn: detect() of the ledger's flows, computed once per record() or retain() for its readers", () => {
  const p = plan();
  const ledger = new Ledger();
  const series = p.series.map((s) => ({ target: s.target, group: s.group }));
  for (let it = 0; it < 4; it++) ledger.record(series, iteration(p));
  const a = detectIn(ledger, "t", "g");
  assert.equal(detectIn(ledger, "t", "g"), a, "the same detection for the second reader of the iteration");
  assert.deepEqual(a, detect(ledger.flows("t", "g")));
  assert.deepEqual(
    a.flagged.map((f) => f.srcPort),
    [1003],
  );
  assert.equal(ledger.view("t", "g"), ledger.view("t", "g"), "view(): the ledger's own array, not a copy");
  assert.deepEqual(ledger.view("t", "g"), ledger.flows("t", "g"));
  ledger.record(
    series,
    iteration(p, () => false),
  );
  const c = detectIn(ledger, "t", "g");
  assert.notEqual(c, a, "computed again after the next iteration");
  assert.deepEqual(c, detect(ledger.flows("t", "g")));
  ledger.retain(() => false);
  const d = detectIn(ledger, "t", "g");
  assert.deepEqual([ledger.view("t", "g"), d.flagged, d.healthy], [[], [], []], "and after a reload");
});

test("targets with neither a flagged nor a lossy flow are left out of the tracer's views", () => {
  const p = plan();
  const ledger = new Ledger();
  const series = p.series.map((s) => ({ target: s.target, group: s.group }));
  const c = config("t");
  const source = ledgerAnomalies(ledger, () => c);
  for (let it = 0; it < 4; it++)
    ledger.record(
      series,
      iteration(p, () => false),
    );
  assert.deepEqual(source.current(), [], "no loss: nothing to trace");
  ledger.record(
    series,
    iteration(p, (i, port) => port === 1002 && i % 64 === 2),
  );
  const [v] = source.current();
  assert.deepEqual(
    [v!.flagged.length, v!.lossy.map((f) => f.srcPort)],
    [0, [1002]],
    "one lost probe: a lossy flow, for trace_on_loss: any",
  );
});
