// A classic BPF interpreter for tests: runs a program on a packet the way the kernel's socket filter
// does, so filters can be checked on hand-made packets without root. It follows the kernel's rules
// where they matter to a filter's verdict:
// - the program must pass the kernel's checker first (checkProgram), or it is not run at all;
// - A and X start at 0; arithmetic is unsigned 32-bit and wraps; shifts by X use X & 31;
// - a packet load (ld/ldh/ldb [k] and [x+k], ldx 4*([k]&0xf)) reaching past the end of the packet
//   ends the program with 0, i.e. the packet is dropped; so does a division or modulo by X == 0;
// - multi-byte loads are big-endian (network order); comparisons are unsigned.
// Not implemented (netprobify's filters never use them): ancillary loads (SKF_AD_*) and the negative
// SKF_NET_OFF / SKF_LL_OFF bases. An absolute load with a negative offset throws; an X-relative one
// whose sum is negative ends the program with 0.

import { checkProgram } from "../../src/bpf/check.js";
import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MEMWORDS,
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_X,
  BPF_XOR,
  bpfClass,
  bpfMiscOp,
  bpfMode,
  bpfOp,
  bpfRval,
  bpfSize,
  bpfSrc,
  type SockFilter,
} from "../../src/bpf/opcodes.js";

export interface RunResult {
  /** The program's return value: 0 = drop, otherwise the number of bytes kept. */
  verdict: number;
  /** Instructions executed, the return included. */
  steps: number;
  /** Why the program ended early with 0, if it did (a load beyond the packet, division by 0). */
  abort?: string;
}

/** Loads `size` bytes big-endian at `off`, or undefined when they are not all inside the packet. */
function load(pkt: Uint8Array, off: number, size: number): number | undefined {
  if (off < 0 || off + size > pkt.length) return undefined;
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + pkt[off + i]!;
  return v;
}

const sizeBytes = (code: number): number => (bpfSize(code) === BPF_H ? 2 : bpfSize(code) === BPF_B ? 1 : 4);

/** Runs `prog` on `pkt`. Throws when the program would be refused by the kernel's checker. */
export function run(
  prog: { insns: readonly SockFilter[] } | readonly SockFilter[],
  pkt: Uint8Array,
): RunResult {
  const insns = "insns" in prog ? prog.insns : prog;
  const why = checkProgram(insns);
  if (why !== undefined) throw new Error(`the kernel would refuse this program: ${why}`);
  let a = 0;
  let x = 0;
  const mem = new Array<number>(BPF_MEMWORDS).fill(0);
  let pc = 0;
  let steps = 0;
  const abort = (reason: string): RunResult => ({ verdict: 0, steps, abort: reason });
  for (;;) {
    const ins = insns[pc];
    if (ins === undefined) throw new Error(`pc ${pc} ran off the program (checker bug)`);
    steps++;
    const { code, jt, jf, k } = ins;
    pc++;
    switch (bpfClass(code)) {
      case BPF_LD: {
        const mode = bpfMode(code);
        if (mode === BPF_ABS || mode === BPF_IND) {
          if (mode === BPF_ABS && k >= 0x80000000)
            throw new Error(`insn ${pc - 1}: ancillary load not implemented`);
          const off = mode === BPF_ABS ? k : (x + k) | 0;
          const v = load(pkt, off, sizeBytes(code));
          if (v === undefined)
            return abort(`insn ${pc - 1}: load of ${sizeBytes(code)} at ${off} beyond ${pkt.length}`);
          a = v;
        } else if (mode === BPF_IMM) a = k;
        else if (mode === BPF_LEN) a = pkt.length;
        else if (mode === BPF_MEM) a = mem[k]!;
        break;
      }
      case BPF_LDX: {
        const mode = bpfMode(code);
        if (mode === BPF_MSH) {
          if (k >= 0x80000000) throw new Error(`insn ${pc - 1}: negative msh offset not implemented`);
          const v = load(pkt, k, 1);
          if (v === undefined) return abort(`insn ${pc - 1}: msh load at ${k} beyond ${pkt.length}`);
          x = (v & 0xf) << 2;
        } else if (mode === BPF_IMM) x = k;
        else if (mode === BPF_LEN) x = pkt.length;
        else if (mode === BPF_MEM) x = mem[k]!;
        break;
      }
      case BPF_ST:
        mem[k] = a;
        break;
      case BPF_STX:
        mem[k] = x;
        break;
      case BPF_MISC:
        if (bpfMiscOp(code) === BPF_TXA) a = x;
        else if (bpfMiscOp(code) === BPF_TAX) x = a;
        break;
      case BPF_ALU: {
        const op = bpfOp(code);
        const src = bpfSrc(code) === BPF_X ? x : k;
        if ((op === BPF_DIV || op === BPF_MOD) && src === 0)
          return abort(`insn ${pc - 1}: division by X = 0`);
        a = alu(op, a, src) >>> 0;
        break;
      }
      case BPF_JMP: {
        const op = bpfOp(code);
        if (op === BPF_JA) {
          pc += k;
          break;
        }
        const src = bpfSrc(code) === BPF_X ? x : k;
        let taken: boolean;
        if (op === BPF_JEQ) taken = a === src;
        else if (op === BPF_JGT) taken = a > src;
        else if (op === BPF_JGE) taken = a >= src;
        else if (op === BPF_JSET) taken = (a & src) !== 0;
        else throw new Error(`insn ${pc - 1}: jump op ${op} (checker bug)`);
        pc += taken ? jt : jf;
        break;
      }
      case BPF_RET:
        return { verdict: bpfRval(code) === BPF_A ? a : k, steps };
      default:
        throw new Error(`insn ${pc - 1}: class ${bpfClass(code)} (checker bug)`);
    }
  }
}

function alu(op: number, a: number, b: number): number {
  switch (op) {
    case BPF_ADD:
      return a + b;
    case BPF_SUB:
      return a - b;
    case BPF_MUL:
      return Math.imul(a, b);
    case BPF_DIV:
      return Math.floor(a / b);
    case BPF_MOD:
      return a % b;
    case BPF_AND:
      return a & b;
    case BPF_OR:
      return a | b;
    case BPF_XOR:
      return a ^ b;
    case BPF_LSH:
      return a << (b & 31);
    case BPF_RSH:
      return a >>> (b & 31);
    case BPF_NEG:
      return -a;
  }
  throw new Error(`alu op ${op} (checker bug)`);
}

/** True when the program keeps the packet (any non-zero return). */
export function accepts(prog: { insns: readonly SockFilter[] }, pkt: Uint8Array): boolean {
  return run(prog, pkt).verdict !== 0;
}
