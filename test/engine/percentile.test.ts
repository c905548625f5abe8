// Percentiles match the original netprobify's interpolation (linear between closest ranks).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { percentile, sortSamples } from "../../src/engine/percentile.js";

describe("percentile", () => {
  test("no samples: no value", () => {
    assert.equal(percentile([], 95), undefined);
  });
  test("one sample is every percentile", () => {
    assert.equal(percentile([0.004], 1), 0.004);
    assert.equal(percentile([0.004], 100), 0.004);
  });
  test("linear interpolation at rank (n-1)*p", () => {
    const s = [1, 2, 3, 4];
    assert.equal(percentile(s, 50), 2.5);
    assert.equal(percentile(s, 100), 4);
    assert.ok(Math.abs(percentile(s, 95)! - 3.85) < 1e-12);
    assert.equal(percentile([10, 20, 30, 40, 50], 50), 30);
  });
  test("numeric sort, not lexicographic", () => {
    assert.deepEqual([...sortSamples(Float64Array.from([10, 9, 100, 0.5]))], [0.5, 9, 10, 100]);
  });
  test("bounded by min and max, monotonic in p (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (xs) => {
          const s = sortSamples(Float64Array.from(xs));
          let prev = -Infinity;
          for (let p = 1; p <= 100; p++) {
            const v = percentile(s, p)!;
            assert.ok(v >= s[0]! - 1e-12 && v <= s[s.length - 1]! + 1e-12);
            assert.ok(v >= prev - 1e-12);
            prev = v;
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
