// TTL-limited probes of a regular flow (Paris-traceroute style), for src/paths: a trace probe copies
// the flow's 5-tuple exactly (source and destination address, ports, IPv6 flow label; for ICMP echo
// the identifier of the flow's regular probes), so every router hashes it onto the same ECMP member
// as the flow's regular probes, and only its TTL / hop limit differs. The engine runs a batch of such
// probes as one iteration of a small plan built here (engine.trace); this module holds that plan, the
// keys it puts on the wire, and the fate of each probe.
import type { ReplyKey } from "../probes/kinds.js";
import { PROBE_TYPE } from "../probes/types.js";
import { type InFlight, ProbeState } from "./inflight.js";
import { type KeySpace, traceFate } from "./match.js";
import { allocatePlan, type ProbePlan, type Series } from "./plan.js";

export interface TraceRequest {
  /** The regular flow's series (target × group): type, family, destination port, DSCP, sizes, timeout. */
  series: Series;
  /** The flow: destination, source address, source port (0 for ICMP), IPv6 flow label (0 for IPv4). */
  dst: string;
  src: string;
  srcPort: number;
  flowLabel: number;
  /**
   * The key of the regular probe to copy, for types whose key partly lies in hashed fields (ICMP echo:
   * the identifier is the key's high 16 bits, and the checksum covers the sequence number). The trace
   * probe then carries the same identifier and, when the echo has at least 2 data bytes (ip_payload_size
   * ≥ 10), the same checksum: its first data word absorbs the different sequence number.
   */
  copyKey?: number;
  /** TTL / hop limit (1..255). */
  ttl: number;
  /** Probes to send with this TTL (default 1). */
  count?: number;
}

/** How one trace probe ended. */
export type TraceFate =
  /** The destination answered (as a regular probe's answer: docs/engine.md "Which replies answer"). */
  | "answered"
  /** A router (`from`) reported the TTL / hop limit exceeded, quoting the probe. */
  | "time-exceeded"
  /** Another ICMP error quoting the probe (`from`, `icmpType`, `icmpCode`). */
  | "error"
  /** Nothing within the series' timeout. */
  | "lost"
  /** Never left this host (the kernel refused the send). */
  | "refused";

export interface TraceResult {
  /** Index of the request in the trace() call. */
  request: number;
  ttl: number;
  fate: TraceFate;
  /** Who answered or reported (an address), for every fate but "lost" and "refused". */
  from: string | undefined;
  /** Seconds from kernel TX to kernel RX timestamp; NaN without both. */
  rtt: number;
  icmpType: number;
  icmpCode: number;
  /** The TTL / hop limit the quoted probe had where the error was raised (0 when not an error). */
  quotedTtl: number;
  /** The key on the wire (TCP sequence, ICMP id << 16 | seq, UDP tag). */
  key: number;
}

/** The plan, wire keys and outcomes of one batch of trace probes. */
export class Trace {
  readonly plan: ProbePlan;
  /** Request index of each probe. */
  readonly requestOf: Uint32Array;
  /** Per probe: the key on the wire (differs from the in-flight key for ICMP, whose id is the flow's). */
  readonly wire: Uint32Array;
  /** Per probe: how its first reply ended it (undefined: no reply yet). */
  private readonly fate: (TraceFate | undefined)[];
  private readonly from: (string | undefined)[];
  private readonly icmp: Uint16Array;
  private readonly quotedTtl: Uint8Array;
  private readonly byWire = new Map<number, number>();
  /** Per probe copying a regular one's hashed fields (ICMP echo): that probe's key. */
  readonly reference = new Map<number, number>();
  /** The in-flight key of probe 0. */
  readonly base: number;

  /** Takes its keys from `reserve` (the engine's key counter), one per probe. */
  constructor(
    readonly requests: readonly TraceRequest[],
    reserve: (count: number) => number,
  ) {
    const series: Series[] = [];
    const addresses: string[] = [];
    const seriesIdx = new Map<Series, number>();
    const addrIdx = new Map<string, number>();
    const intern = (a: string) => {
      let k = addrIdx.get(a);
      if (k === undefined) {
        k = addresses.push(a) - 1;
        addrIdx.set(a, k);
      }
      return k;
    };
    let count = 0;
    for (const r of requests) {
      if (!(r.ttl >= 1 && r.ttl <= 255)) throw new RangeError(`trace TTL ${r.ttl} is not in 1..255`);
      count += r.count ?? 1;
    }
    const base = reserve(count);
    const plan: ProbePlan = { ...allocatePlan(count, series, addresses, 1), ttl: new Uint8Array(count) };
    this.requestOf = new Uint32Array(count);
    this.wire = new Uint32Array(count);
    let i = 0;
    requests.forEach((r, q) => {
      let s = seriesIdx.get(r.series);
      if (s === undefined) {
        s = series.push(r.series) - 1;
        seriesIdx.set(r.series, s);
      }
      const hasPorts = PROBE_TYPE[r.series.type].hasPorts;
      for (let n = 0; n < (r.count ?? 1); n++, i++) {
        plan.seriesOf[i] = s;
        plan.dst[i] = intern(r.dst);
        plan.src[i] = intern(r.src);
        plan.srcPort[i] = hasPorts ? r.srcPort : 0;
        plan.flowLabel[i] = r.flowLabel;
        plan.ttl![i] = r.ttl;
        this.requestOf[i] = q;
        const key = (base + i) >>> 0;
        // ICMP echo: the copied probe's identifier, and the fresh key's low 16 bits as sequence number.
        const copy = PROBE_TYPE[r.series.type].keyHashed && r.copyKey !== undefined;
        const w = copy ? ((r.copyKey! & 0xffff0000) | (key & 0xffff)) >>> 0 : key;
        this.wire[i] = w;
        if (copy) this.reference.set(i, r.copyKey! >>> 0);
        if (w !== key) this.byWire.set(w, i);
      }
    });
    this.plan = plan;
    this.base = base;
    this.fate = new Array(count).fill(undefined);
    this.from = new Array(count).fill(undefined);
    this.icmp = new Uint16Array(count);
    this.quotedTtl = new Uint8Array(count);
  }

  /** The keys a reply can carry, for the matcher: wire keys of ICMP probes first, then the range. */
  keySpace(f: InFlight): KeySpace {
    const byWire = this.byWire;
    return {
      base: f.base,
      count: f.count,
      state: f.state,
      indexOf: (bits: number) => {
        const key = bits >>> 0; // a reply's key comes as int32 bits (replyKeyInto)
        const j = byWire.get(key);
        if (j !== undefined) return j;
        const i = f.indexOf(key);
        // An ICMP probe's in-flight key never went on the wire: a reply carrying it is not ours.
        return i >= 0 && this.wire[i] === key ? i : -1;
      },
    };
  }

  /**
   * Records how a reply that located probe i ended it (the first reply only): an answer from the
   * destination, a router's time exceeded, or another error.
   */
  note(i: number, key: ReplyKey, answers: boolean, from: string, family: 4 | 6): void {
    if (this.fate[i] !== undefined) return;
    this.fate[i] = traceFate(key, answers, family);
    this.from[i] = from;
    this.icmp[i] = (key.icmpType << 8) | key.icmpCode;
    this.quotedTtl[i] = key.how === "icmp-error" ? key.quotedTtl : 0;
  }

  /** One result per probe, in request order. */
  results(f: InFlight): TraceResult[] {
    const out: TraceResult[] = [];
    for (let i = 0; i < this.plan.count; i++) {
      const fate = this.fate[i];
      const st = f.state[i];
      const refused = st === ProbeState.SendFailed || st === ProbeState.Unsent;
      out.push({
        request: this.requestOf[i]!,
        ttl: this.plan.ttl![i]!,
        fate: refused ? "refused" : (fate ?? "lost"),
        from: this.from[i],
        rtt: fate === undefined || refused ? Number.NaN : f.rttNs(i) / 1e9,
        icmpType: this.icmp[i]! >> 8,
        icmpCode: this.icmp[i]! & 0xff,
        quotedTtl: this.quotedTtl[i]!,
        key: this.wire[i]!,
      });
    }
    return out;
  }
}
