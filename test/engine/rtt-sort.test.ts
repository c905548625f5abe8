// sortedSeconds (src/engine/rtt-sort.ts): an iteration's RTTs in ns, sorted into seconds by a radix
// sort on whole numbers. The result must be exactly what dividing then Float64Array#sort gave, for
// every size and range (one to four byte passes), and for the inputs it leaves to the float sort.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InFlight } from "../../src/engine/inflight.js";
import { buildPlan } from "../../src/engine/plan.js";
import { SeriesCounters, summarize } from "../../src/engine/results.js";
import { sortedSeconds } from "../../src/engine/rtt-sort.js";
import { rng } from "../support/rng.js";

const reference = (ns: Float64Array) => ns.map((v) => v / 1e9).sort();

test("sortedSeconds equals dividing then sorting as floats, over sizes and ranges", () => {
  const r = rng(7);
  for (const n of [0, 1, 2, 255, 256, 257, 1000, 10_000]) {
    // Largest value: one byte, two, three, four (up to 2^32 - 1), and past 2^32 (the float sort).
    for (const top of [200, 60_000, 2e7, 0xffffffff, 2 ** 40]) {
      const ns = Float64Array.from({ length: n }, () => Math.floor(r() * top));
      if (n > 0 && r() < 0.5) ns[0] = Math.min(top, 0xffffffff); // the top of the range itself
      const copy = ns.slice();
      assert.deepEqual(sortedSeconds(ns), reference(ns), `n ${n} top ${top}`);
      assert.deepEqual(ns, copy, "its input left as it was");
    }
  }
});

test("sortedSeconds sorts in its result's own memory: no array beyond the result, odd or even passes", () => {
  // A million samples, as one series of the bench's memory row: the radix sort's two arrays were
  // 8 MB kept between iterations. Freed memory can only lower the difference (an upper bound).
  const r = rng(5);
  for (const top of [60_000, 2e7]) {
    const ns = Float64Array.from({ length: 1_000_000 }, () => Math.floor(r() * top));
    const before = process.memoryUsage().arrayBuffers;
    const out = sortedSeconds(ns);
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.ok(grew <= out.byteLength + 4096, `top ${top}: ${grew} bytes for a ${out.byteLength}-byte result`);
    assert.deepEqual(out, reference(ns), `top ${top}`);
  }
});

test("sortedSeconds: repeated values, zeros, and fractional ns (the float sort) give the same", () => {
  const r = rng(11);
  const few = Float64Array.from({ length: 3000 }, () => [0, 1, 250_000, 250_001][Math.floor(r() * 4)]!);
  assert.deepEqual(sortedSeconds(few), reference(few));
  const fractional = Float64Array.from({ length: 3000 }, () => r() * 1e6);
  assert.deepEqual(sortedSeconds(fractional), reference(fractional));
  assert.deepEqual(sortedSeconds(new Float64Array(500)), new Float64Array(500));
});

test("summarize: each series' samples sorted, whatever the order they were answered in", () => {
  const plan = buildPlan(
    ["a", "b"].map((name, k) => ({
      name,
      type: "ICMPping" as const,
      family: "ipv4" as const,
      addresses: [`198.18.1.${k + 1}`],
      dstPort: 0,
      nbPackets: 700,
      dontFragment: true,
      timeout: 1,
      groups: [{ name: "g", srcPortA: 1000, srcPortZ: 1000, dscp: 0 }],
    })),
    () => "198.18.0.2",
  );
  const r = rng(3);
  const f = new InFlight(0, plan.count, () => 1000);
  const want: number[][] = [[], []];
  for (let i = 0; i < plan.count; i++) {
    f.markSent(i, 0);
    if (r() < 0.1) continue; // lost
    const rtt = Math.floor(r() * 3e6);
    f.setTx(i, 1e9);
    f.reply(i, 1e9 + rtt);
    want[plan.seriesOf[i]!]!.push(rtt / 1e9);
  }
  f.expire(10_000);
  const got = summarize(plan, f, new SeriesCounters(plan.series.length));
  for (let s = 0; s < 2; s++) assert.deepEqual(got[s]!.rtts, Float64Array.from(want[s]!).sort());
});
