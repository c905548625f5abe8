import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { INCIDENT_PROBE_LIMIT, probesPerTtl, splitBudget, TRACE_BUDGET } from "../../src/paths/budget.js";
import { analyzeIncident, type FlowTrace, type TtlObservation } from "../../src/paths/verdict.js";

const SRC = "198.18.0.2";
const LEAF1 = "198.18.0.1";
const SPINE_A = "198.18.1.1";
const SPINE_B = "198.18.1.2";
const LEAF2_A = "198.18.2.1";
const LEAF2_B = "198.18.2.2";
const T1 = "198.18.10.1";
const T2 = "198.18.10.2";

interface Spec {
  flow: string;
  target?: string;
  flagged?: boolean;
  /** Routers at TTL 1..; the destination answers from TTL path.length + 1 on. */
  path: string[];
  /** Answers per TTL (default: all). */
  answered?: (ttl: number) => number;
  n?: number;
  ttls?: number;
  seq?: number;
  rateLimitedTtl?: number;
  /** TTL with a second router address answering half the probes (per-packet balancing). */
  splitTtl?: { ttl: number; other: string };
}

function trace(spec: Spec): FlowTrace {
  const n = spec.n ?? 400;
  const ttls: TtlObservation[] = [];
  for (let t = 1; t <= (spec.ttls ?? spec.path.length + 2); t++) {
    const got = Math.min(n, spec.answered?.(t) ?? n);
    const router = spec.path[t - 1];
    const te: Record<string, number> = {};
    if (router !== undefined && got > 0) {
      if (spec.splitTtl?.ttl === t) {
        te[router] = Math.ceil(got / 2);
        te[spec.splitTtl.other] = Math.floor(got / 2);
      } else te[router] = got;
    }
    const reached = router === undefined ? got : 0;
    ttls.push({
      ttl: t,
      sent: n,
      timeExceeded: te,
      reached,
      noAnswer: n - got,
      ...(spec.rateLimitedTtl === t ? { rateLimited: true } : {}),
    });
  }
  return {
    flow: spec.flow,
    source: SRC,
    target: spec.target ?? T1,
    flagged: spec.flagged ?? false,
    ...(spec.seq !== undefined ? { seq: spec.seq } : {}),
    ttls,
  };
}

const viaA = [LEAF1, SPINE_A, LEAF2_A];
const viaB = [LEAF1, SPINE_B, LEAF2_B];
/** Answers after a cut: all before TTL `cut`, `keep` of 400 from it on. */
const lossFrom = (cut: number, keep: number) => (t: number) => (t >= cut ? keep : 400);

describe("paths/verdict: hand-made traces", () => {
  it("a blackhole after a spine names the spine and an unseen far end, loss 100 %", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: lossFrom(3, 0) }),
      trace({ flow: "f2", flagged: true, path: viaA, answered: lossFrom(3, 0) }),
      trace({ flow: "h1", path: viaB }),
      trace({ flow: "h2", path: viaB }),
    ]);
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind !== "link") return;
    assert.equal(a.verdict.from, SPINE_A);
    assert.equal(a.verdict.to, null);
    assert.equal(a.verdict.votes, 2);
    assert.ok(a.verdict.lossEstimate > 0.99, String(a.verdict.lossEstimate));
    assert.deepEqual(a.flows.find((f) => f.flow === "f1")?.hops, [LEAF1, SPINE_A]);
    assert.equal(a.flows.find((f) => f.flow === "f1")?.reached, false);
  });

  it("5 % loss on leaf1 -> spine: the losses start at the spine's TTL, so that link is named", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: lossFrom(2, 380) }),
      trace({ flow: "f2", flagged: true, path: viaA, answered: lossFrom(2, 381) }),
      trace({ flow: "h1", path: viaB }),
    ]);
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind !== "link") return;
    assert.deepEqual([a.verdict.from, a.verdict.to], [LEAF1, SPINE_A]);
    assert.ok(Math.abs(a.verdict.lossEstimate - 0.05) < 0.01, String(a.verdict.lossEstimate));
  });

  it("1 % loss on spine -> leaf2: the spine answers everything, the TTLs after it lose 1 %", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: lossFrom(3, 396) }),
      trace({ flow: "f2", flagged: true, path: viaA, answered: lossFrom(3, 396) }),
      trace({ flow: "f3", flagged: true, path: viaA, answered: lossFrom(3, 395) }),
      trace({ flow: "h1", path: viaB }),
    ]);
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind !== "link") return;
    assert.deepEqual([a.verdict.from, a.verdict.to], [SPINE_A, LEAF2_A]);
  });

  it("the last hop: leaf2 -> target 1 loses, target 2 behind the same leaf does not", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: lossFrom(4, 370) }),
      trace({ flow: "f2", flagged: true, path: viaA, answered: lossFrom(4, 372) }),
      trace({ flow: "h1", target: T2, path: viaA }),
      trace({ flow: "h2", target: T2, path: viaB }),
    ]);
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind !== "link") return;
    assert.deepEqual([a.verdict.from, a.verdict.to], [LEAF2_A, T1]);
    assert.deepEqual(a.targets, { [T1]: { paths: 1, hops: 3 }, [T2]: { paths: 2, hops: 5 } });
  });

  it("a rate-limiting hop (answers half of every flow, the TTLs after it answer all) is never blamed", () => {
    const half = (t: number) => (t === 2 ? 200 : 400);
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: half }),
      trace({ flow: "h1", path: viaA, answered: half }),
      trace({ flow: "h2", path: viaB, answered: (t) => (t === 2 ? 210 : 400) }),
    ]);
    assert.deepEqual(a.verdict, { kind: "none" });
  });

  it("rate limiting that the tracer reports is left out; loss after it is still found", () => {
    const a = analyzeIncident([
      trace({
        flow: "f1",
        flagged: true,
        path: viaA,
        rateLimitedTtl: 1,
        answered: (t) => (t === 1 ? 100 : t >= 4 ? 300 : 400),
      }),
      trace({
        flow: "h1",
        target: T2,
        path: viaA,
        rateLimitedTtl: 1,
        answered: (t) => (t === 1 ? 120 : 400),
      }),
    ]);
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind !== "link") return;
    assert.deepEqual([a.verdict.from, a.verdict.to], [LEAF2_A, T1]);
  });

  it("a rate-limited spine between two candidate links makes the verdict inconclusive, not a guess", () => {
    const a = analyzeIncident([
      trace({
        flow: "f1",
        flagged: true,
        path: viaA,
        rateLimitedTtl: 2,
        answered: (t) => (t === 2 ? 150 : t > 2 ? 300 : 400),
      }),
      trace({ flow: "h1", path: viaB }),
    ]);
    assert.equal(a.verdict.kind, "inconclusive");
    if (a.verdict.kind === "inconclusive") assert.match(a.verdict.why, /198\.18\.0\.1 -> 198\.18\.1\.1/);
  });

  it("one flow answered by two routers at one TTL is per-packet balancing, never a link", () => {
    const a = analyzeIncident([
      trace({
        flow: "f1",
        flagged: true,
        path: viaA,
        splitTtl: { ttl: 2, other: SPINE_B },
        answered: lossFrom(3, 0),
      }),
      trace({ flow: "h1", path: viaB }),
    ]);
    assert.deepEqual(a.verdict, { kind: "per-packet", ttl: 2, flow: "f1", addresses: [SPINE_A, SPINE_B] });
  });

  it("a path change is counted and the latest trace is used", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaB, seq: 2, answered: lossFrom(3, 0) }),
      trace({ flow: "f1", flagged: true, path: viaA, seq: 1, answered: lossFrom(3, 0) }),
      trace({ flow: "h1", path: viaA, seq: 1 }),
      trace({ flow: "h1", path: viaA, seq: 2 }),
    ]);
    assert.equal(a.pathChanges, 1);
    assert.deepEqual(
      a.flows.map((f) => [f.flow, f.changed, f.hops]),
      [
        ["f1", true, [LEAF1, SPINE_B]],
        ["h1", false, viaA],
      ],
    );
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind === "link") assert.equal(a.verdict.from, SPINE_B);
  });

  it("a blackholed flow's truncated trace is not a path change", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, seq: 1 }),
      trace({ flow: "f1", flagged: true, path: viaA, seq: 2, answered: lossFrom(3, 0) }),
    ]);
    assert.equal(a.pathChanges, 0);
  });

  it("aliases merge a router's addresses so its links pool across spines", () => {
    const aliases = { [LEAF2_A]: "leaf2", [LEAF2_B]: "leaf2" };
    const a = analyzeIncident(
      [
        trace({ flow: "f1", flagged: true, path: viaA, answered: lossFrom(4, 390) }),
        trace({ flow: "f2", flagged: true, path: viaB, answered: lossFrom(4, 391) }),
        trace({ flow: "h1", target: T2, path: viaA }),
      ],
      { aliases },
    );
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind !== "link") return;
    assert.deepEqual([a.verdict.from, a.verdict.to, a.verdict.votes], ["leaf2", T1, 2]);
  });

  it("IPv6 paths work the same (addresses are opaque), and answers above `sent` are capped", () => {
    const v6 = ["fd18::1", "fd18:1::1", "fd18:2::1"];
    const a = analyzeIncident([
      {
        ...trace({ flow: "f1", flagged: true, path: v6, answered: lossFrom(3, 0) }),
        source: "fd18::2",
        target: "fd18:10::1",
      },
      {
        ...trace({ flow: "h1", path: [v6[0] as string, "fd18:1::2", "fd18:2::2"] }),
        source: "fd18::2",
        target: "fd18:10::1",
      },
    ]);
    assert.deepEqual(a.verdict, {
      kind: "link",
      from: "fd18:1::1",
      to: null,
      lossEstimate: 1,
      confidence: 1,
      votes: 1,
    });
    const over = trace({ flow: "f1", flagged: true, path: viaA });
    const first = over.ttls[0] as TtlObservation;
    over.ttls = [{ ...first, timeExceeded: { [LEAF1]: 900 } }, ...over.ttls.slice(1)];
    assert.deepEqual(analyzeIncident([over]).verdict, { kind: "none" });
  });

  it("no flagged flow, or flagged flows that lose nothing, give no suspect; empty traces are inconclusive", () => {
    assert.deepEqual(analyzeIncident([trace({ flow: "h1", path: viaA })]).verdict, { kind: "none" });
    assert.deepEqual(analyzeIncident([trace({ flow: "f1", flagged: true, path: viaA })]).verdict, {
      kind: "none",
    });
    const empty = analyzeIncident([{ flow: "f1", source: SRC, target: T1, flagged: true, ttls: [] }]);
    assert.equal(empty.verdict.kind, "inconclusive");
  });

  it("uniform loss: every member loses 1 % alike, so no link is named though the flagged flows lose", () => {
    // The least lossy healthy flow sets the background below the flagged flows' loss (0.4 % against
    // 1 %, G ≈ 40): only the siblings' own losses from the same TTLs on show the loss is everywhere.
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, n: 800, answered: lossFrom(2, 792) }),
      trace({ flow: "f2", flagged: true, path: viaA, n: 800, answered: lossFrom(2, 792) }),
      trace({ flow: "h1", path: viaB, answered: lossFrom(2, 396) }),
      trace({ flow: "h2", path: viaB, answered: lossFrom(2, 398) }),
    ]);
    assert.deepEqual(a.verdict, { kind: "none" });
  });

  it("the same flows with the siblings answering everything: the member is named", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, n: 800, answered: lossFrom(2, 792) }),
      trace({ flow: "f2", flagged: true, path: viaA, n: 800, answered: lossFrom(2, 792) }),
      trace({ flow: "h1", path: viaB }),
      trace({ flow: "h2", path: viaB, answered: lossFrom(2, 399) }),
    ]);
    assert.equal(a.verdict.kind, "link");
    if (a.verdict.kind === "link") assert.deepEqual([a.verdict.from, a.verdict.to], [LEAF1, SPINE_A]);
  });

  it("every traced flow crosses the lossy member: inconclusive (nothing to compare with), not a link", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: lossFrom(2, 380) }),
      trace({ flow: "f2", flagged: true, path: viaA, answered: lossFrom(2, 381) }),
    ]);
    assert.equal(a.verdict.kind, "inconclusive");
    if (a.verdict.kind === "inconclusive") assert.match(a.verdict.why, /no traced flow avoids them/);
  });

  it("a few stray misses (background noise) are not a link", () => {
    const a = analyzeIncident([
      trace({ flow: "f1", flagged: true, path: viaA, answered: (t) => (t === 5 ? 399 : 400) }),
      trace({ flow: "h1", path: viaB }),
    ]);
    assert.deepEqual(a.verdict, { kind: "none" });
  });
});

describe("paths/budget", () => {
  it("the recommended budget fits the issue's limit and scales down for longer paths", () => {
    assert.equal(TRACE_BUDGET, 19_200);
    assert.ok(TRACE_BUDGET <= INCIDENT_PROBE_LIMIT);
    assert.equal(probesPerTtl(8, 6), 400);
    assert.equal(probesPerTtl(8, 16), 156);
    assert.ok(8 * 16 * probesPerTtl(8, 16) <= INCIDENT_PROBE_LIMIT);
    assert.equal(probesPerTtl(0, 6), 0);
  });

  it("fewer flagged flows get more probes each; the split never exceeds the limit", () => {
    assert.deepEqual(splitBudget(4, 4, 6), { flagged: 400, healthy: 400 });
    assert.deepEqual(splitBudget(1, 7, 6), { flagged: 1600, healthy: 247 });
    assert.deepEqual(splitBudget(0, 8, 6), { flagged: 0, healthy: 400 });
    for (let f = 0; f <= 8; f++) {
      for (const ttls of [4, 6, 10, 16, 30]) {
        const s = splitBudget(f, 8 - f, ttls);
        assert.ok(ttls * (f * s.flagged + (8 - f) * s.healthy) <= INCIDENT_PROBE_LIMIT, `${f} ${ttls}`);
        if (f > 0) assert.ok(s.flagged >= s.healthy, `${f} ${ttls}`);
      }
    }
  });
});
