// The assembler (labels, limits, encoding) and the test interpreter's kernel semantics. The encoding is
// compared with what tcpdump -dd prints for the same program, an independent reference.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  alu,
  alux,
  assemble,
  decode,
  encode,
  ja,
  jeq,
  jge,
  jgt,
  jset,
  jx,
  label,
  ldb,
  ldbx,
  ldh,
  ldhx,
  ldi,
  ldlen,
  ldm,
  ldw,
  ldwx,
  ldxi,
  ldxm,
  ldxmsh,
  neg,
  ret,
  reta,
  st,
  stx,
  tax,
  txa,
} from "../../src/bpf/asm.js";
import { checkProgram } from "../../src/bpf/check.js";
import { listing } from "../../src/bpf/disasm.js";
import { BpfError } from "../../src/bpf/errors.js";
import {
  BPF_ADD,
  BPF_AND,
  BPF_DIV,
  BPF_JEQ,
  BPF_JGT,
  BPF_LSH,
  BPF_MOD,
  BPF_MUL,
  BPF_OR,
  BPF_RSH,
  BPF_SUB,
  BPF_XOR,
} from "../../src/bpf/opcodes.js";
import { run } from "./interp.js";

const asmError = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(
    fn,
    (e: unknown) => e instanceof BpfError && e.code === "NPF_BPF_ASSEMBLY" && pattern.test(e.message),
  );

describe("bpf assembler", () => {
  test("encodes like tcpdump -dd 'ip' on Ethernet", () => {
    // tcpdump -y EN10MB -dd ip:
    // { 0x28, 0, 0, 0x0000000c }, { 0x15, 0, 1, 0x00000800 }, { 0x6, 0, 0, 0x00040000 }, { 0x6, 0, 0, 0 }
    const prog = assemble([ldh(12), jeq(0x800, undefined, "no"), ret(0x40000), label("no"), ret(0)]);
    assert.deepEqual(prog.insns, [
      { code: 0x28, jt: 0, jf: 0, k: 0xc },
      { code: 0x15, jt: 0, jf: 1, k: 0x800 },
      { code: 0x06, jt: 0, jf: 0, k: 0x40000 },
      { code: 0x06, jt: 0, jf: 0, k: 0 },
    ]);
    assert.equal(
      encode(prog).toString("hex"),
      "28000000" + "0c000000" + "15000001" + "00080000" + "06000000" + "00000400" + "06000000" + "00000000",
    );
  });

  test("resolves labels to forward offsets, fall-through to 0", () => {
    const prog = assemble([
      ldb(0),
      jeq(1, "a", "b"),
      jgt(2, undefined, "b"),
      label("a"),
      ret(1),
      label("b"),
      label("b2"),
      ja("c"),
      ret(2),
      label("c"),
      ret(3),
    ]);
    assert.deepEqual(
      prog.insns.map(({ jt, jf, k }) => [jt, jf, k]),
      [
        [0, 0, 0],
        [1, 2, 1],
        [0, 1, 2],
        [0, 0, 1],
        [0, 0, 1],
        [0, 0, 2],
        [0, 0, 3],
      ],
    );
    assert.deepEqual(prog.labels.get(4), ["b", "b2"]);
  });

  test("decode inverts encode", () => {
    const prog = assemble([
      ldw(0),
      ldwx(4),
      ldhx(2),
      ldbx(1),
      alu(BPF_ADD, 0xdeadbeef),
      jset(0x80, "x"),
      label("x"),
      reta(),
    ]);
    assert.deepEqual(decode(encode(prog)), prog.insns);
    asmError(() => decode(Buffer.alloc(12)), /whole number/);
  });

  test("refuses unknown and duplicate labels, backward jumps and labels at the end", () => {
    asmError(() => assemble([jeq(1, "nowhere"), ret(0)]), /unknown label "nowhere"/);
    asmError(() => assemble([label("a"), ret(0), label("a"), ret(1)]), /defined twice/);
    asmError(() => assemble([label("top"), ldb(0), jeq(1, "top"), ret(0)]), /backwards/);
    asmError(() => assemble([ret(0), label("end")]), /no instruction after it/);
  });

  test("a conditional jump of 255 assembles, 256 does not; ja reaches further", () => {
    const pad = (n: number) => Array.from({ length: n }, () => ldi(0));
    assert.equal(assemble([jeq(1, "far"), ...pad(255), label("far"), ret(0)]).insns[0]!.jt, 255);
    asmError(() => assemble([jeq(1, "far"), ...pad(256), label("far"), ret(0)]), /256 instructions long/);
    const viaJa = assemble([
      jeq(1, undefined, "tramp"),
      ret(1),
      label("tramp"),
      ja("far"),
      ...pad(1000),
      label("far"),
      ret(0),
    ]);
    assert.equal(viaJa.insns[2]!.k, 1000);
    assert.equal(run(viaJa, Buffer.alloc(0)).verdict, 0);
  });

  test("at most 4096 instructions", () => {
    const body = (n: number) => [...Array.from({ length: n - 1 }, () => ldi(0)), ret(0)];
    assert.equal(assemble(body(4096)).insns.length, 4096);
    asmError(() => assemble(body(4097)), /4097 instructions/);
  });

  test("applies the kernel's checks", () => {
    asmError(() => assemble([ldi(1)]), /last instruction is not a ret/);
    asmError(() => assemble([alu(BPF_DIV, 0), ret(0)]), /division by constant 0/);
    asmError(() => assemble([alu(BPF_LSH, 32), ret(0)]), /shift by 32/);
    asmError(() => assemble([ldm(3), ret(0)]), /reads scratch slot 3 before any write/);
    asmError(() => assemble([ldb(0), jeq(1, "w"), ldxm(2), label("w"), stx(2), ret(0)]), /scratch slot 2/);
    asmError(() => assemble([st(16), ret(0)]), /scratch slot 16/);
    asmError(() => assemble([ldw(-0x1000 + 4), ret(0)]), /ancillary load \[-4092\]/);
    assert.equal(checkProgram([{ code: 0xffff, jt: 0, jf: 0, k: 0 }]), "insn 0: unknown opcode 0xffff");
    assert.equal(checkProgram([]), "program length 0 is outside 1..4096");
  });
});

describe("bpf test interpreter", () => {
  const pkt = Buffer.from([0x46, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b]);

  test("big-endian loads, X-relative loads and msh", () => {
    assert.equal(run(assemble([ldw(1), reta()]), pkt).verdict, 0x01020304);
    assert.equal(run(assemble([ldh(10), reta()]), pkt).verdict, 0x0a0b);
    assert.equal(run(assemble([ldxmsh(0), txa(), reta()]), pkt).verdict, 24);
    assert.equal(run(assemble([ldxi(8), ldhx(2), reta()]), pkt).verdict, 0x0a0b);
    assert.equal(run(assemble([ldlen(), reta()]), pkt).verdict, 12);
  });

  test("a load past the end of the packet ends the program with 0", () => {
    for (const prog of [
      [ldw(9), ret(1)],
      [ldh(11), ret(1)],
      [ldb(12), ret(1)],
      [ldxi(11), ldhx(0), ret(1)],
      [ldxmsh(12), ret(1)],
    ]) {
      const r = run(assemble(prog), pkt);
      assert.equal(r.verdict, 0);
      assert.match(r.abort ?? "", /beyond 12/);
    }
    assert.equal(run(assemble([ldb(11), ret(1)]), pkt).verdict, 1);
  });

  test("32-bit unsigned arithmetic wraps; division by X = 0 drops", () => {
    const calc = (a: number, ...ops: ReturnType<typeof alu>[]) =>
      run(assemble([ldi(a), ...ops, reta()]), pkt).verdict;
    assert.equal(calc(1, alu(BPF_SUB, 2)), 0xffffffff);
    assert.equal(calc(0xffffffff, alu(BPF_ADD, 2)), 1);
    assert.equal(calc(0x10000, alu(BPF_MUL, 0x10001)), 0x10000);
    assert.equal(calc(7, alu(BPF_MOD, 4)), 3);
    assert.equal(calc(0xf0, alu(BPF_AND, 0x3c), alu(BPF_OR, 1), alu(BPF_XOR, 0xff)), 0xce);
    assert.equal(calc(0x80000000, alu(BPF_RSH, 31)), 1);
    assert.equal(calc(5, neg()), 0xfffffffb);
    assert.equal(run(assemble([ldxi(33), ldi(1), alux(BPF_LSH), reta()]), pkt).verdict, 2);
    assert.equal(run(assemble([ldi(9), alux(BPF_DIV), ret(1)]), pkt).verdict, 0);
    assert.equal(run(assemble([ldi(9), alux(BPF_MOD), ret(1)]), pkt).verdict, 0);
  });

  test("unsigned comparisons, jset, X comparisons, scratch memory, tax", () => {
    const branch = (cond: ReturnType<typeof jeq>, a: number) =>
      run(assemble([ldi(a), cond, ret(1), label("t"), ret(2)]), pkt).verdict;
    assert.equal(branch(jgt(1, "t"), 0xffffffff), 2);
    assert.equal(branch(jge(5, "t"), 5), 2);
    assert.equal(branch(jge(5, "t"), 4), 1);
    assert.equal(branch(jset(0x10, "t"), 0x0f), 1);
    assert.equal(
      run(assemble([ldi(5), tax(), ldi(5), jx(BPF_JEQ, "t"), ret(1), label("t"), ret(2)]), pkt).verdict,
      2,
    );
    assert.equal(
      run(
        assemble([
          ldi(6),
          st(4),
          ldi(0),
          ldxm(4),
          ldm(4),
          jx(BPF_JGT, "t"),
          txa(),
          reta(),
          label("t"),
          ret(9),
        ]),
        pkt,
      ).verdict,
      6,
    );
  });

  test("refuses to run a program the kernel would refuse", () => {
    assert.throws(
      () =>
        run(
          [
            { code: 0x06, jt: 0, jf: 0, k: 0 },
            { code: 0x00, jt: 0, jf: 0, k: 0 },
          ],
          pkt,
        ),
      /kernel would refuse/,
    );
  });

  test("listing names labels, targets and notes", () => {
    const text = listing(
      assemble([ldb(9, "protocol"), jeq(6, undefined, "drop"), ret(1), label("drop"), ret(0)]),
    );
    assert.equal(
      text,
      [
        "  000  ldb   [9]                                         ; protocol",
        "  001  jeq   #6             jt 002  jf drop",
        "  002  ret   #1",
        "drop:",
        "  003  ret   #0",
        "",
      ].join("\n"),
    );
  });
});
