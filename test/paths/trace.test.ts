// Trace-on-loss orchestration (src/paths/trace.ts, incident.ts) against fakes: a fake network that
// answers trace probes from per-flow hop lists (with a lossy link, a rate-limited router, a path
// change), a fake judge that records what it was given, and a fake clock. Pure: no sockets, no root.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ProbeFate } from "../../src/paths/incident.js";
import {
  type AnomalyView,
  crosses,
  type FlowRef,
  type JudgedTrace,
  type RunnerAsk,
  Tracer,
  type TraceSettings,
  type Verdict,
  verdictJudge,
} from "../../src/paths/trace.js";

const SETTINGS: TraceSettings = {
  on: "anomaly",
  budget: 20_000,
  rate: 1000,
  maxIncidents: 2,
  maxTtl: 8,
  flows: 4,
  flaggedFlows: 2,
  perTtl: 50,
  discovery: 3,
  silentRetries: 2,
  retryMs: 1000,
  retraceMs: 30_000,
};

const flow = (port: number, dst = "198.18.9.1"): FlowRef => ({
  dst,
  src: "198.18.0.1",
  srcPort: port,
  flowLabel: 0,
});

/** Deterministic 0..1 sequence (no timing, no Math.random). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * A fake network: each flow (by source port) crosses routers `path(port)` then reaches its target;
 * `loss(port, hop)` drops a probe after hop index `hop` (0 = before the first router); a router in
 * `silent` answers nothing for its first `silentFor` probes.
 */
class FakeNet {
  calls: RunnerAsk[][] = [];
  probes = 0;
  readonly answeredBy = new Map<string, number>();
  constructor(
    public path: (port: number) => string[],
    private readonly loss: (port: number, hop: number) => number = () => 0,
    private readonly silent = new Set<string>(),
    private readonly silentFor = 0,
    private readonly random = rng(7),
  ) {}
  async trace(asks: readonly RunnerAsk[]): Promise<{ fate: ProbeFate; from?: string }[]> {
    this.calls.push([...asks]);
    const out: { fate: ProbeFate; from?: string }[] = [];
    for (const a of asks) {
      for (let n = 0; n < a.count; n++) {
        this.probes++;
        out.push(this.one(a, this.path(a.flow.srcPort)));
      }
    }
    return out;
  }
  private one(a: RunnerAsk, routers: string[]): { fate: ProbeFate; from?: string } {
    const last = Math.min(a.ttl, routers.length + 1);
    // The probe crosses links 0..last-1 (link h leads to router h, link routers.length to the target).
    for (let h = 0; h < last; h++) if (this.random() < this.loss(a.flow.srcPort, h)) return { fate: "lost" };
    if (a.ttl > routers.length) return { fate: "answered", from: a.flow.dst };
    const r = routers[a.ttl - 1]!;
    if (this.silent.has(r)) {
      const seen = (this.answeredBy.get(r) ?? 0) + 1;
      this.answeredBy.set(r, seen);
      if (seen <= this.silentFor) return { fate: "lost" };
    }
    return { fate: "time-exceeded", from: r };
  }
}

class FakeJudge {
  given: JudgedTrace[][] = [];
  constructor(public answer: Verdict = { kind: "none" }) {}
  judge(traces: readonly JudgedTrace[]): Verdict {
    this.given.push(traces.map((t) => structuredClone(t)));
    return this.answer;
  }
}

const view = (flagged: FlowRef[], healthy: FlowRef[], target = "web"): AnomalyView => ({
  target,
  group: "g",
  flagged,
  healthy,
  lossy: flagged,
});

/** Steps the tracer with a fake clock until `until` holds or `maxSteps` passes; returns the clock. */
async function run(t: Tracer, until: () => boolean, start = 0, maxSteps = 5000): Promise<number> {
  let now = start;
  for (let i = 0; i < maxSteps && !until(); i++) {
    now += Math.max(1, t.waitMs(now));
    await t.step(now);
  }
  return now;
}

// 4-way fabric: leaf 198.18.1.1, spine by port % 4, leaf2 198.18.3.1, target at TTL 4.
const fabric = (port: number) => ["198.18.1.1", `198.18.2.${port % 4}`, "198.18.3.1"];

describe("trace-on-loss orchestration", () => {
  test("an anomaly opens an incident; flagged and as many healthy flows are traced, stopping at the destination", async () => {
    const net = new FakeNet(fabric);
    const judge = new FakeJudge();
    const logs: string[] = [];
    const t = new Tracer(SETTINGS, net, judge, (m) => logs.push(m));
    t.update([view([flow(1)], [flow(2), flow(3), flow(4)])], 0);
    assert.equal(t.incidents, 1);
    await run(t, () => judge.given.length > 0);
    const traced = judge.given[0]!;
    assert.deepEqual(
      traced.map((x) => [x.flow.split("|")[1], x.flagged]),
      [
        ["1", true],
        ["2", false],
        ["3", false],
        ["4", false],
      ],
    );
    for (const x of traced) {
      // TTL 1..4 (4 = the destination), nothing past it after discovery.
      assert.deepEqual(
        x.ttls.map((c) => c.ttl),
        [1, 2, 3, 4],
      );
      assert.ok(x.ttls.every((c) => c.sent === SETTINGS.perTtl));
      assert.equal(x.ttls[3]!.reached, SETTINGS.perTtl);
    }
    // Discovery went up to maxTtl once (3 probes per TTL), then only to the destination.
    const past = net.calls.flat().filter((a) => a.ttl > 4);
    assert.equal(
      past.reduce((s, a) => s + a.count, 0),
      4 * (SETTINGS.maxTtl - 4) * SETTINGS.discovery,
    );
    const [r] = t.report();
    assert.deepEqual(r!.flows[0]!.hops, fabric(1));
    assert.equal(r!.distinctPaths, 4);
    assert.equal(r!.hops, 6);
    assert.deepEqual(logs, ["path incident opened", "path incident verdict"]);
  });

  test("budget: an incident never sends more than its budget and is counted as exhausted once", async () => {
    const net = new FakeNet(fabric);
    const t = new Tracer({ ...SETTINGS, budget: 500, perTtl: 400 }, net, new FakeJudge());
    t.update([view([flow(1), flow(2)], [flow(3), flow(4)])], 0);
    let now = await run(t, () => t.report()[0]!.budgetExhausted || t.report()[0]!.phase === "monitor");
    // Keep stepping well past the retrace time: nothing more may be sent.
    now = await run(t, () => false, now + 60_000, 200);
    assert.ok(net.probes <= 500, `sent ${net.probes}`);
    assert.equal(t.sent, net.probes);
    assert.ok(t.report()[0]!.probes <= 500);
    assert.ok(t.exhausted <= 1);
    // The full trace was sized to fit: discovery (4 flows × 8 TTLs × 3) plus ≥ 1 probe per cell.
    assert.ok(net.probes > 4 * 8 * 3);
  });

  test("budget exhausted: counted once when probes are still wanted", async () => {
    const net = new FakeNet(fabric);
    // Discovery alone wants 2 flows × 8 TTLs × 3 probes = 48.
    const t = new Tracer({ ...SETTINGS, budget: 40 }, net, new FakeJudge());
    t.update([view([flow(1)], [flow(2)])], 0);
    await run(t, () => false, 0, 100);
    assert.equal(net.probes, 40);
    assert.equal(t.exhausted, 1);
    assert.equal(t.report()[0]!.budgetExhausted, true);
  });

  test("pacing: probes per second never exceed the rate, batches hold at most a second's worth", async () => {
    const net = new FakeNet(fabric);
    const t = new Tracer({ ...SETTINGS, rate: 100 }, net, new FakeJudge());
    t.update([view([flow(1)], [flow(2)])], 0);
    const sends: [number, number][] = [];
    let now = 0;
    for (let i = 0; i < 2000; i++) {
      now += 10;
      const n = await t.step(now);
      if (n > 0) sends.push([now, n]);
    }
    assert.ok(sends.length >= 4, `${sends.length} batches`);
    for (const [, n] of sends) assert.ok(n <= 100);
    // Between two batches at least count / rate seconds pass.
    for (let i = 1; i < sends.length; i++) {
      const [at, _] = sends[i]!;
      const [prevAt, prevN] = sends[i - 1]!;
      assert.ok(at - prevAt >= (prevN / 100) * 1000, `batch ${i}: ${at - prevAt} ms after ${prevN} probes`);
    }
    // Over the whole run: at most rate × elapsed (+ the first batch).
    const total = sends.reduce((s, [, n]) => s + n, 0);
    assert.ok(total <= (100 * now) / 1000 + 100);
  });

  test("a rate-limited hop is retried later, then reported as no answer (rateLimited), never as loss", async () => {
    // The spine answers nothing for its first 1000 probes: every retry within the test stays silent.
    const net = new FakeNet(fabric, () => 0, new Set(["198.18.2.1", "198.18.2.2"]), 1_000_000);
    const judge = new FakeJudge();
    const t = new Tracer(SETTINGS, net, judge);
    t.update([view([flow(1)], [flow(2)])], 0);
    const asked: number[] = [];
    const orig = net.trace.bind(net);
    let now = 0;
    net.trace = async (asks) => {
      if (asks.some((a) => a.ttl === 2)) asked.push(now);
      return orig(asks);
    };
    for (let i = 0; i < 2000 && judge.given.length === 0; i++) {
      now += 50;
      await t.step(now);
    }
    assert.equal(judge.given.length, 1);
    for (const x of judge.given[0]!) {
      const hop2 = x.ttls.find((c) => c.ttl === 2)!;
      assert.equal(hop2.rateLimited, true);
      assert.equal(Object.keys(hop2.timeExceeded).length, 0);
    }
    // Retried after 1 s and 2 s (doubling), then given up: three attempts in all, spaced out.
    const attempts = [...new Set(asked)];
    assert.ok(attempts.length >= 3);
    assert.ok(attempts[1]! - attempts[0]! >= 1000);
    assert.ok(attempts[2]! - attempts[1]! >= 2000);
    const [r] = t.report();
    assert.equal(r!.flows[0]!.hops[1], null);
  });

  test("a hop that comes back after its retry is counted normally", async () => {
    // Silent for the first 6 probes (the discovery of two flows), then answers.
    const net = new FakeNet(fabric, () => 0, new Set(["198.18.2.1", "198.18.2.2"]), 6);
    const judge = new FakeJudge();
    const t = new Tracer(SETTINGS, net, judge);
    t.update([view([flow(1)], [flow(2)])], 0);
    await run(t, () => judge.given.length > 0);
    for (const x of judge.given[0]!) {
      const hop2 = x.ttls.find((c) => c.ttl === 2)!;
      assert.equal(hop2.rateLimited, undefined);
      assert.equal(hop2.sent, SETTINGS.perTtl);
      assert.equal(Object.values(hop2.timeExceeded)[0], SETTINGS.perTtl);
    }
  });

  test("a blackholed flagged flow is traced up to where its healthy peers reach the target", async () => {
    const net = new FakeNet(fabric, (port, hop) => (port === 1 && hop === 2 ? 1 : 0));
    const judge = new FakeJudge();
    const t = new Tracer(SETTINGS, net, judge);
    t.update([view([flow(1)], [flow(2)])], 0);
    await run(t, () => judge.given.length > 0);
    const bad = judge.given[0]![0]!;
    assert.deepEqual(
      bad.ttls.map((c) => [c.ttl, c.sent, c.noAnswer]),
      [
        [1, 50, 0],
        [2, 50, 0],
        [3, 50, 50],
        [4, 50, 50],
      ],
    );
    assert.deepEqual(t.report()[0]!.flows[0]!.hops, ["198.18.1.1", "198.18.2.1", null]);
    assert.equal(t.report()[0]!.flows[0]!.reached, false);
  });

  test("lifecycle: at most K incidents; closed when the anomaly clears (logged once each); the next one opens", async () => {
    const net = new FakeNet(fabric);
    const judge = new FakeJudge({
      kind: "link",
      from: "a",
      to: "b",
      lossEstimate: 1,
      confidence: 1,
      votes: 1,
    });
    const logs: [string, Record<string, unknown>][] = [];
    const t = new Tracer({ ...SETTINGS, maxIncidents: 2 }, net, judge, (m, f) => logs.push([m, f]));
    const views = ["a", "b", "c"].map((n) => view([flow(1, `198.18.9.${n.charCodeAt(0)}`)], [flow(2)], n));
    t.update(views, 0);
    assert.deepEqual(
      t.report().map((r) => r.target),
      ["a", "b"],
    );
    await run(t, () => t.report().every((r) => r.verdict !== undefined));
    // Same anomalies again: nothing reopens or re-logs.
    t.update(views, 1);
    t.update([views[1]!, views[2]!], 2);
    assert.deepEqual(
      t.report().map((r) => r.target),
      ["b", "c"],
    );
    t.update([], 3);
    assert.equal(t.incidents, 0);
    const count = (m: string) => logs.filter(([x]) => x === m).length;
    assert.equal(count("path incident opened"), 3);
    assert.equal(count("path incident verdict"), 2);
    assert.equal(count("path incident closed"), 3);
    assert.deepEqual(logs.find(([m]) => m === "path incident verdict")![1].from, "a");
  });

  test("no follow-up after an incident that names no link: flows flagged since open nothing", async () => {
    const judge = new FakeJudge({ kind: "none" });
    const t = new Tracer({ ...SETTINGS, maxIncidents: 4 }, new FakeNet(fabric), judge);
    t.update([view([flow(1)], [flow(2), flow(3)])], 0);
    const now = await run(t, () => judge.given.length > 0);
    t.update([view([flow(1), flow(3)], [flow(2)])], now);
    assert.equal(t.incidents, 1);
  });

  test("crosses: a hop list crosses a link, a blackhole's far end, the last hop before the destination", () => {
    const hops = ["198.18.1.1", "198.18.2.1", "198.18.3.1"];
    assert.equal(crosses(hops, true, "198.18.9.1", "198.18.2.1", "198.18.3.1"), true);
    assert.equal(crosses(hops, true, "198.18.9.1", "198.18.2.2", "198.18.3.1"), false);
    assert.equal(crosses(hops, true, "198.18.9.1", "198.18.3.1", "198.18.9.1"), true);
    assert.equal(crosses(["198.18.1.1", "198.18.2.1", null], false, "198.18.9.1", "198.18.2.1", null), true);
    assert.equal(
      crosses(hops, true, "198.18.9.1", "198.18.2.1", null),
      false,
      "reached: no blackhole after it",
    );
    assert.equal(crosses(["198.18.1.1", null, null], false, "198.18.9.1", "198.18.2.1", null), false);
  });

  test("trace_on_loss any: loss without a flagged flow opens an incident; anomaly mode does not", () => {
    const v: AnomalyView = { target: "w", group: "g", flagged: [], healthy: [flow(2)], lossy: [flow(1)] };
    const anomaly = new Tracer(SETTINGS, new FakeNet(fabric), new FakeJudge());
    anomaly.update([v], 0);
    assert.equal(anomaly.incidents, 0);
    const any = new Tracer({ ...SETTINGS, on: "any" }, new FakeNet(fabric), new FakeJudge());
    any.update([v], 0);
    assert.equal(any.incidents, 1);
    assert.equal(any.report()[0]!.flows[0]!.flagged, true);
  });

  test("retrace follows a path change: counted, the moved flow traced again, the verdict re-run", async () => {
    let moved = false;
    const net = new FakeNet((port) =>
      moved && port === 2 ? ["198.18.1.1", "198.18.2.9", "198.18.3.1"] : fabric(port),
    );
    const judge = new FakeJudge();
    const t = new Tracer(SETTINGS, net, judge);
    t.update([view([flow(1)], [flow(2)])], 0);
    let now = await run(t, () => judge.given.length > 0);
    // No change: a retrace alone re-runs nothing.
    now = await run(t, () => net.calls.length > 0 && t.report()[0]!.phase === "monitor", now + 30_000, 50);
    moved = true;
    const before = judge.given.length;
    await run(t, () => judge.given.length > before, now + 30_000);
    const [r] = t.report();
    assert.equal(r!.pathChanges, 1);
    assert.deepEqual(r!.flows[1]!.hops, ["198.18.1.1", "198.18.2.9", "198.18.3.1"]);
    const last = judge.given[judge.given.length - 1]!;
    assert.equal(last[1]!.seq, 1);
    assert.equal(last[1]!.ttls[1]!.sent, SETTINGS.perTtl);
  });

  describe("with the real verdict (src/paths/verdict.ts) on the fake 4-way fabric", () => {
    const ports = [1, 5, 2, 3, 4, 6, 7, 8];
    const judged = async (net: FakeNet, flagged: number[]) => {
      const t = new Tracer({ ...SETTINGS, perTtl: 400, flows: 8, flaggedFlows: 4 }, net, verdictJudge);
      const healthy = ports.filter((p) => !flagged.includes(p));
      t.update(
        [
          view(
            flagged.map((p) => flow(p)),
            healthy.map((p) => flow(p)),
          ),
        ],
        0,
      );
      await run(t, () => t.report()[0]!.verdict !== undefined, 0, 100_000);
      return { verdict: t.report()[0]!.verdict!, probes: net.probes };
    };

    for (const loss of [1, 0.05, 0.01]) {
      test(`${loss * 100} % loss on spine 1 -> leaf 2 is named, within the budget`, async () => {
        const net = new FakeNet(
          fabric,
          (port, hop) => (port % 4 === 1 && hop === 2 ? loss : 0),
          undefined,
          0,
          rng(11),
        );
        const { verdict, probes } = await judged(net, [1, 5]);
        assert.equal(verdict.kind, "link", JSON.stringify(verdict));
        if (verdict.kind !== "link") return;
        assert.equal(verdict.from, "198.18.2.1");
        assert.equal(verdict.to, loss === 1 ? null : "198.18.3.1");
        assert.ok(probes <= SETTINGS.budget, `${probes} probes`);
      });
    }

    const all = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13];
    const flaggedView = (flagged: number[]) =>
      view(
        flagged.map((p) => flow(p)),
        all.filter((p) => !flagged.includes(p)).map((p) => flow(p)),
      );
    const linkOf = (v: Verdict | undefined) => (v?.kind === "link" ? `${v.from} -> ${v.to ?? "*"}` : v?.kind);

    test("a second member failing while the first incident is open: a follow-up names it, the first keeps its link", async () => {
      let second = false;
      const dead = (port: number) => port % 4 === 1 || (second && port % 4 === 2);
      const net = new FakeNet(
        fabric,
        (port, hop) => (hop === 2 && dead(port) ? 1 : 0),
        undefined,
        0,
        rng(11),
      );
      const logs: string[] = [];
      const t = new Tracer(
        { ...SETTINGS, perTtl: 400, flows: 8, flaggedFlows: 4, maxIncidents: 4 },
        net,
        verdictJudge,
        (m) => logs.push(m),
      );
      t.update([flaggedView([1, 5])], 0);
      let now = await run(t, () => t.report()[0]!.verdict !== undefined, 0, 100_000);
      assert.equal(linkOf(t.report()[0]!.verdict), "198.18.2.1 -> *");
      // Spine 2's link fails too: its flows are flagged beside spine 1's.
      second = true;
      t.update([flaggedView([1, 5, 2, 6])], now);
      assert.equal(t.incidents, 2);
      now = await run(t, () => t.report()[1]?.verdict !== undefined, now, 100_000);
      assert.deepEqual(
        t.report().map((r) => linkOf(r.verdict)),
        ["198.18.2.1 -> *", "198.18.2.2 -> *"],
      );
      assert.deepEqual(
        t
          .report()[1]!
          .flows.filter((f) => f.flagged)
          .map((f) => f.srcPort),
        [2, 6],
      );
      // The same anomaly again opens nothing more; when it clears, both close.
      t.update([flaggedView([1, 5, 2, 6])], now);
      assert.equal(t.incidents, 2);
      t.update([], now);
      assert.equal(t.incidents, 0);
      assert.deepEqual(
        logs.filter((m) => m.includes("opened") || m.includes("closed")),
        [
          "path incident opened",
          "path incident follow-up opened",
          "path incident closed",
          "path incident closed",
        ],
      );
    });

    test("flows of the first fault flagged late: the follow-up sees them cross its link after discovery and closes", async () => {
      const net = new FakeNet(
        fabric,
        (port, hop) => (hop === 2 && port % 4 === 1 ? 1 : 0),
        undefined,
        0,
        rng(11),
      );
      const logs: string[] = [];
      const t = new Tracer(
        { ...SETTINGS, perTtl: 400, flows: 8, flaggedFlows: 4, maxIncidents: 4 },
        net,
        verdictJudge,
        (m) => logs.push(m),
      );
      t.update([flaggedView([1, 5])], 0);
      // Flagged while the first incident traces: it must have its verdict before a follow-up opens.
      t.update([flaggedView([1, 5, 9])], 0);
      assert.equal(t.incidents, 1);
      let now = await run(t, () => t.report()[0]!.verdict !== undefined, 0, 100_000);
      const before = net.probes;
      t.update([flaggedView([1, 5, 9, 13])], now);
      assert.equal(t.incidents, 2);
      now = await run(t, () => t.incidents === 1, now, 100_000);
      assert.ok(logs.includes("path incident follow-up explained"));
      assert.ok(
        net.probes - before <= 8 * SETTINGS.maxTtl * SETTINGS.discovery,
        `${net.probes - before} probes`,
      );
      assert.deepEqual(
        t.report().map((r) => linkOf(r.verdict)),
        ["198.18.2.1 -> *"],
      );
      // Those flows are known now: they open nothing again.
      t.update([flaggedView([1, 5, 9, 13])], now);
      assert.equal(t.incidents, 1);
    });

    test("a follow-up with flows of both faults: those crossing the first incident's link are dropped after discovery", async () => {
      let second = false;
      const dead = (port: number) => port % 4 === 1 || (second && port % 4 === 2);
      const net = new FakeNet(
        fabric,
        (port, hop) => (hop === 2 && dead(port) ? 1 : 0),
        undefined,
        0,
        rng(11),
      );
      const t = new Tracer(
        { ...SETTINGS, perTtl: 400, flows: 8, flaggedFlows: 4, maxIncidents: 4 },
        net,
        verdictJudge,
      );
      t.update([flaggedView([1, 5])], 0);
      let now = await run(t, () => t.report()[0]!.verdict !== undefined, 0, 100_000);
      second = true;
      t.update([flaggedView([1, 5, 9, 2, 13, 6])], now);
      now = await run(t, () => t.report()[1]?.verdict !== undefined, now, 100_000);
      const [first, follow] = t.report();
      assert.deepEqual(
        [linkOf(first!.verdict), linkOf(follow!.verdict)],
        ["198.18.2.1 -> *", "198.18.2.2 -> *"],
      );
      assert.deepEqual(
        follow!.flows.filter((f) => f.flagged).map((f) => f.srcPort),
        [2, 6],
      );
    });

    test("a healthy fabric (flows flagged by chance): no link", async () => {
      const { verdict } = await judged(new FakeNet(fabric, () => 0, undefined, 0, rng(3)), [1, 5]);
      assert.equal(verdict.kind, "none");
    });

    test("a per-packet balancer is reported as such, no link blamed", async () => {
      const random = rng(5);
      const spray = () => ["198.18.1.1", `198.18.2.${Math.floor(random() * 4)}`, "198.18.3.1"];
      const { verdict } = await judged(new FakeNet(spray, () => 0.02, undefined, 0, rng(9)), [1, 5]);
      assert.equal(verdict.kind, "per-packet");
    });
  });
});
