// What one iteration measured per flow: target × group × (destination, source address, source port,
// IPv6 flow label), the unit ECMP hashing keeps on one path. The per-flow ledger (src/paths/) feeds on
// it; the engine only counts. Nothing here runs per packet: the plan's probes are grouped by flow once
// per plan (cached), and after an iteration one pass over the in-flight table's typed arrays fills
// one typed array per figure, indexed by flow.
import { type InFlight, ProbeState } from "./inflight.js";
import { percentile } from "./percentile.js";
import type { ProbePlan } from "./plan.js";

/** One flow of a plan: fixed for the plan's life, the same every iteration. */
export interface Flow {
  /** Index into plan.series. */
  series: number;
  dst: string;
  src: string;
  /** 0 for ICMP (no port: its flows differ by source address and, over IPv6, flow label). */
  srcPort: number;
  /** IPv6 flow label; 0 for IPv4. */
  flowLabel: number;
}

/** The flows of a plan and, per probe, its flow; built once per plan. */
export interface FlowIndex {
  flows: Flow[];
  /** Per probe: index into `flows`. */
  flowOf: Uint32Array;
  /** Probes ordered by flow: flow f's probes are order[start[f] .. start[f + 1]). */
  order: Uint32Array;
  start: Uint32Array;
}

/** One iteration's figures per flow (index as in FlowIndex.flows). */
export interface FlowResults {
  flows: readonly Flow[];
  /** Probes handed to the kernel. */
  sent: Uint32Array;
  /** Sent probes with no answer and no ICMP error from elsewhere (unreachable is not loss here). */
  lost: Uint32Array;
  /** Probes that drew an ICMP error from something other than the destination. */
  unreachable: Uint32Array;
  /** RTT samples (timed, non-negative answers). */
  samples: Uint32Array;
  /** RTT minimum, median and maximum in seconds; NaN without a sample. */
  rttMin: Float64Array;
  rttP50: Float64Array;
  rttMax: Float64Array;
  /** TTL (IPv4) / hop limit (IPv6) of the last answer; 0 when unknown (no answer). */
  replyTtl: Uint8Array;
}

const indexes = new WeakMap<ProbePlan, FlowIndex>();

/** The flows of `plan` (computed on first use, then cached with the plan). */
export function flowIndex(plan: ProbePlan): FlowIndex {
  let idx = indexes.get(plan);
  if (idx) return idx;
  const flows: Flow[] = [];
  const flowOf = new Uint32Array(plan.count);
  // The flow label follows from the other fields (plan.ts), but for ICMPv6 (no port) it still varies
  // with the group's port cycle: so (series, dst, src, port, or else label) is the key. One exact
  // number when it fits in 53 bits (no string per probe), else a string.
  const A = plan.addresses.length;
  const S = plan.series.length;
  const numeric = A * A * 0x100000 * S <= Number.MAX_SAFE_INTEGER;
  const ids = new Map<number | string, number>();
  for (let i = 0; i < plan.count; i++) {
    const s = plan.seriesOf[i]!;
    const portOrLabel = plan.srcPort[i]! || plan.flowLabel[i]!;
    const key = numeric
      ? ((plan.dst[i]! * A + plan.src[i]!) * 0x100000 + portOrLabel) * S + s
      : `${s}|${plan.dst[i]}|${plan.src[i]}|${portOrLabel}`;
    let f = ids.get(key);
    if (f === undefined) {
      f = flows.length;
      ids.set(key, f);
      flows.push({
        series: s,
        dst: plan.addresses[plan.dst[i]!]!,
        src: plan.addresses[plan.src[i]!]!,
        srcPort: plan.srcPort[i]!,
        flowLabel: plan.flowLabel[i]!,
      });
    }
    flowOf[i] = f;
  }
  // Counting sort of probes by flow.
  const start = new Uint32Array(flows.length + 1);
  for (let i = 0; i < plan.count; i++) start[flowOf[i]! + 1]!++;
  for (let f = 0; f < flows.length; f++) start[f + 1]! += start[f]!;
  const fill = start.slice(0, flows.length);
  const order = new Uint32Array(plan.count);
  for (let i = 0; i < plan.count; i++) order[fill[flowOf[i]!]!++] = i;
  idx = { flows, flowOf, order, start };
  indexes.set(plan, idx);
  return idx;
}

/** Aggregates one iteration's in-flight table per flow. */
export function summarizeFlows(plan: ProbePlan, f: InFlight): FlowResults {
  const { flows, order, start } = flowIndex(plan);
  const n = flows.length;
  const r: FlowResults = {
    flows,
    sent: new Uint32Array(n),
    lost: new Uint32Array(n),
    unreachable: new Uint32Array(n),
    samples: new Uint32Array(n),
    rttMin: new Float64Array(n).fill(Number.NaN),
    rttP50: new Float64Array(n).fill(Number.NaN),
    rttMax: new Float64Array(n).fill(Number.NaN),
    replyTtl: new Uint8Array(n),
  };
  let scratch = new Float64Array(16);
  // Views of the scratch's first k cells, made once per k (not one per flow: thousands per iteration).
  let views: Float64Array[] = [];
  for (let fl = 0; fl < n; fl++) {
    const a = start[fl]!;
    const z = start[fl + 1]!;
    if (scratch.length < z - a) {
      scratch = new Float64Array(z - a);
      views = [];
    }
    let k = 0;
    for (let j = a; j < z; j++) {
      const i = order[j]!;
      switch (f.state[i]) {
        case ProbeState.TimedOut:
        case ProbeState.Pending:
          r.sent[fl]!++;
          r.lost[fl]!++;
          break;
        case ProbeState.Unreachable:
          r.sent[fl]!++;
          r.unreachable[fl]!++;
          break;
        case ProbeState.Answered: {
          r.sent[fl]!++;
          const ttl = f.replyTtl[i]!;
          if (ttl !== 0) r.replyTtl[fl] = ttl;
          const rtt = f.rttNs(i);
          if (rtt >= 0) scratch[k++] = rtt / 1e9;
          break;
        }
      }
    }
    if (k === 0) continue;
    let s = views[k];
    if (s === undefined) {
      s = scratch.subarray(0, k);
      views[k] = s;
    }
    // A flow has a few samples per iteration: an insertion sort beats the built-in sort's call.
    if (k <= 32) {
      for (let j = 1; j < k; j++) {
        const v = scratch[j]!;
        let m = j;
        for (; m > 0 && scratch[m - 1]! > v; m--) scratch[m] = scratch[m - 1]!;
        scratch[m] = v;
      }
    } else s.sort();
    r.samples[fl] = k;
    r.rttMin[fl] = s[0]!;
    r.rttMax[fl] = s[k - 1]!;
    r.rttP50[fl] = percentile(s, 50)!;
  }
  return r;
}
