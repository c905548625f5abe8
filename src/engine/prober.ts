// From a validated configuration to probing: resolve every enabled target to its addresses (DNS,
// subnet and range expansion), leave out this host's own addresses, find the kernel's source address
// where a group fixes none, build the plan and run iterations on one engine. What could not be probed
// is reported (never silently dropped): the daemon logs it and exports it as metrics.
import type { Config, TargetConfig } from "../config/load.js";
import type { Family } from "../targets/destination.js";
import { type Lookup, localAddresses, resolveTarget } from "../targets/resolve.js";
import { kernelSources } from "../targets/source.js";
import { Engine, type EngineOptions, type IterationResult } from "./engine.js";
import { engineOptions, planInputs } from "./from-config.js";
import { buildPlan, type ProbePlan } from "./plan.js";

export interface TargetIssue {
  target: string;
  /** "self": addresses of this host left out; "unresolved": DNS failed; "no-route": no source address. */
  kind: "self" | "unresolved" | "no-route";
  message: string;
  /** The target probes nothing at all because of it. */
  disabled: boolean;
}

export interface Prepared {
  plan: ProbePlan;
  issues: TargetIssue[];
  /** Addresses probed per target. */
  addresses: Map<string, string[]>;
}

/** Resolves targets and builds the plan for a configuration (no sockets needed). */
export async function prepare(config: Config, opts: { lookup?: Lookup } = {}): Promise<Prepared> {
  const resolved = await resolveAll(config, opts);
  const planned = await planFor(config, resolved.addresses);
  const issues = [...resolved.issues, ...planned.issues].sort((a, b) => a.target.localeCompare(b.target));
  return { plan: planned.plan, issues, addresses: planned.addresses };
}

/** Resolves one target (see resolveTarget) and turns what it could not use into issues. */
export async function resolveOne(
  config: Config,
  t: TargetConfig,
  opts: { lookup?: Lookup; local?: ReadonlySet<string> } = {},
): Promise<{ addresses: string[]; self?: string[]; issue?: TargetIssue }> {
  const r = await resolveTarget(t, {
    ceiling: config.global.max_addresses_per_target,
    lookup: opts.lookup,
    local: opts.local,
  });
  if (r.self.length > 0) {
    const message = `${r.self.join(", ")} belong${r.self.length === 1 ? "s" : ""} to this host: not probed`;
    return {
      addresses: r.addresses,
      self: r.self,
      issue: { target: t.name, kind: "self", message, disabled: r.addresses.length === 0 },
    };
  }
  if (r.error)
    return { addresses: [], issue: { target: t.name, kind: "unresolved", message: r.error, disabled: true } };
  return { addresses: r.addresses };
}

/** Resolves every enabled target. */
export async function resolveAll(
  config: Config,
  opts: { lookup?: Lookup } = {},
): Promise<{ addresses: Map<string, string[]>; issues: TargetIssue[] }> {
  const local = localAddresses();
  const issues: TargetIssue[] = [];
  const addresses = new Map<string, string[]>();
  await Promise.all(
    [...config.targets.values()]
      .filter((t) => t.enabled)
      .map(async (t) => {
        const r = await resolveOne(config, t, { lookup: opts.lookup, local });
        if (r.issue) issues.push(r.issue);
        if (r.addresses.length > 0) addresses.set(t.name, r.addresses);
      }),
  );
  return { addresses, issues };
}

/**
 * Builds the plan from resolved addresses: finds the kernel's source address where a group fixes none,
 * and leaves out (reporting them) destinations without a route.
 */
export async function planFor(
  config: Config,
  resolved: ReadonlyMap<string, readonly string[]>,
): Promise<{ plan: ProbePlan; issues: TargetIssue[]; addresses: Map<string, string[]> }> {
  const issues: TargetIssue[] = [];
  const addresses = new Map<string, string[]>([...resolved].map(([k, v]) => [k, [...v]]));
  const need = new Map<string, Family>();
  for (const t of config.targets.values()) {
    const addrs = addresses.get(t.name);
    if (!addrs) continue;
    const fixed = t.groups.every((g) => {
      const grp = config.groups.get(g)!;
      return t.address_family === "ipv4"
        ? grp.src_ipv4 || grp.src_subnet_ipv4
        : grp.src_ipv6 || grp.src_subnet_ipv6;
    });
    if (!fixed) for (const a of addrs) need.set(a, t.address_family);
  }
  const sources = await kernelSources(need);
  for (const [name, addrs] of addresses) {
    const unroutable = addrs.filter((a) => need.has(a) && !sources.has(a));
    if (unroutable.length === 0) continue;
    const kept = addrs.filter((a) => !unroutable.includes(a));
    issues.push({
      target: name,
      kind: "no-route",
      message: `no route to ${unroutable.slice(0, 3).join(", ")}${unroutable.length > 3 ? ` and ${unroutable.length - 3} more` : ""}`,
      disabled: kept.length === 0,
    });
    if (kept.length > 0) addresses.set(name, kept);
    else addresses.delete(name);
  }
  const plan = buildPlan(planInputs(config, addresses), (dst) => sources.get(dst) ?? "0.0.0.0");
  return { plan, issues, addresses };
}

/** Opens the engine a configuration needs (raw sockets: CAP_NET_RAW). */
export function openEngine(config: Config, extra: Partial<EngineOptions> = {}): Engine {
  return new Engine({ ...engineOptions(config), ...extra });
}

export type { IterationResult };
