// What one iteration measured per flow: target × group × (destination, source address, source port,
// IPv6 flow label), the unit ECMP hashing keeps on one path. The per-flow ledger (src/paths/) feeds on
// it; the engine only counts. Nothing here runs per packet: the plan's probes are grouped by flow once
// per plan (cached), and after an iteration one pass over the in-flight table's typed arrays fills
// one typed array per figure, indexed by flow.
import { type InFlight, ProbeState } from "./inflight.js";
import { percentileOf } from "./percentile.js";
import type { ProbePlan } from "./plan.js";
import { Rotation } from "./rotation.js";

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
  /** How many flows. */
  readonly count: number;
  /**
   * The flows as objects, built on first read (the ledger's; a `run --once` never reads them: at
   * 160,000 flows they were 8-9 MB of V8's old space, docs/performance.md).
   */
  readonly flows: Flow[];
  /** Per probe: index into `flows`. */
  flowOf: Uint32Array;
  /** Flow f's probes are start[f + 1] - start[f]; its run in summarizeFlows' scratch starts at start[f]. */
  start: Uint32Array;
}

/** A FlowIndex whose flow objects are read from the plan (each flow's first probe) when first asked. */
class PlanFlows implements FlowIndex {
  #flows: Flow[] | undefined;
  constructor(
    private readonly plan: ProbePlan,
    /** Per flow: its first probe. */
    private readonly first: Uint32Array,
    readonly flowOf: Uint32Array,
    readonly start: Uint32Array,
  ) {}

  get count(): number {
    return this.first.length;
  }

  get flows(): Flow[] {
    if (this.#flows === undefined) {
      const p = this.plan;
      this.#flows = Array.from(this.first, (i) => ({
        series: p.seriesOf[i]!,
        dst: p.addresses[p.dst[i]!]!,
        src: p.addresses[p.src[i]!]!,
        srcPort: p.srcPort[i]!,
        flowLabel: p.flowLabel[i]!,
      }));
    }
    return this.#flows;
  }

  /** For tests: whether the flow objects were built. */
  get built(): boolean {
    return this.#flows !== undefined;
  }
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

/**
 * Flow ids by numeric key (a whole number in [0, 2^53)): open addressing with linear probing in two
 * typed arrays, doubled at half load. Off V8's heap, freed with the index's construction.
 */
class FlowIds {
  private keys = new Float64Array(1024).fill(-1);
  private vals = new Uint32Array(1024);
  private size = 0;

  private slot(key: number): number {
    const mask = this.keys.length - 1;
    // Multiplicative hashing: the product's top bits (the low ones depend on the key's low bits only).
    const x = (key % 0x100000000) ^ Math.imul(Math.floor(key / 0x100000000), 0x85ebca6b);
    let h = Math.imul(x, 0x9e3779b1) >>> Math.clz32(mask);
    while (this.keys[h] !== key && this.keys[h] !== -1) h = (h + 1) & mask;
    return h;
  }

  get(key: number): number | undefined {
    const h = this.slot(key);
    return this.keys[h] === key ? this.vals[h] : undefined;
  }

  set(key: number, v: number): void {
    if (2 * (this.size + 1) > this.keys.length) {
      const { keys, vals } = this;
      this.keys = new Float64Array(keys.length * 2).fill(-1);
      this.vals = new Uint32Array(keys.length * 2);
      for (let j = 0; j < keys.length; j++)
        if (keys[j] !== -1) {
          const h = this.slot(keys[j]!);
          this.keys[h] = keys[j]!;
          this.vals[h] = vals[j]!;
        }
    }
    const h = this.slot(key);
    if (this.keys[h] === -1) this.size++;
    this.keys[h] = key;
    this.vals[h] = v;
  }
}

/** The flows of `plan` (computed on first use, then cached with the plan). */
export function flowIndex(plan: ProbePlan): FlowIndex {
  let idx = indexes.get(plan);
  if (idx) return idx;
  let first = new Uint32Array(1024);
  let count = 0;
  const flowOf = new Uint32Array(plan.count);
  // The flow label follows from the other fields (plan.ts), but for ICMPv6 (no port) it still varies
  // with the group's port cycle: so (series, dst, src, port, or else label) is the key. One exact
  // number when it fits in 53 bits (no string per probe), else a string.
  const A = plan.addresses.length;
  const S = plan.series.length;
  const numeric = A * A * 0x100000 * S <= Number.MAX_SAFE_INTEGER;
  // Numeric keys go to a typed hash table (FlowIds): a Map of 160,000 flows was 14 MB of V8's
  // large-object space, garbage once the index is built, still resident when the first probe left.
  const ids = numeric ? new FlowIds() : new Map<string, number>();
  for (let i = 0; i < plan.count; i++) {
    const s = plan.seriesOf[i]!;
    const portOrLabel = plan.srcPort[i]! || plan.flowLabel[i]!;
    let f: number | undefined;
    let key: number | string;
    if (ids instanceof FlowIds) {
      key = ((plan.dst[i]! * A + plan.src[i]!) * 0x100000 + portOrLabel) * S + s;
      f = ids.get(key);
    } else {
      key = `${s}|${plan.dst[i]}|${plan.src[i]}|${portOrLabel}`;
      f = ids.get(key);
    }
    if (f === undefined) {
      f = count++;
      if (ids instanceof FlowIds) ids.set(key as number, f);
      else ids.set(key as string, f);
      if (f === first.length) {
        const grown = new Uint32Array(2 * first.length);
        grown.set(first);
        first = grown;
      }
      first[f] = i;
    }
    flowOf[i] = f;
  }
  // Probes per flow, as the offsets of the flows' runs.
  const start = new Uint32Array(count + 1);
  for (let i = 0; i < plan.count; i++) start[flowOf[i]! + 1]!++;
  for (let f = 0; f < count; f++) start[f + 1]! += start[f]!;
  idx = new PlanFlows(plan, first.slice(0, count), flowOf, start);
  indexes.set(plan, idx);
  return idx;
}

/**
 * One iteration's figures, zeros and NaN RTTs until counted; `flows` read from its source when first
 * asked. A class, not an object literal with a spread and a getter: such a literal got a new hidden
 * class every iteration (the getter a new closure), and the ledger's code that reads it was compiled
 * again each iteration until V8 gave up on it (docs/performance.md, the daemon's steady state).
 */
class Figures implements FlowResults {
  readonly sent: Uint32Array;
  readonly lost: Uint32Array;
  readonly unreachable: Uint32Array;
  readonly samples: Uint32Array;
  readonly rttMin: Float64Array;
  readonly rttP50: Float64Array;
  readonly rttMax: Float64Array;
  readonly replyTtl: Uint8Array;
  constructor(
    private readonly source: { readonly flows: readonly Flow[] },
    n: number,
  ) {
    this.sent = new Uint32Array(n);
    this.lost = new Uint32Array(n);
    this.unreachable = new Uint32Array(n);
    this.samples = new Uint32Array(n);
    this.rttMin = new Float64Array(n).fill(Number.NaN);
    this.rttP50 = new Float64Array(n).fill(Number.NaN);
    this.rttMax = new Float64Array(n).fill(Number.NaN);
    this.replyTtl = new Uint8Array(n);
  }

  get flows(): readonly Flow[] {
    return this.source.flows;
  }
}

/** Figures of `flows` before anything is counted: zeros, and NaN for the RTTs. */
export function emptyFlowResults(flows: readonly Flow[]): FlowResults {
  return new Figures({ flows }, flows.length);
}

/**
 * One Float64 per probe of scratch, shared by summarize() (results.ts) and summarizeFlows(): they run
 * one after the other at an iteration's end and neither keeps a view of it once it returns, so at a
 * million probes one 8 MB array serves both instead of two (docs/performance.md, memory). Grown, never
 * shrunk.
 */
let scratch = new Float64Array(0);

/** The shared per-probe scratch, at least `n` long; its contents are whatever the last user left. */
export function probeScratch(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(n);
  return scratch;
}

/**
 * Aggregates one iteration's in-flight table per flow: one pass in probe order (the in-flight
 * arrays read in sequence; probe i counts for the flow `rotation` gave it), each flow's RTTs written into its run of a scratch array (flow f's at
 * start[f]), then per flow its run sorted for the minimum, median and maximum.
 */
export function summarizeFlows(plan: ProbePlan, f: InFlight, rotation = Rotation.none): FlowResults {
  const idx = flowIndex(plan);
  const { flowOf, start } = idx;
  const n = idx.count;
  // The flow objects only when a reader (the ledger) asks for them.
  const r = new Figures(idx, n);
  const s = probeScratch(plan.count);
  const k = r.samples;
  for (let i = 0; i < plan.count; i++) {
    const fl = flowOf[rotation.of(i)]!;
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
        if (rtt >= 0) s[start[fl]! + k[fl]!++] = rtt / 1e9;
        break;
      }
    }
  }
  for (let fl = 0; fl < n; fl++) {
    const m = k[fl]!;
    if (m === 0) continue;
    const a = start[fl]!;
    // A flow has a few samples per iteration: an insertion sort beats the built-in sort's call.
    if (m <= 32) {
      for (let j = a + 1; j < a + m; j++) {
        const v = s[j]!;
        let x = j;
        for (; x > a && s[x - 1]! > v; x--) s[x] = s[x - 1]!;
        s[x] = v;
      }
    } else s.subarray(a, a + m).sort();
    r.rttMin[fl] = s[a]!;
    r.rttMax[fl] = s[a + m - 1]!;
    r.rttP50[fl] = percentileOf(s, a, m, 50)!;
  }
  return r;
}
