// Waiting on the test's own state (a list that fills, a counter, a process that ends): polled every
// 50 ms within a bound generous enough for a loaded machine, failing with what was awaited.
import assert from "node:assert/strict";

/** Resolves once `pred` holds; `check` runs at every poll and once more at the end (e.g. a memory bound). */
export async function until(
  pred: () => boolean,
  what: string,
  ms = 20_000,
  check?: () => void,
): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    check?.();
    assert.ok(performance.now() < end, `timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  check?.();
}
