// Gate: a module's log calls cut to the limits (message and fields), admitted by a token bucket
// (10 s of burst, then the rate), drops counted one by one but logged once a minute per reason.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Gate, LIMITS } from "../../src/inventory/gate.js";

test("log lines: message and fields cut to the limit, a burst then drops counted, one warning per reason", () => {
  const logs: [string, string, Record<string, unknown>][] = [];
  const drops: string[] = [];
  const g = new Gate({
    module: "m",
    log: (l, msg, f) => logs.push([l, msg, f]),
    accept: () => {},
    onDropped: (r) => drops.push(r),
    publishIntervalMs: 1000,
  });
  g.log("info", "x".repeat(10_000), { blob: "y".repeat(10_000) });
  assert.equal(logs[0]![1].length, LIMITS.logLineChars);
  assert.equal(String(logs[0]![2].fields).length, LIMITS.logLineChars, "oversized fields as cut JSON");
  assert.equal(logs[0]![2].module, "m");
  g.log("info", "small", { a: 1, module: "spoofed" });
  assert.deepEqual(logs[1]![2], { a: 1, module: "m" }, "the module label cannot be overridden");
  for (let i = 0; i < 1000; i++) g.log("info", "spam", {});
  const burst = LIMITS.logLinesPerSecond * 10;
  assert.ok(
    drops.length >= 1000 + 2 - burst - 1 && drops.length <= 1000 + 2 - burst + 1,
    `${drops.length} dropped`,
  );
  assert.equal(logs.filter(([l]) => l === "warn").length, 1, "one warning for all the drops");
});
