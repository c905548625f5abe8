// The kernel's acceptance rules for a classic BPF program (bpf_check_classic and
// check_load_and_stores in net/core/filter.c), re-stated in TypeScript. The assembler runs every
// program through it, so a program that would make setsockopt(SO_ATTACH_FILTER) fail with EINVAL is
// caught at build time with a reason; the test interpreter runs it too, so it never executes a program
// the kernel would refuse.

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
  BPF_K,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MAXINSNS,
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
  BPF_W,
  BPF_X,
  BPF_XOR,
  bpfClass,
  bpfOp,
  bpfSrc,
  type SockFilter,
} from "./opcodes.js";

/** Absolute loads at or above this offset (as u32) are the kernel's ancillary data (SKF_AD_OFF,
 * -0x1000): protocol, ifindex, random... The kernel refuses unknown ones; netprobify uses none, so the
 * checker refuses them all rather than keep a list. (SKF_NET_OFF / SKF_LL_OFF loads stay allowed.) */
export const SKF_AD_OFF = 0xfffff000;

/** Every opcode the kernel accepts in a classic program (the `codes[]` table of filter.c). */
export const VALID_CODES: ReadonlySet<number> = new Set<number>([
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].flatMap(
    (op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X],
  ),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_W | BPF_ABS,
  BPF_LD | BPF_H | BPF_ABS,
  BPF_LD | BPF_B | BPF_ABS,
  BPF_LD | BPF_W | BPF_IND,
  BPF_LD | BPF_H | BPF_IND,
  BPF_LD | BPF_B | BPF_IND,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LD | BPF_IMM,
  BPF_LD | BPF_MEM,
  BPF_LDX | BPF_W | BPF_IMM,
  BPF_LDX | BPF_W | BPF_MEM,
  BPF_LDX | BPF_W | BPF_LEN,
  BPF_LDX | BPF_B | BPF_MSH,
  BPF_ST,
  BPF_STX,
  BPF_MISC | BPF_TAX,
  BPF_MISC | BPF_TXA,
  BPF_RET | BPF_K,
  BPF_RET | BPF_A,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

/** Why the kernel would refuse `prog`, or undefined when it would accept it. */
export function checkProgram(prog: readonly SockFilter[]): string | undefined {
  const len = prog.length;
  if (len === 0 || len > BPF_MAXINSNS) return `program length ${len} is outside 1..${BPF_MAXINSNS}`;
  for (let pc = 0; pc < len; pc++) {
    const { code, jt, jf, k } = prog[pc]!;
    if (!Number.isInteger(code) || code < 0 || code > 0xffff) return `insn ${pc}: code ${code} is not a u16`;
    if (!Number.isInteger(jt) || jt < 0 || jt > 255) return `insn ${pc}: jt ${jt} is not a u8`;
    if (!Number.isInteger(jf) || jf < 0 || jf > 255) return `insn ${pc}: jf ${jf} is not a u8`;
    if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) return `insn ${pc}: k ${k} is not a u32`;
    if (!VALID_CODES.has(code)) return `insn ${pc}: unknown opcode 0x${code.toString(16)}`;
    const cls = bpfClass(code);
    if (cls === BPF_LD && (code & 0xe0) === BPF_ABS && k >= SKF_AD_OFF) {
      return `insn ${pc}: ancillary load [${k - 0x100000000}] is not supported`;
    }
    if (cls === BPF_ALU && bpfSrc(code) === BPF_K) {
      const op = bpfOp(code);
      if ((op === BPF_DIV || op === BPF_MOD) && k === 0) return `insn ${pc}: division by constant 0`;
      if ((op === BPF_LSH || op === BPF_RSH) && k >= 32) return `insn ${pc}: shift by ${k} >= 32`;
    }
    const isMem =
      ((cls === BPF_LD || cls === BPF_LDX) && (code & 0xe0) === BPF_MEM) || cls === BPF_ST || cls === BPF_STX;
    if (isMem && k >= BPF_MEMWORDS) return `insn ${pc}: scratch slot ${k} >= ${BPF_MEMWORDS}`;
    if (cls === BPF_JMP) {
      if (bpfOp(code) === BPF_JA) {
        if (k >= len - pc - 1) return `insn ${pc}: ja +${k} leaves the program`;
      } else if (pc + 1 + jt >= len || pc + 1 + jf >= len) {
        return `insn ${pc}: conditional jump leaves the program`;
      }
    }
  }
  const last = prog[len - 1]!.code;
  if (last !== (BPF_RET | BPF_K) && last !== (BPF_RET | BPF_A)) return "the last instruction is not a ret";
  return checkScratchReads(prog);
}

/**
 * Every scratch slot read must have been written on every path reaching the read (the kernel's
 * check_load_and_stores). Jumps only go forward, so one pass propagating "slots surely written"
 * masks (intersection over predecessors) is exact.
 */
function checkScratchReads(prog: readonly SockFilter[]): string | undefined {
  const ALL = (1 << BPF_MEMWORDS) - 1;
  const written = new Array<number>(prog.length).fill(ALL);
  const reached = new Array<boolean>(prog.length).fill(false);
  written[0] = 0;
  reached[0] = true;
  const flow = (to: number, mask: number): void => {
    written[to] = reached[to] ? written[to]! & mask : mask;
    reached[to] = true;
  };
  for (let pc = 0; pc < prog.length; pc++) {
    if (!reached[pc]) continue;
    const { code, jt, jf, k } = prog[pc]!;
    let mask = written[pc]!;
    const cls = bpfClass(code);
    if ((cls === BPF_LD || cls === BPF_LDX) && (code & 0xe0) === BPF_MEM) {
      if ((mask & (1 << k)) === 0) return `insn ${pc}: reads scratch slot ${k} before any write`;
    } else if (cls === BPF_ST || cls === BPF_STX) {
      mask |= 1 << k;
    }
    if (cls === BPF_RET) continue;
    if (cls === BPF_JMP) {
      if (bpfOp(code) === BPF_JA) flow(pc + 1 + k, mask);
      else {
        flow(pc + 1 + jt, mask);
        flow(pc + 1 + jf, mask);
      }
    } else {
      flow(pc + 1, mask);
    }
  }
  return undefined;
}
