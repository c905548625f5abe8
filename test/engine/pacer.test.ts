// Pacing: rounds gated by interval_packets, the global packets-per-second cap, and their combination,
// checked by simulating a sender that always comes back when told.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pacer, type PacerOptions } from "../../src/engine/pacer.js";

/** Runs a pacer to the end with a sender that sends when told; returns the send time of every packet. */
function simulate(o: PacerOptions, batch = 64): number[] {
  const p = new Pacer(o);
  const times: number[] = [];
  let now = 1000;
  p.start(now);
  let next = 0;
  for (let guard = 0; next < o.count && guard < 1e6; guard++) {
    const r = p.take(now, next, batch);
    for (let k = 0; k < r.n; k++) times.push(now);
    if (r.n > 0) p.sent(now);
    next += r.n;
    if (r.n === 0) {
      assert.ok(r.wakeAtMs !== undefined && r.wakeAtMs > now, "told when to come back");
      now = r.wakeAtMs;
    }
  }
  return times.map((t) => t - 1000);
}

describe("Pacer", () => {
  test("no limits: everything leaves at once, in batches", () => {
    const t = simulate({ pps: Infinity, burst: 64, roundIntervalMs: 0, roundStart: [0], count: 200 });
    assert.equal(t.length, 200);
    assert.ok(t.every((x) => x === 0));
  });

  test("interval_packets: round k opens k × interval after the start", () => {
    // 3 targets × 4 packets, interval 250 ms.
    const t = simulate({
      pps: Infinity,
      burst: 64,
      roundIntervalMs: 250,
      roundStart: [0, 3, 6, 9],
      count: 12,
    });
    assert.deepEqual(t, [0, 0, 0, 250, 250, 250, 500, 500, 500, 750, 750, 750]);
  });

  test("global cap: 1000 pps sends 2000 packets in about 2 s, never faster than the cap allows", () => {
    const t = simulate({ pps: 1000, burst: 10, roundIntervalMs: 0, roundStart: [0], count: 2000 });
    assert.ok(t[1999]! >= 1980 && t[1999]! <= 2000, `last at ${t[1999]}`);
    // In any window of w ms, at most burst + w packets.
    for (let i = 0; i + 100 < t.length; i += 97) {
      const w = t[i + 100]! - t[i]!;
      assert.ok(100 <= 10 + w + 1e-9, `100 packets in ${w} ms`);
    }
  });

  test("both: a round taking longer than interval_packets delays the next, spacing stays >= interval", () => {
    // 50 targets × 3 packets at 1000 pps: a round lasts ~50 ms > 20 ms interval.
    const count = 150;
    const t = simulate({ pps: 1000, burst: 5, roundIntervalMs: 20, roundStart: [0, 50, 100], count }, 5);
    for (let target = 0; target < 50; target++) {
      assert.ok(t[50 + target]! - t[target]! >= 20);
      assert.ok(t[100 + target]! - t[50 + target]! >= 20);
    }
    assert.ok(t[count - 1]! >= 140);
  });

  test("a batch spans rounds that are already open (no tiny sends when interval_packets is 0)", () => {
    const p = new Pacer({
      pps: Infinity,
      burst: 64,
      roundIntervalMs: 0,
      roundStart: [0, 3, 6, 9],
      count: 12,
    });
    p.start(0);
    assert.deepEqual(p.take(0, 0, 64), { n: 12 });
    const q = new Pacer({
      pps: Infinity,
      burst: 64,
      roundIntervalMs: 10,
      roundStart: [0, 3, 6, 9],
      count: 12,
    });
    q.start(0);
    assert.deepEqual(q.take(25, 0, 64), { n: 3 }, "with an interval, one round at a time");
  });

  test("a late start does not shorten the next gap: round k+1 opens an interval after round k really began", () => {
    const q = new Pacer({
      pps: Infinity,
      burst: 64,
      roundIntervalMs: 10,
      roundStart: [0, 3, 6, 9],
      count: 12,
    });
    q.start(0);
    assert.deepEqual(q.take(0, 0, 64), { n: 3 });
    q.sent(0);
    // The timer for round 1 fired late, at 17 ms: it goes, and round 2 waits until 27 ms (not 20).
    assert.deepEqual(q.take(17, 3, 64), { n: 3 });
    q.sent(17);
    assert.deepEqual(q.take(20, 6, 64), { n: 0, wakeAtMs: 27 });
    assert.deepEqual(q.take(27, 6, 64), { n: 3 });
  });

  test("a round of several batches whose release the JS thread interrupted: each target still waits an interval after its own packet", () => {
    // One lane (a subnet target) of 6 addresses, 3 rounds; batches of 2, so 3 batches per round.
    const lanes = {
      entryOf: Uint32Array.from({ length: 18 }, (_, i) => Math.floor(i / 6)),
      at: Uint32Array.from([0, 6, 12]),
      laneOf: new Uint32Array(3),
      laneFirst: new Uint32Array(1),
      rounds: Uint32Array.from([3]),
    };
    const o = { pps: Infinity, burst: 2, roundIntervalMs: 10, roundStart: [0, 6, 12], count: 18 };
    for (const withLanes of [true, false]) {
      const q = new Pacer(withLanes ? { ...o, lanes } : o);
      q.start(0);
      assert.deepEqual(q.take(0, 0, 2), { n: 2 });
      q.released(0, 2, 0);
      q.sent(0);
      assert.deepEqual(q.take(0.1, 2, 2), { n: 2 });
      q.released(2, 2, 0.1);
      // The JS thread stalls: round 0's last batch (addresses 4, 5) is released at 5 ms.
      assert.deepEqual(q.take(5, 4, 2), { n: 2 });
      q.released(4, 2, 5);
      assert.deepEqual(q.take(10, 6, 2), { n: 2 }, "round 1 opens an interval after round 0 began");
      q.released(6, 2, 10);
      assert.deepEqual(q.take(10.1, 8, 2), { n: 2 });
      q.released(8, 2, 10.1);
      if (withLanes) {
        // Addresses 4 and 5 left at 5 ms: their next packets wait until 15 ms.
        assert.deepEqual(q.take(10.2, 10, 2), { n: 0, wakeAtMs: 15 });
        assert.deepEqual(q.take(15, 10, 2), { n: 2 });
        q.released(10, 2, 15);
      } else {
        // Rounds only (a plan without lanes, such as a trace's): 5.2 ms after their last packet.
        assert.deepEqual(q.take(10.2, 10, 2), { n: 2 });
        q.released(10, 2, 10.2);
      }
    }
  });

  test("a batch whose later packets are not due yet leaves its due prefix; one not sent is taken again", () => {
    const lanes = {
      entryOf: Uint32Array.from({ length: 8 }, (_, i) => Math.floor(i / 4)),
      at: Uint32Array.from([0, 4]),
      laneOf: new Uint32Array(2),
      laneFirst: new Uint32Array(1),
      rounds: Uint32Array.from([2]),
    };
    const q = new Pacer({
      pps: Infinity,
      burst: 4,
      roundIntervalMs: 10,
      roundStart: [0, 4],
      count: 8,
      lanes,
    });
    q.start(0);
    assert.deepEqual(q.take(0, 0, 2), { n: 2 });
    q.released(0, 2, 0);
    q.sent(0);
    assert.deepEqual(q.take(3, 2, 4), { n: 2 }, "addresses 2 and 3 released at 3 ms");
    q.released(2, 2, 3);
    assert.deepEqual(q.take(10, 4, 4), { n: 2 }, "addresses 0 and 1 are due, 2 and 3 not yet");
    // Taken but not sent (the send thread's queue was full): taken again when it reports.
    q.released(4, 0, 10);
    assert.deepEqual(q.take(10.5, 4, 4), { n: 2 });
    q.released(4, 2, 10.5);
    assert.deepEqual(q.take(12.9, 6, 4), { n: 0, wakeAtMs: 13 });
    assert.deepEqual(q.take(13, 6, 4), { n: 2 });
    q.released(6, 2, 13);
  });

  test("a round the send thread sends late opens the next an interval after its send, not its release", () => {
    const q = new Pacer({
      pps: Infinity,
      burst: 64,
      roundIntervalMs: 10,
      roundStart: [0, 3, 6, 9],
      count: 12,
    });
    q.start(0);
    assert.deepEqual(q.take(0, 0, 64), { n: 3 });
    assert.equal(q.watching, 0, "waits for the report of probe 0");
    // Released at 0, its send not reported yet at 10 ms: round 1 waits (and says when to look again).
    assert.deepEqual(q.take(10, 3, 64), { n: 0, wakeAtMs: 11 });
    // The thread sent it at 14 ms: round 1 opens at 24 ms.
    q.sent(14);
    assert.deepEqual(q.take(15, 3, 64), { n: 0, wakeAtMs: 24 });
    assert.deepEqual(q.take(24, 3, 64), { n: 3 });
    assert.equal(q.watching, 3);
    // A prompt report changes nothing: round 2 at 34 ms.
    q.sent(24.1);
    assert.deepEqual(q.take(30, 6, 64), { n: 0, wakeAtMs: 34.1 });
  });

  test("without interval_packets nothing waits for send reports", () => {
    const q = new Pacer({ pps: 1000, burst: 4, roundIntervalMs: 0, roundStart: [0, 3, 6, 9], count: 12 });
    q.start(0);
    assert.deepEqual(q.take(0, 0, 64), { n: 4 });
    assert.equal(q.watching, -1);
    assert.deepEqual(q.take(4, 4, 64), { n: 4 });
  });

  test("refuses nonsense", () => {
    assert.throws(
      () => new Pacer({ pps: 0, burst: 1, roundIntervalMs: 0, roundStart: [0], count: 1 }),
      RangeError,
    );
  });

  test("a clock stepping back (the wire's, behind after a send-thread stall) holds the next release back by the step; releases never go back in time", () => {
    // 2 targets × 3 packets, interval 40 ms, 1000 pps; the wire falls 100 ms behind after round 0
    const p = new Pacer({ pps: 1000, burst: 64, roundIntervalMs: 40, roundStart: [0, 2, 4], count: 6 });
    p.start(0);
    assert.deepEqual(p.take(0, 0, 64), { n: 2 });
    p.sent(0); // the send thread reports round 0's first packet sent
    // at clock 40 the wire's clock reads -60: round 1 opens at 40 on it, and the bucket owes 60 ms
    const r = p.take(40 - 100, 2, 64);
    assert.equal(r.n, 0);
    assert.ok(r.wakeAtMs! >= 40, `wake at ${r.wakeAtMs}`);
    assert.deepEqual(p.take(40, 2, 64), { n: 2 });
    p.sent(40);
    // the next round opens an interval after this one started, on the same (wire) clock
    assert.equal(p.take(79, 4, 64).n, 0);
    assert.deepEqual(p.take(80, 4, 64), { n: 2 });
  });

  test("the bucket holds across a step back: releases after it obey burst + pps × window from the last release before it", () => {
    const p = new Pacer({ pps: 1000, burst: 10, roundIntervalMs: 0, roundStart: [0], count: 1000 });
    p.start(0);
    const times: number[] = [];
    let now = 0;
    let next = 0;
    let stepped = false;
    while (next < 1000) {
      const r = p.take(now, next, 64);
      for (let k = 0; k < r.n; k++) times.push(now);
      next += r.n;
      if (!stepped && next >= 300) {
        stepped = true;
        now -= 100; // the wire fell 100 ms behind
      } else if (r.n === 0) now = r.wakeAtMs!;
    }
    for (let k = 1; k < times.length; k++) assert.ok(times[k]! >= times[k - 1]!, `release ${k} went back`);
    for (let i = 0; i + 100 < times.length; i += 37) {
      const w = times[i + 100]! - times[i]!;
      assert.ok(100 <= 10 + w + 1e-9, `100 packets in ${w} ms`);
    }
  });
});
