// What the daemon does with an accepted configuration, short of sockets: resolve every enabled target
// (hostnames through a stub: no query leaves the test) and build its probe plan, sources fixed (no
// route lookups). The fuzz tests run it on every configuration they see accepted.
import type { Config } from "../../src/config/load.js";
import { targetProbes } from "../../src/config/plan-size.js";
import { planInputs } from "../../src/engine/from-config.js";
import { buildPlan, type ProbePlan } from "../../src/engine/plan.js";
import { resolveOne } from "../../src/engine/prober.js";
import type { Lookup } from "../../src/targets/resolve.js";

/** Hostnames resolve to lab addresses, or fail for names with "fail" in them. */
export const stubLookup: Lookup = async (name, family) => {
  if (name.includes("fail")) throw Object.assign(new Error(`${name}: ENOTFOUND`), { code: "ENOTFOUND" });
  return family === "ipv4" ? ["198.18.7.1", "198.18.7.2"] : ["fd18:7::1"];
};

/**
 * The configuration's plan, undefined above `most` probes (not built: time). `minTimeout` (s) raises
 * every probe's timeout, for a run on fake sockets that must not depend on the machine's load.
 */
export async function planConfig(
  config: Config,
  o: { most?: number; minTimeout?: number } = {},
): Promise<ProbePlan | undefined> {
  let probes = 0;
  for (const t of config.targets.values()) probes += targetProbes(t);
  if (probes > (o.most ?? 200_000)) return undefined;
  const addresses = new Map<string, string[]>();
  for (const t of config.targets.values()) {
    if (!t.enabled) continue;
    const r = await resolveOne(config, t, { lookup: stubLookup, local: new Set() });
    if (r.addresses.length > 0) addresses.set(t.name, r.addresses);
  }
  const inputs = planInputs(config, addresses).map((t) => ({
    ...t,
    timeout: Math.max(t.timeout, o.minTimeout ?? 0),
  }));
  return buildPlan(inputs, (_dst, family) => (family === "ipv4" ? "198.18.0.2" : "fd18::2"));
}
