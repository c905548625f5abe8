// Inventory modules run in worker threads: the ones that throw, reject, loop or crash are survived,
// counted and restarted with backoff; what they published stays; the main thread keeps its pace.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InventoryHost } from "../../src/inventory/host.js";
import { FIXTURES } from "../support/paths.js";

describe("inventory host (worker threads)", () => {
  test("misbehaving modules never stop the main thread; published lists stay; failures restart with backoff", async () => {
    const logs: [string, string, Record<string, unknown>][] = [];
    const host = new InventoryHost({
      dir: `${FIXTURES}inventories`,
      configFile: `${FIXTURES}inventories/../netprobify.yaml`,
      loggingLevel: "INFO",
      disabled: ["disabled"],
      log: (level, msg, fields) => logs.push([level, msg, fields]),
      backoffMs: 40,
    });
    assert.deepEqual(host.discover(), [
      "crashy",
      "disabled",
      "good",
      "loops",
      "noexport",
      "rejects",
      "throws",
    ]);
    const started = host.start();
    assert.deepEqual(started, ["crashy", "good", "loops", "noexport", "rejects", "throws"]);
    try {
      // The main thread's timers stay on time while a module spins in its own thread.
      let worstLag = 0;
      for (let k = 0; k < 20; k++) {
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 50));
        worstLag = Math.max(worstLag, performance.now() - t0 - 50);
      }
      assert.ok(worstLag < 40, `event loop lag ${worstLag.toFixed(1)} ms`);

      assert.deepEqual(host.published.get("good"), [
        { hostname: "198.18.0.7", type: "ICMPping" },
        { hostname: "198.18.0.8", type: "TCPsyn", dst_port: 443 },
      ]);
      assert.deepEqual(host.published.get("loops"), [{ hostname: "198.18.0.9", type: "ICMPping" }]);
      assert.deepEqual(
        host.published.get("crashy"),
        [{ hostname: "198.18.0.10", type: "ICMPping" }],
        "kept after the crash",
      );
      assert.equal(host.published.has("disabled"), false);
      for (const m of ["throws", "rejects", "noexport", "crashy"]) {
        assert.ok((host.failures.get(m) ?? 0) >= 2, `${m} failed and was restarted: ${host.failures.get(m)}`);
      }
      assert.equal(host.failures.get("good"), undefined);
      assert.equal(host.failures.get("loops"), undefined);
      const err = logs.find(([l, , f]) => l === "error" && f.module === "throws")!;
      assert.match(String(err[2].reason), /boom/);
      assert.ok(
        logs.some(
          ([l, m, f]) =>
            l === "info" &&
            m === "starting" &&
            f.module === "good" &&
            String(f.configPath).endsWith("good.yaml"),
        ),
      );
    } finally {
      await host.stop();
    }
  });
});
