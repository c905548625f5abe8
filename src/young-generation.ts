// V8's young generation, sized for each kind of run. Loading a configuration and planning keep many
// objects alive for a while, and V8 doubles its new space for them up to 2 × 16 MB, resident from then
// on: a `run --once` of 1,000,000 probes peaked ~40 MB higher for it. Held at its first size (two
// 1 MB semi-spaces), the probing paths, which allocate nothing per packet, do not miss it. A daemon is
// different at steady state: every iteration makes its results, ledger entries and scrapes, and in a
// 1 MB new space that was a scavenge or two per iteration, ~0.2 µs of JS thread per probe (a few
// per cent of the daemon's CPU, docs/performance.md). So the daemon lets it grow again once its first
// iteration is done. A semi-space flag the user gives Node (command line or NODE_OPTIONS) always rules.
import { setFlagsFromString } from "node:v8";

/** V8's own growth factor (its flag's default). */
const V8_GROWTH_FACTOR = 2;

let held = false;

/** Whether Node was given a young-generation flag (the user's choice then rules). */
export function userSizedYoungGeneration(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
): boolean {
  return /semi[-_]space/.test([...execArgv, nodeOptions].join(" "));
}

/**
 * Keeps the new space at its first size from now on, unless the user sized it. Call before the CLI's
 * modules load (V8 reads the factor at each growth). Returns whether it did.
 */
export function holdYoungGeneration(userSized = userSizedYoungGeneration()): boolean {
  if (userSized) return false;
  setFlagsFromString("--semi-space-growth-factor=1");
  held = true;
  return true;
}

/** Lets the new space grow as V8 would, if holdYoungGeneration() held it. Returns whether it did. */
export function releaseYoungGeneration(): boolean {
  if (!held) return false;
  setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`);
  held = false;
  return true;
}

/** Whether the new space is held at its first size. */
export function youngGenerationHeld(): boolean {
  return held;
}
