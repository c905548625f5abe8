// src/young-generation.ts: held only when the user gave Node no young-generation flag; released once.
// The command's real process is checked in test/cli/cli.test.ts (the new space after `check`), the
// daemon's release after its first iteration in test/daemon/daemon.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  holdYoungGeneration,
  releaseYoungGeneration,
  userSizedYoungGeneration,
  youngGenerationHeld,
} from "../src/young-generation.js";

test("a semi-space flag on Node's command line or in NODE_OPTIONS is the user's choice", () => {
  assert.equal(userSizedYoungGeneration([], ""), false);
  assert.equal(userSizedYoungGeneration(["--max-old-space-size=512"], "--enable-source-maps"), false);
  assert.equal(userSizedYoungGeneration(["--max-semi-space-size=16"], ""), true);
  assert.equal(userSizedYoungGeneration([], "--max_semi_space_size=8"), true);
  assert.equal(userSizedYoungGeneration([], "--semi-space-growth-factor=4"), true);
});

test("held only when the user did not size it; released once", () => {
  releaseYoungGeneration();
  assert.equal(holdYoungGeneration(true), false, "the user's flag rules");
  assert.equal(youngGenerationHeld(), false);
  assert.equal(releaseYoungGeneration(), false, "nothing to release");
  assert.equal(holdYoungGeneration(false), true);
  assert.equal(youngGenerationHeld(), true);
  assert.equal(releaseYoungGeneration(), true);
  assert.equal(youngGenerationHeld(), false);
  assert.equal(releaseYoungGeneration(), false, "once");
});
