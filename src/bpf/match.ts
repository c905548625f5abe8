// Parameter validation and the two matching fragments every filter is made of: "A is in this set of
// 16-bit ranges" (ports, ICMP identifiers) and "A - 1 is in this 32-bit window, modulo 2^32" (TCP
// acknowledgement numbers). Parameters come from configuration, so they are checked here with a
// message naming the parameter, before any instruction is emitted.

import { Code } from "../errors.js";
import { type AsmItem, alu, jeq, jge, jgt, label } from "./asm.js";
import { BpfError } from "./errors.js";
import { BPF_SUB } from "./opcodes.js";

/** An inclusive range of 16-bit values (ports, ICMP identifiers). */
export interface U16Range {
  lo: number;
  hi: number;
}

/** An inclusive window of 32-bit sequence numbers; lo > hi means it wraps through 2^32 - 1 → 0. */
export interface SeqWindow {
  lo: number;
  hi: number;
}

/** A set of 16-bit values: single values and ranges, in any order, overlapping or not. */
export type IdSet = readonly (number | U16Range)[];

/** At most this many disjoint ranges in one set: keeps every jump of the fragment within 255. */
export const MAX_RANGES = 64;

/** What a filter returns for an accepted packet: the whole packet, however long. */
export const ACCEPT = 0xffffffff;
/** What a filter returns for a dropped packet. */
export const DROP = 0;

function bad(message: string): never {
  throw new BpfError(Code.NPF_BPF_PARAM, message);
}

function checkU16(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff) {
    bad(`${name} must be an integer in 0..65535, got ${String(v)}`);
  }
  return v;
}

function checkU32(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    bad(`${name} must be an integer in 0..4294967295, got ${String(v)}`);
  }
  return v;
}

/** Validates one range (lo <= hi, both u16). */
export function checkRange(name: string, r: U16Range | undefined): U16Range {
  if (r === null || typeof r !== "object") bad(`${name} must be { lo, hi }`);
  const lo = checkU16(`${name}.lo`, r.lo);
  const hi = checkU16(`${name}.hi`, r.hi);
  if (lo > hi) bad(`${name}: lo ${lo} is greater than hi ${hi}`);
  return { lo, hi };
}

/** Validates a sequence window (u32 bounds; lo > hi wraps). */
export function checkWindow(name: string, w: SeqWindow): SeqWindow {
  if (w === null || typeof w !== "object") bad(`${name} must be { lo, hi }`);
  return { lo: checkU32(`${name}.lo`, w.lo), hi: checkU32(`${name}.hi`, w.hi) };
}

/** Validates a set and returns it as sorted, disjoint, non-adjacent ranges. */
export function normalizeSet(name: string, set: IdSet): U16Range[] {
  if (!Array.isArray(set) || set.length === 0) bad(`${name} must be a non-empty list of values or ranges`);
  const ranges = set
    .map((v, i) =>
      typeof v === "number" ? { lo: checkU16(`${name}[${i}]`, v), hi: v } : checkRange(`${name}[${i}]`, v),
    )
    .sort((a, b) => a.lo - b.lo);
  const merged: U16Range[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else merged.push({ ...r });
  }
  if (merged.length > MAX_RANGES) bad(`${name} has ${merged.length} disjoint ranges, at most ${MAX_RANGES}`);
  return merged;
}

/** Hands out labels unique within one program. */
export class Labels {
  private n = 0;
  fresh(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }
}

/**
 * Jumps to `yes` when A is in one of `ranges` (sorted, disjoint), to `no` otherwise. Because the
 * ranges are sorted, A below a range's lo is below every later range too: at most two compares per
 * range, one for a single value.
 */
export function inRanges(
  labels: Labels,
  ranges: readonly U16Range[],
  yes: string,
  no: string,
  what: string,
): AsmItem[] {
  const out: AsmItem[] = [];
  let here: string | undefined;
  ranges.forEach((r, i) => {
    const last = i === ranges.length - 1;
    const next = last ? no : labels.fresh("range");
    if (here !== undefined) out.push(label(here));
    if (r.lo === r.hi) {
      out.push(jeq(r.lo, yes, next, `${what} == ${r.lo}`));
    } else {
      if (r.lo > 0) out.push(jge(r.lo, undefined, no, `${what} >= ${r.lo}`));
      out.push(jgt(r.hi, next, yes, `${what} <= ${r.hi}`));
    }
    here = next;
  });
  return out;
}

/**
 * Jumps to `yes` when (A - 1) mod 2^32 is in the window, to `no` otherwise. One subtraction maps the
 * window onto 0..span whether or not it wraps: A - (lo + 1) ≤ (hi - lo), all modulo 2^32.
 */
export function ackInWindow(w: SeqWindow, yes: string, no: string): AsmItem[] {
  const span = (w.hi - w.lo) >>> 0;
  return [
    alu(BPF_SUB, (w.lo + 1) >>> 0, `A = ack - 1 - ${w.lo}`),
    jgt(span, no, yes, `ack - 1 in ${w.lo}..${w.hi} (mod 2^32)`),
  ];
}
