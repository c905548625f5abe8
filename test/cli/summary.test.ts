// `check`'s summary of a configuration whose interval is 0 (back-to-back iterations, as the original
// ran them): no division by zero, the rate says what happens.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSummary, summarize } from "../../src/cli/summary.js";
import { loadConfig } from "../../src/config/load.js";
import { FIXTURES } from "../support/paths.js";

test("interval 0: the probe rate is 'back to back', not Infinity", async () => {
  const s = summarize(await loadConfig(`${FIXTURES}config/adjusted/interval-zero.yaml`));
  assert.equal(s.probes_per_second, null);
  assert.match(formatSummary(s), /^probe rate: back to back \(interval 0\): 1 per iteration/m);
  assert.doesNotMatch(formatSummary(s), /Infinity/);
});
