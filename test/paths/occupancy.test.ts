// The concentration test's law (src/paths/occupancy.ts) against brute force: every way of choosing
// the lost probes among a few flows' probes, counted by hand.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { occupancyExact, occupancyLower } from "../../src/paths/occupancy.js";

/** P(D <= d) by enumerating every subset of `losses` probes among the flows' probes. */
function bruteForce(sent: number[], losses: number, d: number): number {
  const owner = sent.flatMap((n, i) => Array<number>(n).fill(i));
  let hits = 0;
  let all = 0;
  const pick = (from: number, left: number, used: number[]): void => {
    if (left === 0) {
      all++;
      if (new Set(used).size <= d) hits++;
      return;
    }
    for (let i = from; i <= owner.length - left; i++) pick(i + 1, left - 1, [...used, owner[i]!]);
  };
  pick(0, losses, []);
  return hits / all;
}

describe("occupancy law", () => {
  test("exact P(D <= d) matches brute force, flows alike and unlike", () => {
    for (const sent of [
      [3, 3, 3, 3],
      [3, 2, 4, 1],
      [5, 5, 5],
      [1, 6, 2, 2, 1],
    ]) {
      for (let losses = 1; losses <= 5; losses++) {
        for (let d = 1; d <= sent.length; d++) {
          const want = bruteForce(sent, losses, d);
          const got = occupancyExact(sent, losses, d);
          assert.ok(Math.abs(got - want) < 1e-12, `${sent} L=${losses} d=${d}: ${got} vs ${want}`);
          // The test's p-value is never below the exact law (bound, or 1 at or above the mean).
          assert.ok(occupancyLower(sent, losses, d) >= want - 1e-12, `${sent} L=${losses} d=${d}`);
          assert.ok(occupancyLower(sent, losses, d, 0) >= want - 1e-12, "the union bound is an upper bound");
        }
      }
    }
  });

  test("all losses on half of 16 flows: the p-value falls with the losses; large cases stay cheap", () => {
    const sent = Array<number>(16).fill(512);
    const p = [8, 16, 24, 32].map((L) => occupancyLower(sent, L, 8));
    for (let i = 1; i < p.length; i++) assert.ok(p[i]! < p[i - 1]!, `${p}`);
    assert.ok(p[2]! < 1e-3 && p[1]! > 1e-3, `24 losses on 8 of 16 flows are significant, 16 not: ${p}`);
    const started = process.hrtime.bigint();
    const wide = Array<number>(128).fill(512);
    assert.ok(occupancyLower(wide, 400, 60) < 1e-10, "400 losses on 60 of 128 flows (union bound)");
    assert.ok(occupancyLower(wide, 40, 12) < 1e-10, "40 losses on 12 of 128 flows (exact)");
    assert.equal(occupancyLower(wide, 400, 128), 1);
    assert.equal(occupancyLower(wide, 300, 116), 1, "at or above the mean occupancy (115.8)");
    assert.equal(
      occupancyLower(wide, 300, 110),
      1,
      "below it, too costly to be exact: the union bound says nothing",
    );
    assert.ok(occupancyLower(wide, 300, 105) > 1e-3, "a little below it: the union bound, not significant");
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`five tests over 128 flows of 512 probes, up to 400 losses: ${ms.toFixed(1)} ms`);
  });
});
