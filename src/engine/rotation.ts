// Which flow each packet of an iteration sends. The plan fixes every packet's flow (source address,
// source port, flow label) by its place in its lane's rounds, so without this the packet sent last
// to a target is the same flow every iteration. A target that rate limits its answers (a host
// limiting its port unreachables) loses the packets sent last in each burst: always the same flows,
// which the anomaly detector then takes for a faulty ECMP member (docs/paths.md, Limits). Iteration
// j sends, in lane round k, the flow the plan puts in round (k + shift) mod rounds, with the lane's
// shift drawn from a low-discrepancy sequence in j: a position in the burst is a different flow each
// iteration, evenly over a few iterations, while each iteration still sends every flow of the plan
// exactly as often (the source-port round robin, rotated). Nothing is copied: probe i's flow fields
// are read at plan index of(i), a few typed-array loads, no allocation.
import type { PlanLanes, ProbePlan } from "./plan.js";

/** 2^32 / φ: the Weyl sequence j × this mod 2^32 spreads its values evenly for every prefix of j. */
const GOLDEN = 0x9e3779b9;

/** Lane shift for iteration `iteration` of a lane of `rounds` rounds: 0 in iteration 0. */
export function laneShift(iteration: number, rounds: number): number {
  return Math.floor(((Math.imul(iteration, GOLDEN) >>> 0) * rounds) / 2 ** 32);
}

export class Rotation {
  /** Iteration 0's order (and a plan without lanes, such as a trace's): every probe its own flow. */
  static readonly none = new Rotation(undefined, 0);

  private readonly lanes: PlanLanes | undefined;
  /** Per lane: its shift this iteration (undefined: no probe moves). */
  private readonly shift: Uint32Array | undefined;

  constructor(plan: ProbePlan | undefined, iteration: number) {
    const lanes = plan?.lanes;
    let shift: Uint32Array | undefined;
    if (lanes !== undefined && iteration !== 0) {
      shift = new Uint32Array(lanes.rounds.length);
      let moved = false;
      for (let l = 0; l < shift.length; l++) {
        shift[l] = laneShift(iteration, lanes.rounds[l]!);
        if (shift[l] !== 0) moved = true;
      }
      if (!moved) shift = undefined;
    }
    this.lanes = shift === undefined ? undefined : lanes;
    this.shift = shift;
  }

  /** The plan index whose flow fields (src, srcPort, flowLabel, flow) probe `i` sends this iteration. */
  of(i: number): number {
    const s = this.shift;
    const L = this.lanes;
    if (s === undefined || L === undefined) return i;
    const e = L.entryOf[i]!;
    const l = L.laneOf[e]!;
    const first = L.laneFirst[l]!;
    const n = L.rounds[l]!;
    let k = e - first + s[l]!;
    if (k >= n) k -= n;
    return L.at[first + k]! + (i - L.at[e]!);
  }
}
