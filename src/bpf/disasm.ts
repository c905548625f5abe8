// Human-readable listings of classic BPF programs, in tcpdump -d's vocabulary, with the builder's
// labels and notes. docs/bpf.md is made of these listings and a test keeps it in sync, so the
// documentation is always the program the kernel actually runs.

import type { BpfProgram } from "./asm.js";
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
} from "./opcodes.js";

const ALU_NAMES: Record<number, string> = {
  [BPF_ADD]: "add",
  [BPF_SUB]: "sub",
  [BPF_MUL]: "mul",
  [BPF_DIV]: "div",
  [BPF_MOD]: "mod",
  [BPF_AND]: "and",
  [BPF_OR]: "or",
  [BPF_XOR]: "xor",
  [BPF_LSH]: "lsh",
  [BPF_RSH]: "rsh",
  [BPF_NEG]: "neg",
};
const JMP_NAMES: Record<number, string> = {
  [BPF_JEQ]: "jeq",
  [BPF_JGT]: "jgt",
  [BPF_JGE]: "jge",
  [BPF_JSET]: "jset",
};

/** A constant as written in listings: decimal below 256 and for ports, hex for masks and words. */
function imm(k: number): string {
  return k > 0xffff ? `#0x${k.toString(16)}` : `#${k}`;
}

/** A bit mask, always in hex. */
function hex(k: number): string {
  return `#0x${k.toString(16)}`;
}

/** Mnemonic and operand of one instruction, without jump targets. */
export function mnemonic(ins: SockFilter): [string, string] {
  const { code, k } = ins;
  const sizeName = (c: number): string =>
    bpfSize(c) === BPF_H ? "ldh" : bpfSize(c) === BPF_B ? "ldb" : "ld";
  switch (bpfClass(code)) {
    case BPF_LD:
      switch (bpfMode(code)) {
        case BPF_ABS:
          return [sizeName(code), `[${k}]`];
        case BPF_IND:
          return [sizeName(code), `[x+${k}]`];
        case BPF_IMM:
          return ["ld", imm(k)];
        case BPF_LEN:
          return ["ld", "#len"];
        case BPF_MEM:
          return ["ld", `M[${k}]`];
      }
      break;
    case BPF_LDX:
      switch (bpfMode(code)) {
        case BPF_IMM:
          return ["ldx", imm(k)];
        case BPF_MSH:
          return ["ldx", `4*([${k}]&0xf)`];
        case BPF_LEN:
          return ["ldx", "#len"];
        case BPF_MEM:
          return ["ldx", `M[${k}]`];
      }
      break;
    case BPF_ST:
      return ["st", `M[${k}]`];
    case BPF_STX:
      return ["stx", `M[${k}]`];
    case BPF_MISC:
      return [bpfMiscOp(code) === BPF_TXA ? "txa" : "tax", ""];
    case BPF_ALU: {
      const name = ALU_NAMES[bpfOp(code)] ?? `alu?${code.toString(16)}`;
      if (bpfOp(code) === BPF_NEG) return [name, ""];
      if (bpfSrc(code) === BPF_X) return [name, "x"];
      const op = bpfOp(code);
      return [name, op === BPF_AND || op === BPF_OR || op === BPF_XOR ? hex(k) : imm(k)];
    }
    case BPF_JMP:
      if (bpfOp(code) === BPF_JA) return ["ja", ""];
      return [
        JMP_NAMES[bpfOp(code)] ?? `jmp?${code.toString(16)}`,
        bpfSrc(code) === BPF_X ? "x" : bpfOp(code) === BPF_JSET ? hex(k) : imm(k),
      ];
    case BPF_RET:
      return ["ret", bpfRval(code) === BPF_A ? "a" : imm(k)];
  }
  return [`.word 0x${code.toString(16)}`, imm(k)];
}

/**
 * One line per instruction: index, mnemonic, operand, jump targets (label names where the builder
 * gave one) and the builder's note. Labels appear on their own line before the instruction.
 */
export function listing(prog: BpfProgram): string {
  const target = (pc: number): string => prog.labels.get(pc)?.[0] ?? String(pc).padStart(3, "0");
  const lines: string[] = [];
  prog.insns.forEach((ins, pc) => {
    for (const name of prog.labels.get(pc) ?? []) lines.push(`${name}:`);
    const [op, arg] = mnemonic(ins);
    let jumps = "";
    if (bpfClass(ins.code) === BPF_JMP) {
      jumps =
        bpfOp(ins.code) === BPF_JA
          ? target(pc + 1 + ins.k)
          : `jt ${target(pc + 1 + ins.jt)}  jf ${target(pc + 1 + ins.jf)}`;
    }
    let line = `  ${String(pc).padStart(3, "0")}  ${op.padEnd(5)} ${arg.padEnd(14)} ${jumps}`.trimEnd();
    const note = prog.notes[pc];
    if (note !== undefined) line = `${line.padEnd(56)} ; ${note}`;
    lines.push(line);
  });
  return `${lines.join("\n")}\n`;
}
