// A tiny classic BPF assembler: instruction constructors named after tcpdump's mnemonics, symbolic
// labels resolved to the 8-bit jt/jf offsets (and 32-bit ja offsets) the kernel wants, and encoding to
// the struct sock_filter array setsockopt(SO_ATTACH_FILTER) takes. Labels keep the builders readable
// and make "jump to drop" impossible to get off by one; the price is a second pass, which is nothing
// for programs of a few dozen instructions.
//
// Conditional jumps only go forward and at most 255 instructions (u8 offsets); the assembler refuses
// anything else instead of silently wrapping. Long-distance targets need an explicit `ja` trampoline.

import { Code } from "../errors.js";
import { checkProgram } from "./check.js";
import { BpfError } from "./errors.js";
import {
  BPF_A,
  BPF_ABS,
  BPF_ALU,
  BPF_B,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_MAXINSNS,
  BPF_MEM,
  BPF_MISC,
  BPF_MSH,
  BPF_NEG,
  BPF_RET,
  BPF_ST,
  BPF_STX,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  SOCK_FILTER_SIZE,
  type SockFilter,
} from "./opcodes.js";

/** An instruction before label resolution. `jt`/`jf` (conditional) or `target` (ja) name labels; an
 * absent `jt`/`jf` means "fall through to the next instruction". `note` is kept for listings. */
export interface AsmInsn {
  kind: "insn";
  code: number;
  k: number;
  jt?: string | undefined;
  jf?: string | undefined;
  target?: string | undefined;
  note?: string | undefined;
}

/** A position in the program: the next instruction after it. */
export interface AsmLabel {
  kind: "label";
  name: string;
}

export type AsmItem = AsmInsn | AsmLabel;

/** An assembled program: the kernel's instructions plus what a human listing needs. */
export interface BpfProgram {
  readonly insns: readonly SockFilter[];
  /** Label names by the index of the instruction they point at. */
  readonly labels: ReadonlyMap<number, readonly string[]>;
  /** Per-instruction comment, from the constructor's `note`. */
  readonly notes: readonly (string | undefined)[];
}

const u32 = (k: number): number => k >>> 0;

function insn(code: number, k: number, note?: string): AsmInsn {
  return { kind: "insn", code, k: u32(k), note };
}

function cond(code: number, k: number, jt: string | undefined, jf: string | undefined, note?: string) {
  return { kind: "insn", code, k: u32(k), jt, jf, note } satisfies AsmInsn;
}

export const label = (name: string): AsmLabel => ({ kind: "label", name });

// Loads into A.
/** A = 32-bit word at packet[k] (network order). */
export const ldw = (k: number, note?: string) => insn(BPF_LD | BPF_W | BPF_ABS, k, note);
/** A = 16-bit half-word at packet[k]. */
export const ldh = (k: number, note?: string) => insn(BPF_LD | BPF_H | BPF_ABS, k, note);
/** A = byte at packet[k]. */
export const ldb = (k: number, note?: string) => insn(BPF_LD | BPF_B | BPF_ABS, k, note);
/** A = 32-bit word at packet[X + k]. */
export const ldwx = (k: number, note?: string) => insn(BPF_LD | BPF_W | BPF_IND, k, note);
/** A = half-word at packet[X + k]. */
export const ldhx = (k: number, note?: string) => insn(BPF_LD | BPF_H | BPF_IND, k, note);
/** A = byte at packet[X + k]. */
export const ldbx = (k: number, note?: string) => insn(BPF_LD | BPF_B | BPF_IND, k, note);
/** A = k. */
export const ldi = (k: number, note?: string) => insn(BPF_LD | BPF_W | BPF_IMM, k, note);
/** A = packet length. */
export const ldlen = (note?: string) => insn(BPF_LD | BPF_W | BPF_LEN, 0, note);
/** A = M[k]. */
export const ldm = (k: number, note?: string) => insn(BPF_LD | BPF_MEM, k, note);

// Loads into X.
/** X = k. */
export const ldxi = (k: number, note?: string) => insn(BPF_LDX | BPF_W | BPF_IMM, k, note);
/** X = 4 * (packet[k] & 0xf): an IPv4 header length. */
export const ldxmsh = (k: number, note?: string) => insn(BPF_LDX | BPF_B | BPF_MSH, k, note);
/** X = M[k]. */
export const ldxm = (k: number, note?: string) => insn(BPF_LDX | BPF_W | BPF_MEM, k, note);
/** X = packet length. */
export const ldxlen = (note?: string) => insn(BPF_LDX | BPF_W | BPF_LEN, 0, note);

// Stores and register moves.
/** M[k] = A. */
export const st = (k: number, note?: string) => insn(BPF_ST, k, note);
/** M[k] = X. */
export const stx = (k: number, note?: string) => insn(BPF_STX, k, note);
/** X = A. */
export const tax = (note?: string) => insn(BPF_MISC | BPF_TAX, 0, note);
/** A = X. */
export const txa = (note?: string) => insn(BPF_MISC | BPF_TXA, 0, note);

// Arithmetic, 32-bit unsigned, wrapping.
/** A = A <op> k, with op one of BPF_ADD, BPF_SUB, BPF_AND, BPF_LSH... */
export const alu = (op: number, k: number, note?: string) => insn(BPF_ALU | op | BPF_K, k, note);
/** A = A <op> X. */
export const alux = (op: number, note?: string) => insn(BPF_ALU | op | BPF_X, 0, note);
/** A = -A. */
export const neg = (note?: string) => insn(BPF_ALU | BPF_NEG, 0, note);

// Jumps: jt when the condition holds, jf otherwise; undefined = next instruction.
export const jeq = (k: number, jt?: string, jf?: string, note?: string) =>
  cond(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf, note);
export const jgt = (k: number, jt?: string, jf?: string, note?: string) =>
  cond(BPF_JMP | BPF_JGT | BPF_K, k, jt, jf, note);
export const jge = (k: number, jt?: string, jf?: string, note?: string) =>
  cond(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf, note);
/** Condition: (A & k) != 0. */
export const jset = (k: number, jt?: string, jf?: string, note?: string) =>
  cond(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf, note);
/** Conditional jump comparing A with X (op: BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET). */
export const jx = (op: number, jt?: string, jf?: string, note?: string) =>
  cond(BPF_JMP | op | BPF_X, 0, jt, jf, note);
/** Unconditional jump, 32-bit forward offset. */
export const ja = (target: string, note?: string): AsmInsn => ({
  kind: "insn",
  code: BPF_JMP | BPF_JA,
  k: 0,
  target,
  note,
});

// Returns.
/** Accept k bytes of the packet (0 = drop). */
export const ret = (k: number, note?: string) => insn(BPF_RET | BPF_K, k, note);
/** Accept A bytes of the packet. */
export const reta = (note?: string) => insn(BPF_RET | BPF_A, 0, note);

function fail(message: string): never {
  throw new BpfError(Code.NPF_BPF_ASSEMBLY, message);
}

/**
 * Resolves labels and checks the result with the kernel's rules. Throws BpfError NPF_BPF_ASSEMBLY on
 * a duplicate or unknown label, a backward jump, a conditional jump longer than 255 instructions, more
 * than 4096 instructions or anything else the kernel would refuse.
 */
export function assemble(items: readonly AsmItem[]): BpfProgram {
  const where = new Map<string, number>();
  const labels = new Map<number, string[]>();
  let count = 0;
  for (const item of items) {
    if (item.kind === "insn") {
      count++;
      continue;
    }
    if (where.has(item.name)) fail(`label "${item.name}" is defined twice`);
    where.set(item.name, count);
    labels.set(count, [...(labels.get(count) ?? []), item.name]);
  }
  if (count > BPF_MAXINSNS)
    fail(`program has ${count} instructions, the kernel takes at most ${BPF_MAXINSNS}`);
  for (const [name, pc] of where) if (pc >= count) fail(`label "${name}" has no instruction after it`);

  const offset = (pc: number, name: string, limit: number): number => {
    const to = where.get(name);
    if (to === undefined) fail(`insn ${pc}: jump to unknown label "${name}"`);
    const off = to - (pc + 1);
    if (off < 0) fail(`insn ${pc}: jump to "${name}" goes backwards (classic BPF only jumps forward)`);
    if (off > limit) fail(`insn ${pc}: jump to "${name}" is ${off} instructions long, more than ${limit}`);
    return off;
  };

  const insns: SockFilter[] = [];
  const notes: (string | undefined)[] = [];
  for (const item of items) {
    if (item.kind !== "insn") continue;
    const pc = insns.length;
    let { k } = item;
    let jt = 0;
    let jf = 0;
    if (item.target !== undefined) k = offset(pc, item.target, 0xffffffff);
    if (item.jt !== undefined) jt = offset(pc, item.jt, 255);
    if (item.jf !== undefined) jf = offset(pc, item.jf, 255);
    insns.push({ code: item.code, jt, jf, k });
    notes.push(item.note);
  }
  const why = checkProgram(insns);
  if (why !== undefined) fail(why);
  return { insns, labels, notes };
}

/** struct sock_filter[] in host byte order (little-endian on every platform netprobify runs on). */
export function encode(prog: BpfProgram | readonly SockFilter[]): Buffer {
  const insns = "insns" in prog ? prog.insns : prog;
  const buf = Buffer.alloc(insns.length * SOCK_FILTER_SIZE);
  insns.forEach((ins, i) => {
    const o = i * SOCK_FILTER_SIZE;
    buf.writeUInt16LE(ins.code, o);
    buf.writeUInt8(ins.jt, o + 2);
    buf.writeUInt8(ins.jf, o + 3);
    buf.writeUInt32LE(ins.k, o + 4);
  });
  return buf;
}

/** The inverse of encode. Throws BpfError NPF_BPF_ASSEMBLY when the length is not a multiple of 8. */
export function decode(buf: Uint8Array): SockFilter[] {
  if (buf.length % SOCK_FILTER_SIZE !== 0) fail(`${buf.length} bytes is not a whole number of instructions`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: SockFilter[] = [];
  for (let o = 0; o < buf.length; o += SOCK_FILTER_SIZE) {
    out.push({
      code: view.getUint16(o, true),
      jt: view.getUint8(o + 2),
      jf: view.getUint8(o + 3),
      k: view.getUint32(o + 4, true),
    });
  }
  return out;
}
