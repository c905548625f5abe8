// Classic BPF opcode constants (linux/filter.h, linux/bpf_common.h) and the instruction shape the
// assembler works on. Kept apart from the assembler so the test interpreter and the disassembler share
// exactly one definition of every number. Only classic BPF: no eBPF, no ancillary (SKF_AD_*) loads.

/** Instruction classes (code & 0x07). */
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

/** Load sizes (code & 0x18). */
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;

/** Load modes (code & 0xe0). */
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
/** `ldx 4*([k]&0xf)`: the IPv4 header length in bytes, for skipping IP options. */
export const BPF_MSH = 0xa0;

/** ALU operations (code & 0xf0). */
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

/** Jump operations (code & 0xf0). All comparisons are unsigned 32-bit. */
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

/** Operand source (code & 0x08): the constant k or the index register X. */
export const BPF_K = 0x00;
export const BPF_X = 0x08;

/** Return value source (code & 0x18) for BPF_RET: k, or the accumulator A. */
export const BPF_A = 0x10;

/** BPF_MISC operations (code & 0xf8). */
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** Kernel limits: BPF_MAXINSNS, BPF_MEMWORDS. */
export const BPF_MAXINSNS = 4096;
export const BPF_MEMWORDS = 16;

/** Bytes per encoded struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }. */
export const SOCK_FILTER_SIZE = 8;

export const bpfClass = (code: number): number => code & 0x07;
export const bpfSize = (code: number): number => code & 0x18;
export const bpfMode = (code: number): number => code & 0xe0;
export const bpfOp = (code: number): number => code & 0xf0;
export const bpfSrc = (code: number): number => code & 0x08;
export const bpfRval = (code: number): number => code & 0x18;
export const bpfMiscOp = (code: number): number => code & 0xf8;

/** One resolved classic BPF instruction, as the kernel sees it. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}
