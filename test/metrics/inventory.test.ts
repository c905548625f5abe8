// The dynamic inventories' resource metrics on the served text: CPU seconds added sample by sample
// into a counter, resident memory as a gauge, drops counted by reason, and an inventory that stops
// running losing its gauges and its CPU counter (a restarted one starts again from 0).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { config, parseExposition, value } from "./exposition.js";

test("inventory CPU (counter of sampled deltas), resident memory, drops by reason; removal", async () => {
  const m = new Metrics({ version: "1.2.3" });
  m.applyConfig(config());
  const inv = { probe_name: "lab", inventory: "cmdb" };
  m.setInventory("cmdb", { cpuSecondsAdd: 0.5, residentBytes: 50e6 });
  m.setInventory("cmdb", { cpuSecondsAdd: 0.75, residentBytes: 60e6 });
  m.countInventoryDropped("cmdb", "superseded", 10);
  m.countInventoryDropped("cmdb", "superseded", 5);
  m.countInventoryDropped("cmdb", "log", 1);
  let e = parseExposition(await m.metricsText());
  assert.equal(value(e, "netprobify_inventory_cpu_seconds_total", inv), 1.25);
  assert.equal(value(e, "netprobify_inventory_resident_memory_bytes", inv), 60e6);
  assert.equal(value(e, "netprobify_inventory_dropped_total", { ...inv, reason: "superseded" }), 15);
  assert.equal(value(e, "netprobify_inventory_dropped_total", { ...inv, reason: "log" }), 1);

  m.removeInventory("cmdb");
  e = parseExposition(await m.metricsText());
  assert.equal(value(e, "netprobify_inventory_cpu_seconds_total", inv), undefined);
  assert.equal(value(e, "netprobify_inventory_resident_memory_bytes", inv), undefined);
  assert.equal(
    value(e, "netprobify_inventory_dropped_total", { ...inv, reason: "log" }),
    1,
    "counted drops stay",
  );
});
