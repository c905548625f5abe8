// What `netprobify check` reports about a valid configuration: how much probing it asks for, so an
// operator sees the cost of a change (e.g. a /16 added by mistake) before deploying it.
import type { Config } from "../config/load.js";
import { probeMemory } from "../config/plan-size.js";

export interface Summary {
  probe_name: string;
  interval: number;
  targets: number;
  enabled: number;
  disabled: number;
  by_type: Record<string, number>;
  by_family: Record<string, number>;
  by_group: Record<string, number>;
  addresses: number;
  hostnames: number;
  probes_per_iteration: number;
  /** null for interval 0: iterations run back to back, as fast as they complete. */
  probes_per_second: number | null;
  /** The plan ceiling (global.max_probes_per_iteration) the probes per iteration are held to. */
  max_probes_per_iteration: number;
  /** global.shard (its index possibly from NETPROBIFY_SHARD_INDEX); only inventory targets are split. */
  shard?: { index: number; count: number };
}

const bump = (m: Record<string, number>, k: string, n = 1) => {
  m[k] = (m[k] ?? 0) + n;
};

export function summarize(config: Config): Summary {
  const s: Summary = {
    probe_name: config.global.probe_name,
    interval: config.global.interval,
    targets: config.targets.size,
    enabled: 0,
    disabled: 0,
    by_type: {},
    by_family: {},
    by_group: Object.fromEntries([...config.groups.keys()].map((g) => [g, 0])),
    addresses: 0,
    hostnames: 0,
    probes_per_iteration: 0,
    probes_per_second: 0,
    max_probes_per_iteration: config.global.max_probes_per_iteration,
    ...(config.global.shard ? { shard: { ...config.global.shard } } : {}),
  };
  for (const t of config.targets.values()) {
    if (!t.enabled) {
      s.disabled++;
      continue;
    }
    s.enabled++;
    bump(s.by_type, t.type);
    bump(s.by_family, t.address_family);
    for (const g of t.groups) bump(s.by_group, g);
    s.addresses += t.address_count;
    if (t.destination.kind === "hostname") s.hostnames++;
    s.probes_per_iteration += t.address_count * t.groups.length * t.nb_packets;
  }
  s.probes_per_second = s.interval > 0 ? s.probes_per_iteration / s.interval : null;
  return s;
}

const list = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

export function formatSummary(s: Summary): string {
  const pps = s.probes_per_second;
  const rate =
    pps === null
      ? `back to back (interval 0): ${s.probes_per_iteration} per iteration, as often as iterations complete`
      : `${pps >= 100 ? pps.toFixed(0) : pps.toFixed(2)} probes/s (${s.probes_per_iteration} every ${s.interval} s)`;
  return [
    `probe_name: ${s.probe_name}, interval: ${s.interval} s`,
    ...(s.shard
      ? [
          `shard: index ${s.shard.index} of 0..${s.shard.count - 1} (inventory targets split over ${s.shard.count} instances)`,
        ]
      : []),
    `targets: ${s.targets} (${s.enabled} enabled, ${s.disabled} disabled)`,
    `  by type:   ${list(s.by_type)}`,
    `  by family: ${list(s.by_family)}`,
    `  by group:  ${list(s.by_group)}`,
    `addresses: ${s.addresses}${s.hostnames > 0 ? ` (${s.hostnames} hostname${s.hostnames === 1 ? "" : "s"}, counted as one address each until resolved)` : ""}`,
    `probes per iteration: ${s.probes_per_iteration}`,
    `  memory: ${probeMemory(s.probes_per_iteration)} (ceiling ${s.max_probes_per_iteration} probes, ${probeMemory(s.max_probes_per_iteration)})`,
    `probe rate: ${rate}`,
  ].join("\n");
}
