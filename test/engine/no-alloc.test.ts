// Issue 17: no per-packet allocation on the JS side. bench/alloc.ts drains receive rings through the
// real Engine and builds probes as the engine does, in a child with a new space too large to scavenge
// during the measured round; the heap growth over a round is what the hot paths allocated.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../bench/alloc.js", import.meta.url));

test("the receive drain (foreign and matched replies) and packet building allocate (almost) nothing per packet", () => {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", "--min-semi-space-size=64", "--max-semi-space-size=64", script, "--json"],
    { encoding: "utf8" },
  );
  const r = JSON.parse(out.trim().split("\n").at(-1)!) as {
    receive: number;
    matched: number;
    send: number;
    gcs: number;
  };
  // A GC inside the measured round would hide allocation: the reading would not be one.
  assert.equal(r.gcs, 0, "no GC in the measured rounds");
  // Before the change: ~495 bytes per reply and ~97 per probe. What is left is per-round noise.
  assert.ok(r.receive < 16, `receive path: ${r.receive} bytes per reply`);
  assert.ok(r.matched < 16, `receive path, matched and recorded: ${r.matched} bytes per reply`);
  assert.ok(r.send < 16, `send path: ${r.send} bytes per probe`);
});
