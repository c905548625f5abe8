// The plan ceiling: how many probes one iteration may hold. The engine keeps every probe of an
// iteration in memory (typed arrays, in-flight table, results: about 150 B per probe in peak RSS at a
// million probes, docs/performance.md), so `nb_packets: 100000000` once meant gigabytes and an OOM
// kill. The file's plan is checked against global.max_probes_per_iteration by the plan-ceiling rule
// (check, start-up, reload); the daemon applies the same count to what dynamic inventories add.

/** Peak memory per probe of an iteration, in bytes (docs/engine.md, docs/performance.md). */
export const PROBE_BYTES = 150;
/** Default of global.max_probes_per_iteration: about 750 MB of probing state. */
export const DEFAULT_MAX_PROBES = 5_000_000;
/** Highest value global.max_probes_per_iteration accepts (about 15 GB). */
export const MAX_MAX_PROBES = 100_000_000;

/** One target's share of the plan. */
export interface PlanShare {
  name: string;
  addresses: number;
  groups: number;
  nb_packets: number;
  probes: number;
}

export function planShare(name: string, addresses: number, groups: number, nb_packets: number): PlanShare {
  return { name, addresses, groups, nb_packets, probes: addresses * groups * nb_packets };
}

/** What counting a loaded target's probes needs (TargetConfig has these). */
export interface PlannedTarget {
  address_count: number;
  groups: readonly string[];
  nb_packets: number;
}

/** Probes one loaded target adds to each iteration (a disabled target is in no group: 0). */
export function targetProbes(t: PlannedTarget): number {
  return t.address_count * t.groups.length * t.nb_packets;
}

const n = (x: number) => x.toLocaleString("en-US");

/** "about 1.2 GB": the memory a number of probes implies. */
export function probeMemory(probes: number): string {
  const bytes = probes * PROBE_BYTES;
  if (bytes >= 100e9) return `about ${n(Math.round(bytes / 1e9))} GB`;
  if (bytes >= 1e9) return `about ${(bytes / 1e9).toFixed(1)} GB`;
  return `about ${Math.max(1, Math.round(bytes / 1e6))} MB`;
}

/** The message of a plan over the ceiling: the numbers and the three biggest contributors. */
export function overCeilingMessage(total: number, ceiling: number, shares: readonly PlanShare[]): string {
  const top = [...shares]
    .sort((a, b) => b.probes - a.probes)
    .slice(0, 3)
    .map(
      (s) =>
        `${s.name} ${n(s.probes)} (${n(s.addresses)} address${s.addresses === 1 ? "" : "es"} × ${s.groups} group${s.groups === 1 ? "" : "s"} × ${n(s.nb_packets)} packet${s.nb_packets === 1 ? "" : "s"})`,
    );
  return (
    `the plan holds ${n(total)} probes per iteration (${probeMemory(total)} at ~${PROBE_BYTES} B per probe), ` +
    `more than the ceiling of ${n(ceiling)} (${probeMemory(ceiling)}, global.max_probes_per_iteration); ` +
    `biggest: ${top.join(", ")}`
  );
}
