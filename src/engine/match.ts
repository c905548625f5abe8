// Reply -> probe: the matching decisions of one iteration, as small named predicates, out of the
// Iteration class so that each rule can be read and table-tested without sockets, root or the lab.
// A reply's key (src/probes/kinds.ts) names a candidate probe in O(1); the predicates below decide
// whether the reply really answers that probe (same type, same destination, same ports). Nothing here
// allocates per packet.
import { Icmp6Type, IcmpType } from "../packet/layout.js";
import type { ReplyKey } from "../probes/kinds.js";
import { PROBE_TYPE, tcpDataBytes } from "../probes/types.js";
import { ProbeState } from "./inflight.js";
import type { ProbeKind, ProbePlan } from "./plan.js";
import { Rotation } from "./rotation.js";

/** The keys an iteration used: its in-flight table, or for an older iteration just its key range. */
export interface KeySpace {
  readonly base: number;
  readonly count: number;
  indexOf(key: number): number;
  /** Per-probe state; absent for an older iteration (then every probe counts as sent). */
  readonly state?: Uint8Array;
}

/** The key range of an iteration whose in-flight table is gone (late answers are still recognised). */
export class KeyRange implements KeySpace {
  constructor(
    readonly base: number,
    readonly count: number,
  ) {}
  indexOf(key: number): number {
    const i = (key - this.base) >>> 0;
    return i < this.count ? i : -1;
  }
}

const ICMP_UNREACHABLE = IcmpType.DEST_UNREACHABLE;

/**
 * Whether an ICMP error answers its probe, as the original netprobify's capture filter decided
 * (`src net <destination>` plus a protocol per type; docs/engine.md "Which replies answer"): only the
 * destination answers, and only with what the original let in. TCPsyn took only TCP, so no ICMP error
 * answers a SYN; UDPunreachable over IPv4 took only ICMP type 3 (destination unreachable), over IPv6
 * any ICMPv6; ICMPping took any ICMP. Anything else is not an answer: a router's "host unreachable"
 * must not make a dead host look alive with the router's RTT.
 */
export function errorAnswers(
  kind: ProbeKind,
  family: 4 | 6,
  icmpType: number,
  fromDestination: boolean,
): boolean {
  if (!fromDestination) return false;
  const which = PROBE_TYPE[kind].answeringErrors[family];
  return which === "any" || (which === "unreachable" && icmpType === ICMP_UNREACHABLE);
}

/** ICMP time exceeded (type 11) or ICMPv6 time exceeded (type 3): a probe's TTL / hop limit ran out. */
export function isTimeExceeded(family: 4 | 6, icmpType: number): boolean {
  return icmpType === (family === 4 ? IcmpType.TIME_EXCEEDED : Icmp6Type.TIME_EXCEEDED);
}

/**
 * How the first reply that located a trace probe (src/engine/trace.ts) ends it: what would answer a
 * regular probe answers it; otherwise a time exceeded is a router's report of where the TTL ran out
 * (the point of a trace, from the router or from the destination itself); any other error ends it as
 * an error. Regular probes never get here: for them a router's error is never an answer.
 */
export function traceFate(
  key: ReplyKey,
  answers: boolean,
  family: 4 | 6,
): "answered" | "time-exceeded" | "error" {
  if (answers) return "answered";
  return key.how === "icmp-error" && isTimeExceeded(family, key.icmpType) ? "time-exceeded" : "error";
}

/** Equal bytes: `addr` against `buf` from `off` (an address in a packet or in the receive metadata). */
export function sameBytes(buf: Uint8Array, off: number, addr: Uint8Array): boolean {
  for (let k = 0; k < addr.length; k++) if (buf[off + k] !== addr[k]) return false;
  return true;
}

export class Matcher {
  /** Distinct data lengths of the plan's TCP SYNs (0 included). */
  readonly tcpDataLens: number[];

  constructor(
    readonly plan: ProbePlan,
    readonly inflight: KeySpace,
    /** The plan's addresses as bytes (4 or 16), indexed like plan.addresses. */
    readonly addrBytes: readonly Uint8Array[],
    /** Which plan index's flow (source port) each probe of this iteration sent. */
    readonly rotation: Rotation = Rotation.none,
  ) {
    const lens = new Set([0]);
    for (const s of plan.series) lens.add(tcpDataBytes(s.type, s.payloadSize));
    this.tcpDataLens = [...lens].sort((a, b) => a - b);
  }

  /**
   * The probe a reply's key designates, or -1. A RST to a SYN that carried data acknowledges the data
   * too (ack = seq + 1 + data length), so each data length the plan uses is tried, and a candidate
   * counts only if it has that length and the reply's flow. Quotes without a tag (IPv4 routers that
   * quote 8 transport bytes) fall back to the 16-bit IP ID; a quoted tag that matches nothing does not.
   */
  locate(key: ReplyKey, data: Uint8Array, meta: Uint8Array, srcOff: number): number {
    const f = this.inflight;
    if (key.key === undefined) {
      return key.key16 === undefined
        ? -1
        : this.byKey16(key.key16, key.probeSrcPort, data, key.quotedDstOffset);
    }
    if (PROBE_TYPE[key.kind].tcp && key.how === "direct" && !key.synAck && this.tcpDataLens.length > 1) {
      for (const d of this.tcpDataLens) {
        const i = f.indexOf((key.key - d) >>> 0);
        if (
          i >= 0 &&
          this.tcpDataLen(i) === d &&
          this.sameAddress(i, key, data, meta, srcOff) &&
          this.samePorts(i, key)
        )
          return i;
      }
    }
    return f.indexOf(key.key);
  }

  /** Bytes of data after the TCP header in probe i's SYN (0 for other types). */
  tcpDataLen(i: number): number {
    const s = this.plan.series[this.plan.seriesOf[i]!]!;
    return tcpDataBytes(s.type, s.payloadSize);
  }

  /**
   * The reply is about probe i's type and destination: a direct reply comes from it (source address
   * in the receive metadata), an ICMP error quotes a packet sent to it. A key is only 32 bits that
   * anyone can forge or that another prober's packets may carry; the destination is what we sent to.
   */
  sameAddress(i: number, key: ReplyKey, data: Uint8Array, meta: Uint8Array, srcOff: number): boolean {
    const series = this.plan.series[this.plan.seriesOf[i]!]!;
    const dst = this.addrBytes[this.plan.dst[i]!]!;
    return (
      series.type === key.kind &&
      (key.quotedDstOffset < 0 ? sameBytes(meta, srcOff, dst) : sameBytes(data, key.quotedDstOffset, dst))
    );
  }

  /** The reply's source (receive metadata at `srcOff`) is probe i's destination. */
  fromDestination(i: number, meta: Uint8Array, srcOff: number): boolean {
    return sameBytes(meta, srcOff, this.addrBytes[this.plan.dst[i]!]!);
  }

  /**
   * Whether a reply that located probe i answers it: a direct reply does; an ICMP error does only
   * when errorAnswers() says so for the probe's type, the family and the error's sender.
   */
  answers(i: number, key: ReplyKey, meta: Uint8Array, srcOff: number, family: 4 | 6): boolean {
    if (key.how !== "icmp-error") return true;
    const type = this.plan.series[this.plan.seriesOf[i]!]!.type;
    return errorAnswers(type, family, key.icmpType, this.fromDestination(i, meta, srcOff));
  }

  /**
   * The reply carries probe i's ports (ICMP echo has none): the original counted a matching key with
   * other ports as a port mismatch, not an answer (tcpsyn/udp_unreachable_port_mismatch_count).
   */
  samePorts(i: number, key: ReplyKey): boolean {
    const series = this.plan.series[this.plan.seriesOf[i]!]!;
    return (
      !PROBE_TYPE[series.type].hasPorts ||
      (key.probeSrcPort === this.plan.srcPort[this.rotation.of(i)] && key.probeDstPort === series.dstPort)
    );
  }

  /** The plan's text of the address at meta[off...] (a reply's source), or "unknown". */
  addressText(meta: Uint8Array, off: number, family: 4 | 6): string {
    for (let a = 0; a < this.addrBytes.length; a++) {
      const b = this.addrBytes[a]!;
      if (b.length === (family === 4 ? 4 : 16) && sameBytes(meta, off, b)) return this.plan.addresses[a]!;
    }
    return "unknown";
  }

  /**
   * UDP over IPv4 quoted without its tag: the IP ID holds the key's low 16 bits; the first sent probe
   * with that ID, source port and (quoted) destination is the one (of an older iteration, whose
   * states are gone, the first planned one).
   */
  byKey16(key16: number, srcPort: number, data: Uint8Array, dstOff: number): number {
    const f = this.inflight;
    const st = f.state;
    for (let i = (key16 - f.base) & 0xffff; i < f.count; i += 0x10000) {
      if (st !== undefined && (st[i] === ProbeState.Unsent || st[i] === ProbeState.SendFailed)) continue;
      if (this.plan.srcPort[this.rotation.of(i)] !== srcPort) continue;
      if (dstOff >= 0 && !sameBytes(data, dstOff, this.addrBytes[this.plan.dst[i]!]!)) continue;
      return i;
    }
    return -1;
  }
}
