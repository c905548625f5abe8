// The per-flow path from an iteration's in-flight table to the ledger, without the network: flows
// of a plan, their per-iteration figures (unreachable is not loss, RTT min/median/max, reply TTL),
// then the ledger's window, totals, aging and reload pruning.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { flowIndex, summarizeFlows } from "../../src/engine/flows.js";
import { InFlight } from "../../src/engine/inflight.js";
import { buildPlan, type PlanTargetInput, type ProbePlan } from "../../src/engine/plan.js";
import { Ledger, LONG_BLOCKS, WINDOW, worstFirst } from "../../src/paths/ledger.js";

function plan(ports: number, nbPackets: number, targets = ["t"]): ProbePlan {
  const inputs: PlanTargetInput[] = targets.map((name) => ({
    name,
    type: "TCPsyn",
    family: "ipv4",
    addresses: ["198.18.1.1"],
    dstPort: 80,
    nbPackets,
    dontFragment: true,
    timeout: 1,
    groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1000 + ports - 1, dscp: 0 }],
  }));
  return buildPlan(inputs, () => "198.18.0.2");
}

/** An iteration where probe i gets `fate(i, port)`: an RTT in ms, "lost" or "unreachable". */
function run(p: ProbePlan, fate: (i: number, port: number) => number | "lost" | "unreachable") {
  const f = new InFlight(0, p.count, () => 1000);
  for (let i = 0; i < p.count; i++) {
    f.markSent(i, 0);
    const what = fate(i, p.srcPort[i]!);
    if (what === "unreachable") f.noteError(i, 3, 1);
    else if (what !== "lost") {
      f.setTx(i, 1e9);
      f.reply(i, 1e9 + what * 1e6);
      f.replyTtl[i] = 60;
    }
  }
  f.expire(10_000);
  return summarizeFlows(p, f);
}

describe("per-flow results and ledger", () => {
  test("a plan's flows are its (series, destination, source, port, label) tuples", () => {
    const p = plan(4, 8, ["a", "b"]);
    const idx = flowIndex(p);
    assert.equal(idx.flows.length, 8, "2 targets x 4 ports");
    assert.equal(flowIndex(p), idx, "cached per plan");
    for (let f = 0; f < idx.flows.length; f++) assert.equal(idx.start[f + 1]! - idx.start[f]!, 2);
    for (let i = 0; i < p.count; i++) {
      const fl = idx.flows[idx.flowOf[i]!]!;
      assert.equal(fl.srcPort, p.srcPort[i]);
      assert.equal(fl.series, p.seriesOf[i]);
    }
  });

  test("per flow: lost excludes unreachable; RTT min/median/max; reply TTL", () => {
    const p = plan(2, 6); // ports 1000, 1001: 3 probes each
    let unreachableSent = false;
    let answered = 0;
    const r = run(p, (_i, port) => {
      if (port === 1000) return [3, 1, 2][answered++]!;
      if (unreachableSent) return "lost";
      unreachableSent = true;
      return "unreachable";
    });
    const at = (port: number) => r.flows.findIndex((f) => f.srcPort === port);
    const a = at(1000);
    const b = at(1001);
    assert.equal(r.sent[a], 3);
    assert.equal(r.lost[a], 0);
    assert.equal(r.samples[a], 3);
    assert.equal(r.replyTtl[a], 60);
    assert.ok(r.rttMin[a]! > 0 && r.rttMin[a]! <= r.rttP50[a]! && r.rttP50[a]! <= r.rttMax[a]!);
    assert.equal(r.sent[b], 3);
    assert.equal(r.unreachable[b], 1);
    assert.equal(r.lost[b], 2, "the unreachable probe is not counted lost");
    assert.ok(Number.isNaN(r.rttP50[b]!));
    assert.equal(r.replyTtl[b], 0);
  });

  test("RTT figures are the samples' min, median and max", () => {
    const p = plan(1, 3);
    const rtts = [5, 1, 3];
    const r = run(p, (i) => rtts[i]!);
    assert.deepEqual([r.rttMin[0], r.rttP50[0], r.rttMax[0]], [0.001, 0.003, 0.005]);
  });

  test("the ledger sums the last WINDOW iterations, totals since first seen, worst first", () => {
    const p = plan(4, 4);
    const series = p.series.map((s) => ({ target: s.target, group: s.group }));
    const ledger = new Ledger();
    const iterations = WINDOW + 4;
    for (let it = 0; it < iterations; it++) {
      // Port 1002 loses every probe in the last 2 iterations only; 1003 loses all from the start.
      ledger.record(
        series,
        run(p, (_i, port) => (port === 1003 || (port === 1002 && it >= iterations - 2) ? "lost" : 1)),
      );
    }
    const flows = ledger.flows("t", "g");
    assert.equal(flows.length, 4);
    const byPort = new Map(flows.map((f) => [f.srcPort, f]));
    assert.equal(byPort.get(1000)!.sent, WINDOW, "one probe per iteration, over the window");
    assert.equal(byPort.get(1000)!.sentTotal, iterations);
    assert.equal(byPort.get(1002)!.lost, 2);
    assert.equal(byPort.get(1003)!.lossRatio, 1);
    assert.equal(byPort.get(1003)!.lostTotal, iterations);
    assert.ok(Math.abs(byPort.get(1000)!.rttP50 - 0.001) < 1e-9, "kept as float32");
    assert.deepEqual(
      [...flows].sort(worstFirst).map((f) => f.srcPort),
      [1003, 1002, 1000, 1001],
    );
  });

  test("the long window sums the current block of WINDOW iterations and the LONG_BLOCKS - 1 before it", () => {
    const p = plan(2, 2);
    const series = p.series.map((s) => ({ target: s.target, group: s.group }));
    const ledger = new Ledger();
    const iterations = LONG_BLOCKS * WINDOW + 3; // the oldest block has left the long window
    for (let it = 0; it < iterations; it++) {
      // Port 1001 loses one probe in the first block (forgotten) and one in the second (kept).
      const lose = it === 2 || it === WINDOW + 2;
      ledger.record(
        series,
        run(p, (_i, port) => (port === 1001 && lose ? "lost" : 1)),
      );
    }
    const byPort = new Map(ledger.flows("t", "g").map((f) => [f.srcPort, f]));
    const kept = iterations - WINDOW; // blocks 1 .. LONG_BLOCKS, the last one partial
    assert.equal(byPort.get(1000)!.sentLong, kept);
    assert.equal(byPort.get(1000)!.lostLong, 0);
    assert.equal(byPort.get(1001)!.lostLong, 1, "the loss of the first block is forgotten");
    assert.equal(byPort.get(1001)!.lost, 0, "neither loss is in the short window");
    assert.equal(byPort.get(1001)!.lostTotal, 2);
  });

  test("a flow absent for WINDOW iterations goes; its missed iterations count as nothing", () => {
    const ledger = new Ledger();
    const wide = plan(4, 4);
    const narrow = plan(2, 2); // ports 1000-1001 only
    const series = wide.series.map((s) => ({ target: s.target, group: s.group }));
    ledger.record(
      series,
      run(wide, () => "lost"),
    );
    for (let it = 0; it < WINDOW - 1; it++)
      ledger.record(
        series,
        run(narrow, () => 1),
      );
    const flows = new Map(ledger.flows("t", "g").map((f) => [f.srcPort, f]));
    assert.equal(flows.size, 4, "still inside the window");
    assert.equal(flows.get(1000)!.lost, 1);
    assert.equal(flows.get(1000)!.sent, WINDOW);
    assert.equal(flows.get(1003)!.sent, 1);
    ledger.record(
      series,
      run(narrow, () => 1),
    );
    assert.deepEqual(
      ledger
        .flows("t", "g")
        .map((f) => f.srcPort)
        .sort(),
      [1000, 1001],
    );
    assert.equal(ledger.flows("t", "g")[0]!.lost, 0, "the lossy first iteration left the window");
  });

  test("retain() drops the flows of targets and groups a reload removed", () => {
    const ledger = new Ledger();
    const p = plan(2, 2, ["a", "b"]);
    ledger.record(
      p.series.map((s) => ({ target: s.target, group: s.group })),
      run(p, () => 1),
    );
    assert.equal(ledger.size, 4);
    ledger.retain((target) => target === "a");
    assert.equal(ledger.size, 2);
    assert.deepEqual(ledger.flows("b", "g"), []);
  });

  test("flows() hands out the ledger's live FlowStats: no object per flow and read (the daemon reads them twice)", () => {
    const ledger = new Ledger();
    const p = plan(2, 2);
    const series = p.series.map((s) => ({ target: s.target, group: s.group }));
    ledger.record(
      series,
      run(p, () => 1),
    );
    const a = ledger.flows("t", "g");
    const b = ledger.flows("t", "g");
    assert.notEqual(a, b, "a new array each call: callers sort it");
    a.sort((x, y) => y.srcPort - x.srcPort);
    assert.deepEqual(
      ledger.flows("t", "g").map((f) => f.srcPort),
      [1000, 1001],
      "a caller's sort leaves the others' order",
    );
    for (const f of b) assert.ok(a.includes(f), "the same FlowStats objects within one iteration");
    ledger.record(
      series,
      run(p, () => "lost"),
    );
    const c = ledger.flows("t", "g");
    assert.ok(c.includes(b[0]!), "the same objects after the next iteration");
    assert.deepEqual(
      b.map((f) => [f.sent, f.lost]),
      [
        [2, 1],
        [2, 1],
      ],
      "whose figures are the new iteration's",
    );
    assert.deepEqual(
      c.map((f) => [f.sent, f.lost]),
      [
        [2, 1],
        [2, 1],
      ],
    );
  });

  test("a flow that left the ledger and comes back with the same plan starts afresh", () => {
    const ledger = new Ledger();
    const wide = plan(4, 4);
    const narrow = plan(2, 2);
    const series = wide.series.map((s) => ({ target: s.target, group: s.group }));
    const once = (p: ProbePlan) =>
      ledger.record(
        series,
        run(p, () => 1),
      );
    once(wide);
    for (let it = 0; it < WINDOW; it++) once(narrow); // ports 1002, 1003 absent for WINDOW iterations: gone
    once(wide);
    const byPort = new Map(ledger.flows("t", "g").map((f) => [f.srcPort, f]));
    assert.equal(byPort.get(1003)!.sentTotal, 1, "a new entry, not the one the wide plan had before");
    assert.equal(byPort.get(1000)!.sentTotal, WINDOW + 2);
    ledger.retain(() => false);
    once(wide);
    assert.equal(ledger.flows("t", "g").length, 4);
    assert.equal(ledger.flows("t", "g")[0]!.sentTotal, 1, "retain() dropped them: new entries");
  });
});
