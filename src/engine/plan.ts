// The probe plan: every packet one iteration sends, decided once per configuration (and per DNS
// change), not per iteration. Each packet's flow (source address and port, destination, flow label)
// is fixed here so that a given (group, source port) sends the identical 5-tuple and flow label every
// iteration: ECMP hashing keeps each probe on its path, and one bad link shows up as loss on the
// ports that hash onto it. Only the per-iteration matching key (TCP sequence, ICMP id/seq, IP ID)
// changes at send time.
//
// The plan is stored as parallel typed arrays (one entry per packet), not objects, so that a million
// probes per iteration cost a few tens of megabytes. Packets are ordered round by round (packet k of
// every series and address before packet k+1 of any), which spreads each target's packets over the
// iteration instead of bursting them. Which of its lane's flows a packet sends turns every iteration
// (src/engine/rotation.ts): the plan fixes the flows and their counts, not their order.
import { PROBE_TYPE, type ProbeKind } from "../probes/types.js";
import type { Cidr, Family } from "../targets/destination.js";
import { subnetHost, subnetHostCount } from "../targets/destination.js";

export type { ProbeKind };

/** One (target, group) pair: the unit results are aggregated by (the metrics' destination × group). */
export interface Series {
  target: string;
  group: string;
  type: ProbeKind;
  family: Family;
  dstPort: number;
  dscp: number;
  dontFragment: boolean;
  /** IP payload size (transport header + data); undefined means the probe type's minimum. */
  payloadSize: number | undefined;
  /** Per-probe reply timeout in seconds. */
  timeout: number;
}

export interface PlanGroupInput {
  name: string;
  srcPortA: number;
  srcPortZ: number;
  dscp: number;
  payloadSize?: number;
  /** Fixed source address for the target's family, if any. */
  src?: string;
  /** Source subnet for the target's family (round robin over its hosts), if any. */
  srcSubnet?: Cidr;
}

export interface PlanTargetInput {
  name: string;
  type: ProbeKind;
  family: Family;
  /** Resolved / expanded destination addresses (one for a host, many for a subnet or range). */
  addresses: readonly string[];
  dstPort?: number;
  nbPackets: number;
  dontFragment: boolean;
  payloadSize?: number;
  timeout: number;
  groups: readonly PlanGroupInput[];
}

export interface ProbePlan {
  count: number;
  series: Series[];
  /** Interned addresses: src/dst below index into this table. */
  addresses: string[];
  /** Per packet: index into `series`. */
  seriesOf: Uint32Array;
  /** Per packet: destination and source address (indexes into `addresses`). */
  dst: Uint32Array;
  src: Uint32Array;
  srcPort: Uint16Array;
  /** Per packet: IPv6 flow label (20 bits), stable for a given flow; 0 for IPv4. */
  flowLabel: Uint32Array;
  /** Index of the first packet of each round (round k holds packet k of every series and address). */
  roundStart: Uint32Array;
  /** Per packet: TTL / hop limit, only in a trace's plan (src/engine/trace.ts); else the default 64. */
  ttl?: Uint8Array;
  /** Where each lane's rounds are, for rotating its flows between iterations (buildPlan's plans only). */
  lanes?: PlanLanes;
}

/**
 * A lane is one target × group: its packets to every address of the target, round after round (packet
 * k of a lane is in round k). Entry e = laneFirst[l] + k is lane l's round k, whose packets (one per
 * address, the same addresses in every round) are probes [at[e], at[e] + the lane's address count).
 * src/engine/rotation.ts reads it to send a lane's flows in another order every iteration.
 */
export interface PlanLanes {
  /** Per probe: its entry. */
  entryOf: Uint32Array;
  /** Per entry: its first probe, and its lane. */
  at: Uint32Array;
  laneOf: Uint32Array;
  /** Per lane: its first entry (its round 0), and its rounds (0 for a lane without addresses). */
  laneFirst: Uint32Array;
  rounds: Uint32Array;
}

/** A plan of `count` probes with its per-probe arrays zeroed, for a builder to fill. */
export function allocatePlan(
  count: number,
  series: Series[],
  addresses: string[],
  rounds: number,
): ProbePlan {
  return {
    count,
    series,
    addresses,
    seriesOf: new Uint32Array(count),
    dst: new Uint32Array(count),
    src: new Uint32Array(count),
    srcPort: new Uint16Array(count),
    flowLabel: new Uint32Array(count),
    roundStart: new Uint32Array(rounds),
  };
}

/**
 * Source port and source-host index of packet k of a series: the port cycles round robin over the
 * group's range; with a source subnet of H hosts, the host cycles first and the port advances each time
 * the host cycle completes.
 */
export function sourceFor(
  k: number,
  portA: number,
  portZ: number,
  hosts: number,
): { port: number; host: number } {
  // The original's arithmetic, Python's modulo included: a backwards range (portA > portZ + 1) has a
  // negative width and cycles portA, portZ + 2, ..., portA - 1 (config rule src-port-reversed).
  const ports = portZ - portA + 1;
  const r = Math.floor(k / hosts) % ports;
  return { host: k % hosts, port: portA + (r !== 0 && r < 0 !== ports < 0 ? r + ports : r) };
}

/** A 20-bit, never-zero IPv6 flow label derived from the flow, so it is the same every iteration. */
export function flowLabelFor(
  src: string,
  dst: string,
  srcPort: number,
  dstPort: number,
  proto: number,
): number {
  return flowLabelFinish(fnv(fnv(fnv(FNV_START, src), "|"), dst), `|${srcPort}|${dstPort}|${proto}`);
}

const FNV_START = 0x811c9dc5;

/** FNV-1a over the UTF-16 code units of `s`, continuing from state `h`. */
function fnv(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** The label from the hash state after "src|dst" and the flow's "|srcPort|dstPort|proto" suffix. */
function flowLabelFinish(h: number, suffix: string): number {
  h = fnv(h, suffix);
  const label = (h ^ (h >>> 20)) & 0xfffff;
  return label === 0 ? 1 : label;
}

/** UDP probes carry a 4-byte tag after the header (see src/probes/kinds.ts): 12 bytes of IP payload. */
export const UDP_TAGGED_SIZE = PROBE_TYPE.UDPunreachable.taggedPayload![4];

/**
 * The IP payload size a series sends. UDP probes default to carrying their tag; over IPv6 they always
 * do (ICMPv6 errors quote the tag, and IPv6 has no IP ID to fall back on), so smaller sizes are raised.
 */
export function payloadFor(type: ProbeKind, family: Family, size: number | undefined): number | undefined {
  const tagged = PROBE_TYPE[type].taggedPayload;
  if (tagged === undefined) return size;
  if (size === undefined) return tagged[family === "ipv4" ? 4 : 6];
  return family === "ipv6" ? Math.max(size, tagged[6]) : size;
}

/**
 * Builds the plan. `routeSource(dst, family)` gives the address the kernel would use towards `dst`
 * when the group fixes none (needed for checksums); it is called once per distinct destination.
 */
export function buildPlan(
  targets: readonly PlanTargetInput[],
  routeSource: (dst: string, family: Family) => string,
): ProbePlan {
  const series: Series[] = [];
  const addresses: string[] = [];
  const index = new Map<string, number>();
  const intern = (a: string) => {
    let i = index.get(a);
    if (i === undefined) {
      i = addresses.length;
      addresses.push(a);
      index.set(a, i);
    }
    return i;
  };
  const routeCache = new Map<string, string>();
  const kernelSource = (dst: string, family: Family) => {
    let s = routeCache.get(dst);
    if (s === undefined) {
      s = routeSource(dst, family);
      routeCache.set(dst, s);
    }
    return s;
  };

  interface Lane {
    series: number;
    target: PlanTargetInput;
    group: PlanGroupInput;
    hosts: number;
  }
  const lanes: Lane[] = [];
  let count = 0;
  let rounds = 0;
  for (const t of targets) {
    for (const g of t.groups) {
      const s = series.push({
        target: t.name,
        group: g.name,
        type: t.type,
        family: t.family,
        dstPort: PROBE_TYPE[t.type].hasPorts ? (t.dstPort ?? 0) : 0,
        dscp: g.dscp,
        dontFragment: t.dontFragment,
        payloadSize: payloadFor(t.type, t.family, t.payloadSize ?? g.payloadSize),
        timeout: t.timeout,
      });
      const hosts = g.srcSubnet ? Number(subnetHostCount(g.srcSubnet)) : 1;
      lanes.push({ series: s - 1, target: t, group: g, hosts: Math.max(1, hosts) });
      count += t.addresses.length * t.nbPackets;
      rounds = Math.max(rounds, t.nbPackets);
    }
  }

  const plan = allocatePlan(count, series, addresses, rounds);
  // Within a round, IPv4 lanes go before IPv6 ones (stable otherwise): consecutive packets of one
  // family leave in one sendmmsg call instead of alternating sockets.
  lanes.sort((a, b) => (a.target.family === b.target.family ? 0 : a.target.family === "ipv4" ? -1 : 1));
  // Per lane, everything that does not change from round to round is computed once (address
  // indexes, the routed source of each destination, the flow-label hash state after "src|dst"), so
  // the per-packet loop below is typed-array stores only: a million packets in tens of milliseconds.
  const prepared = lanes.map((lane) => {
    const { target: t, group: g } = lane;
    const n = t.nbPackets > 0 ? t.addresses.length : 0;
    const dst = new Uint32Array(n);
    // Without a source subnet, the source of a destination is the same in every round. Addresses are
    // interned in the order packets use them (destination, then source), as round 0 meets them.
    const src = g.srcSubnet ? undefined : new Uint32Array(n);
    const firstHost = g.srcSubnet ? subnetHost(g.srcSubnet, 0n) : "";
    for (let a = 0; a < n; a++) {
      dst[a] = intern(t.addresses[a]!);
      if (src) src[a] = intern(g.src ?? kernelSource(t.addresses[a]!, t.family));
      else intern(firstHost);
    }
    let hash: Int32Array | undefined;
    if (src) {
      if (t.family === "ipv6") {
        hash = new Int32Array(n);
        for (let a = 0; a < n; a++)
          hash[a] = fnv(fnv(fnv(FNV_START, addresses[src[a]!]!), "|"), t.addresses[a]!);
      }
    }
    return { dst, src, hash };
  });
  const laneFirst = new Uint32Array(lanes.length);
  const laneRounds = new Uint32Array(lanes.length);
  let entries = 0;
  for (let l = 0; l < lanes.length; l++) {
    laneFirst[l] = entries;
    laneRounds[l] = prepared[l]!.dst.length > 0 ? lanes[l]!.target.nbPackets : 0;
    entries += laneRounds[l]!;
  }
  const lanesOut: PlanLanes = {
    entryOf: new Uint32Array(count),
    at: new Uint32Array(entries),
    laneOf: new Uint32Array(entries),
    laneFirst,
    rounds: laneRounds,
  };
  plan.lanes = lanesOut;
  let i = 0;
  for (let k = 0; k < rounds; k++) {
    plan.roundStart[k] = i;
    for (let l = 0; l < lanes.length; l++) {
      const lane = lanes[l]!;
      const { target: t, group: g } = lane;
      if (k >= t.nbPackets) continue;
      const { port, host } = sourceFor(k, g.srcPortA, g.srcPortZ, lane.hosts);
      const proto = PROBE_TYPE[t.type].ipProtocol[t.family === "ipv4" ? 4 : 6];
      const { dst, src, hash } = prepared[l]!;
      const n = dst.length;
      const subnetSrc = g.srcSubnet ? subnetHost(g.srcSubnet, BigInt(host)) : undefined;
      const subnetSrcIndex = subnetSrc === undefined ? 0 : intern(subnetSrc);
      const v6 = t.family === "ipv6";
      const suffix = v6 ? `|${port}|${t.dstPort ?? 0}|${proto}` : "";
      const srcPort = PROBE_TYPE[t.type].hasPorts ? port : 0;
      if (n > 0) {
        const e = laneFirst[l]! + k;
        lanesOut.at[e] = i;
        lanesOut.laneOf[e] = l;
        lanesOut.entryOf.fill(e, i, i + n);
      }
      plan.seriesOf.fill(lane.series, i, i + n);
      plan.dst.set(dst, i);
      plan.srcPort.fill(srcPort, i, i + n);
      if (src) plan.src.set(src, i);
      else plan.src.fill(subnetSrcIndex, i, i + n);
      if (v6) {
        for (let a = 0; a < n; a++) {
          const h = hash ? hash[a]! : fnv(fnv(fnv(FNV_START, subnetSrc!), "|"), t.addresses[a]!);
          plan.flowLabel[i + a] = flowLabelFinish(h, suffix);
        }
      }
      i += n;
    }
  }
  return plan;
}
