// SeriesStore writes a known series' value straight into prom-client's cell after the first write.
// These check that the shortcut and prom-client agree: values, removal (a removed series comes back
// at its new value, not the old cell's), and prom-client's own validation still applied.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SeriesStore } from "../../src/metrics/registry.js";

const L = { probe_name: "p" };

async function text(s: SeriesStore, name: string): Promise<string[]> {
  return (await s.registry.metrics())
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe("SeriesStore value cells", () => {
  test("counters and gauges written many times show the right values", async () => {
    const s = new SeriesStore();
    for (let i = 0; i < 5; i++) s.inc("netprobify_iterations_total", L, 2);
    s.set("netprobify_iteration_probes", L, 7);
    s.set("netprobify_iteration_probes", L, 9);
    assert.deepEqual(await text(s, "netprobify_iterations_total"), [
      'netprobify_iterations_total{probe_name="p"} 10',
    ]);
    assert.deepEqual(await text(s, "netprobify_iteration_probes"), [
      'netprobify_iteration_probes{probe_name="p"} 9',
    ]);
  });

  test("a removed series starts again from its new value", async () => {
    const s = new SeriesStore();
    s.inc("netprobify_iterations_total", L, 5);
    s.remove("netprobify_iterations_total", L);
    assert.deepEqual(await text(s, "netprobify_iterations_total"), []);
    s.inc("netprobify_iterations_total", L, 1);
    s.inc("netprobify_iterations_total", L, 1);
    assert.deepEqual(await text(s, "netprobify_iterations_total"), [
      'netprobify_iterations_total{probe_name="p"} 2',
    ]);
    assert.equal(s.retain(() => false) > 0, true);
    s.set("netprobify_iteration_probes", L, 3);
    assert.deepEqual(await text(s, "netprobify_iteration_probes"), [
      'netprobify_iteration_probes{probe_name="p"} 3',
    ]);
  });

  test("a negative or non-finite counter increment is still refused", () => {
    const s = new SeriesStore();
    s.inc("netprobify_iterations_total", L, 1);
    assert.throws(() => s.inc("netprobify_iterations_total", L, -1));
    assert.throws(() => s.inc("netprobify_iterations_total", L, Number.POSITIVE_INFINITY));
  });
});
