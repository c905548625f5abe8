// Sharding one target list across instances: exactly-once coverage, balance, and minimal movement.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ownerOf, shardFilter } from "../../src/inventory/shard.js";

const names = Array.from({ length: 3000 }, (_, i) => `cmdb_host-${i}.dc1`);

describe("rendezvous sharding", () => {
  test("three instances cover every target exactly once, balanced", () => {
    const parts = [0, 1, 2].map((index) => shardFilter(names, (n) => n, { index, count: 3 }));
    const seen = new Map<string, number>();
    for (const p of parts) for (const n of p) seen.set(n, (seen.get(n) ?? 0) + 1);
    assert.equal(seen.size, names.length);
    assert.ok([...seen.values()].every((c) => c === 1));
    for (const p of parts) assert.ok(Math.abs(p.length - 1000) < 120, `part of ${p.length}`);
  });

  test("growing to four moves about a quarter, all of it to the new instance", () => {
    let moved = 0;
    for (const n of names) {
      const before = ownerOf(n, 3);
      const after = ownerOf(n, 4);
      if (before !== after) {
        moved++;
        assert.equal(after, 3, "a target only ever moves to the new instance");
      }
    }
    const share = moved / names.length;
    assert.ok(share > 0.2 && share < 0.3, `moved ${(share * 100).toFixed(1)} %`);
  });

  test("deterministic, and no shard means everything", () => {
    assert.equal(ownerOf("x", 5), ownerOf("x", 5));
    assert.equal(shardFilter(names, (n) => n, undefined).length, names.length);
    assert.throws(() => shardFilter(names, (n) => n, { index: 3, count: 3 }), RangeError);
    assert.throws(() => ownerOf("x", 0), RangeError);
  });
});
