// Process-wide faults (issue 11 siblings): an unhandled rejection and an exception thrown from a
// callback are logged and counted, not fatal; an exception storm still stops the process (exit 70).
// Run in a child process, since the handlers are process-wide.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./fault-child.js", import.meta.url));

describe("process-wide faults", () => {
  test("an unhandled rejection and an uncaught exception: logged, counted, the process goes on", () => {
    const r = spawnSync(process.execPath, [CHILD], { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { counted: string[]; logged: number };
    assert.deepEqual(out.counted.sort(), ["uncaught_exception", "unhandled_rejection"]);
    assert.equal(out.logged, 2);
  });

  test("more uncaught exceptions than the storm limit: the process stops with 70", () => {
    const r = spawnSync(process.execPath, [CHILD, "storm"], { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 70, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { storm: boolean; counted: string[] };
    assert.equal(out.counted.length, 4, "the limit is 3: the fourth stops it");
  });
});
