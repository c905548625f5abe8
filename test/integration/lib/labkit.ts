// Small additions to the lab for the engine's wire, matching and pacing tests: source subnets whose
// addresses are assigned in the test namespace (so replies to them come back: every lab target's
// default route leads to the test namespace), plan inputs, and per-series lookups in results.
// Addresses come from the lab's own address plan (lab.plan.range), never from outside it.
import assert from "node:assert/strict";
import type { EngineOptions, IterationResult } from "../../../src/engine/engine.js";
import type { ProbeKind } from "../../../src/engine/plan.js";
import type { SeriesResult } from "../../../src/engine/results.js";
import { ipBatch } from "../../../src/lab/exec.js";
import type { Lab, LabTarget } from "../../../src/lab/lab.js";
import { type Cidr, parseCidr, subnetHost, subnetHostCount } from "../../../src/targets/destination.js";
import { kernelSource } from "../../../src/targets/source.js";
import { buildPlan, labEngine, type PlanTargetInput, type ProbePlan, warmUp } from "../support.js";

export const KINDS: readonly ProbeKind[] = ["TCPsyn", "ICMPping", "UDPunreachable"];
export const FAMILIES = ["ipv4", "ipv6"] as const;
export type Fam = (typeof FAMILIES)[number];

function mustCidr(text: string): Cidr {
  const r = parseCidr(text);
  assert.ok(r.ok, text);
  return r.value;
}

/** A source subnet per family, its host addresses assigned to the test namespace's loopback. */
export interface SourceSubnet {
  v4: Cidr;
  v6: Cidr;
  hosts4: string[];
  hosts6: string[];
  /** Removes the addresses again. */
  remove(): Promise<void>;
}

/**
 * Takes a fresh block of the lab's plan and assigns the hosts of `v4Prefix` / `v6Prefix` subnets at
 * its start to `lo` in the test namespace (IPv6 without DAD, so they are usable at once).
 */
export async function sourceSubnet(lab: Lab, v4Prefix: number, v6Prefix: number): Promise<SourceSubnet> {
  const block = lab.plan.range(256);
  const v4 = mustCidr(`${block.v4(0)}/${v4Prefix}`);
  const v6 = mustCidr(`${block.v6(0).replace(/::0$/, "::")}/${v6Prefix}`);
  const hosts4 = Array.from({ length: Number(subnetHostCount(v4)) }, (_, i) => subnetHost(v4, BigInt(i)));
  const hosts6 = Array.from({ length: Number(subnetHostCount(v6)) }, (_, i) => subnetHost(v6, BigInt(i)));
  const add = [
    ...hosts4.map((a) => `addr add ${a}/32 dev lo`),
    ...hosts6.map((a) => `addr add ${a}/128 dev lo nodad`),
  ];
  await ipBatch(undefined, add);
  return {
    v4,
    v6,
    hosts4,
    hosts6,
    remove: () =>
      ipBatch(
        undefined,
        add.map((l) => l.replace("addr add", "addr del").replace(" nodad", "")),
      ),
  };
}

/** The kernel's source address toward a target, per family. */
export async function sources(t: LabTarget): Promise<{ ipv4: string; ipv6: string }> {
  return { ipv4: await kernelSource(t.v4, "ipv4"), ipv6: await kernelSource(t.v6, "ipv6") };
}

/** Default destination port per probe type (TCP: closed port, answered by RST). */
export function portFor(type: ProbeKind): number {
  return type === "TCPsyn" ? 80 : 33434;
}

/** A one-address, one-group plan input with sensible lab defaults. */
export function series(
  name: string,
  type: ProbeKind,
  family: Fam,
  address: string,
  src: string | Cidr,
  o: Partial<Omit<PlanTargetInput, "groups">> & {
    ports?: [number, number];
    dscp?: number;
    groupPayloadSize?: number;
  } = {},
): PlanTargetInput {
  const [a, z] = o.ports ?? [61000, 61000];
  return {
    name,
    type,
    family,
    addresses: [address],
    dstPort: o.dstPort ?? portFor(type),
    nbPackets: o.nbPackets ?? 5,
    dontFragment: o.dontFragment ?? true,
    payloadSize: o.payloadSize,
    timeout: o.timeout ?? 1,
    groups: [
      {
        name: "g",
        srcPortA: a,
        srcPortZ: z,
        dscp: o.dscp ?? 0,
        ...(o.groupPayloadSize !== undefined ? { payloadSize: o.groupPayloadSize } : {}),
        ...(typeof src === "string" ? { src } : { srcSubnet: src }),
      },
    ],
  };
}

/** Builds the plan (every source fixed) and opens a lab engine for it. */
export function planAndEngine(
  targets: readonly PlanTargetInput[],
  o: Partial<EngineOptions> = {},
): { plan: ProbePlan; engine: ReturnType<typeof labEngine> } {
  const plan = buildPlan(targets, () => assert.fail("every source is fixed in these tests"));
  return { plan, engine: labEngine(targets, o) };
}

export { warmUp };

/** The result of one series by target name (one group per target unless `group` says otherwise). */
export function seriesOf(r: IterationResult, target: string, group = "g"): SeriesResult {
  const s = r.series.find((x) => x.target === target && x.group === group);
  assert.ok(s, `no series ${target}/${group}`);
  return s;
}

/** [sent, lost, late, duplicates, failed] of a series, for compact exact assertions. */
export function counts(s: SeriesResult): [number, number, number, number, number] {
  return [s.sent, s.lost, s.late, s.duplicates, s.failed];
}

/** Total of a per-address/per-target foreign counter map. */
export function total(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}
