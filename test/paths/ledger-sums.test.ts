// The ledger's running sums (src/paths/ledger.ts: updated by record(), the iterations leaving the
// window subtracted) against a recomputation from every iteration's figures, over seeded random
// histories: flows that come, skip iterations and go, plans that change, records that leave a target
// out, reloads that drop one, losses, missing RTTs, and RTT figures read at some iterations only.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { emptyFlowResults, type Flow } from "../../src/engine/flows.js";
import { percentile } from "../../src/engine/percentile.js";
import { type FlowStats, Ledger, LONG_BLOCKS, WINDOW } from "../../src/paths/ledger.js";
import { rng } from "../support/rng.js";

interface Figures {
  tick: number;
  sent: number;
  lost: number;
  rtt: [number, number, number];
}

/** What the model keeps of a flow: every iteration it was recorded in since it (last) came. */
interface History {
  iterations: Figures[];
  sentTotal: number;
  lostTotal: number;
  replyTtl: number;
}

const TARGETS = ["a", "b"];
/** Flows of both targets (80) outnumber the ledger's first rows (64): its arrays grow, rows are reused. */
const PORTS = 40;

/** The figures of a flow at the bucket's iteration `tick`, recomputed from its history. */
function expected(h: History, tick: number): Omit<FlowStats, "dst" | "src" | "flowLabel" | "srcPort"> {
  const inWindow = h.iterations.filter((f) => f.tick > tick - WINDOW);
  const block = Math.floor(tick / WINDOW);
  const inLong = h.iterations.filter((f) => Math.floor(f.tick / WINDOW) > block - LONG_BLOCKS);
  const sum = (fs: Figures[], k: "sent" | "lost") => fs.reduce((n, f) => n + f[k], 0);
  const timed = inWindow.filter((f) => !Number.isNaN(f.rtt[0]));
  const f32 = (v: number) => Math.fround(v);
  const sent = sum(inWindow, "sent");
  const lost = sum(inWindow, "lost");
  return {
    sent,
    lost,
    lossRatio: sent === 0 ? 0 : lost / sent,
    sentLong: sum(inLong, "sent"),
    lostLong: sum(inLong, "lost"),
    sentTotal: h.sentTotal,
    lostTotal: h.lostTotal,
    rttMin: timed.length === 0 ? Number.NaN : Math.min(...timed.map((f) => f32(f.rtt[0]))),
    rttP50: percentile(Float64Array.from(timed.map((f) => f32(f.rtt[1]))).sort(), 50) ?? Number.NaN,
    rttMax: timed.length === 0 ? Number.NaN : Math.max(...timed.map((f) => f32(f.rtt[2]))),
    replyTtl: h.replyTtl,
  };
}

function history(seed: number, iterations: number): void {
  const r = rng(seed);
  const ledger = new Ledger();
  const model = new Map<string, { tick: number; flows: Map<number, History> }>();
  for (const t of TARGETS) model.set(t, { tick: -1, flows: new Map() });
  // A plan: which (target, port) flows it has. Kept for a few iterations, so record() meets the
  // same flows array again (its by-position path) and new ones (its by-key path).
  let flows: Flow[] = [];
  const newPlan = () => {
    flows = [];
    for (let s = 0; s < TARGETS.length; s++)
      for (let port = 0; port < PORTS; port++)
        if (r() < 0.7)
          flows.push({ series: s, dst: `198.18.1.${s}`, src: "198.18.0.2", srcPort: port, flowLabel: 0 });
  };
  newPlan();
  let checked = 0;
  for (let it = 0; it < iterations; it++) {
    if (r() < 0.15) newPlan();
    if (r() < 0.02) {
      // A reload drops target b.
      ledger.retain((target) => target !== "b");
      model.set("b", { tick: -1, flows: new Map() });
    }
    // Most iterations record both targets; some only a (b's flows are then not in the series).
    const series = TARGETS.slice(0, r() < 0.85 ? 2 : 1).map((target) => ({ target, group: "g" }));
    const n = flows.length;
    const res = emptyFlowResults(flows);
    for (const s of series) model.get(s.target)!.tick++;
    for (let i = 0; i < n; i++) {
      const f = flows[i]!;
      const sent = Math.floor(r() * 5);
      const lost = r() < 0.3 ? Math.floor(r() * (sent + 1)) : 0;
      res.sent[i] = sent;
      res.lost[i] = lost;
      if (sent > lost && r() < 0.9) {
        const a = r() * 1e-3;
        const b = a + r() * 1e-3;
        const c = b + r() * 1e-3;
        res.rttMin[i] = a;
        res.rttP50[i] = b;
        res.rttMax[i] = c;
        res.replyTtl[i] = 1 + Math.floor(r() * 64);
      }
      const target = TARGETS[f.series]!;
      if (f.series >= series.length) continue;
      const m = model.get(target)!;
      let h = m.flows.get(f.srcPort);
      if (!h) {
        h = { iterations: [], sentTotal: 0, lostTotal: 0, replyTtl: 0 };
        m.flows.set(f.srcPort, h);
      }
      h.iterations.push({
        tick: m.tick,
        sent,
        lost,
        rtt: [res.rttMin[i]!, res.rttP50[i]!, res.rttMax[i]!],
      });
      h.sentTotal += sent;
      h.lostTotal += lost;
      if (res.replyTtl[i] !== 0) h.replyTtl = res.replyTtl[i]!;
    }
    ledger.record(series, res);
    for (const s of series) {
      const m = model.get(s.target)!;
      for (const [port, h] of m.flows) if (m.tick - h.iterations.at(-1)!.tick >= WINDOW) m.flows.delete(port);
    }
    // Compare every target, the RTT figures at some iterations only (they are computed when read).
    const readRtt = r() < 0.4;
    for (const target of TARGETS) {
      const m = model.get(target)!;
      const got = ledger.flows(target, "g");
      assert.deepEqual(
        got.map((f) => f.srcPort).sort((x, y) => x - y),
        [...m.flows.keys()].sort((x, y) => x - y),
        `seed ${seed} iteration ${it} target ${target}: the flows held`,
      );
      for (const f of got) {
        const want = expected(m.flows.get(f.srcPort)!, m.tick);
        const at = `seed ${seed} iteration ${it} target ${target} port ${f.srcPort}`;
        for (const k of [
          "sent",
          "lost",
          "lossRatio",
          "sentLong",
          "lostLong",
          "sentTotal",
          "lostTotal",
          "replyTtl",
        ] as const)
          assert.equal(f[k], want[k], `${at}: ${k}`);
        if (!readRtt) continue;
        for (const k of ["rttMin", "rttP50", "rttMax"] as const) {
          assert.equal(f[k], want[k], `${at}: ${k}`);
          assert.equal(f[k], want[k], `${at}: ${k} read again`);
        }
        checked++;
      }
    }
  }
  assert.ok(checked > iterations, `seed ${seed}: RTT figures compared ${checked} times`);
}

describe("ledger running sums", () => {
  test("equal a recomputation over the window and the long window, over random histories", () => {
    // Past LONG_BLOCKS blocks, so every block position is reused several times.
    for (let seed = 1; seed <= 12; seed++) history(seed, 3 * LONG_BLOCKS * WINDOW);
  });
});
