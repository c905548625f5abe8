// Fuzzing `netprobify check` with mutated configurations: every fixture (valid and invalid) is a
// seed; mutations flip bytes, delete or duplicate lines, insert aliases, anchors, merge keys, tags
// (`!!python/object`), deep nesting, huge repetitions, invalid UTF-8, NUL bytes and CRLF. Each case
// must end in exit 0, or 65 with `file:line:col` on the refusal, never a stack trace, another code,
// an "internal error" diagnostic or a long run. Thousands of cases go in-process through main() (the
// function bin/netprobify.js runs), a few dozen through the real command. The seed is printed;
// FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> changes its size.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { main } from "../../src/cli/main.js";
import { BIN, FIXTURES } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
/**
 * Far above a real check (a few ms; 3-6 s for a 3 MB file with 37,000 errors on a loaded machine); a
 * case that expands or recurses without bound takes far longer.
 */
const CASE_MS = 15_000;
/** Where the last failing case is copied. */
const FAILED = join(tmpdir(), "netprobify-fuzz-failure.yaml");

const fixtures = (sub: string): Buffer[] => {
  const d = `${FIXTURES}config/${sub}/`;
  return readdirSync(d, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".yaml"))
    .map((e) => readFileSync(d + e.name));
};
const valid = fixtures("valid");
const invalid = fixtures("invalid");
/** The valid files first: half of the cases start from one (they reach the deeper checks). */
const seeds = [...valid, ...invalid];

const SNIPPETS = [
  "&a ",
  "*a",
  "*nope",
  "<<: *a",
  "<<: 5",
  "<<: [1, *a]",
  "x: &a {src_port_a: 1}",
  "x: &a [*a]",
  "!!python/object:netprobify.Target {}",
  "!!python/object/apply:os.system ['true']",
  "!!binary AAAA",
  "!!set {a, b}",
  "!!omap [a: 1]",
  "!!timestamp 2001-12-14",
  "!<tag:yaml.org,2002:str> x",
  "? [a, b]\n: c",
  "---",
  "...",
  "%YAML 1.1\n---",
  "\t",
  "\0",
  "\uFEFF",
  '"unterminated',
  "'single ''quoted'' \\",
  "|\n  block",
  ">-\n folded",
  "a: b: c",
  "- - - -",
  "{a: [b, {c: [d]}]}",
  "nb_packets: 100000000",
  "interval: 99999999999",
  "timeout: .inf",
  "timeout: .nan",
  "destination: ::/0",
  "destination: 0.0.0.0/0",
  "is_subnet: true",
  "dst_port: -1",
  "x: 1e400",
  "x: 0x7fffffffffffffffff",
];

type Mutation =
  | { kind: "flip"; at: number; byte: number }
  | { kind: "delete" | "duplicate"; line: number }
  | { kind: "insert"; line: number; indent: number; text: string }
  | { kind: "nest"; line: number; open: string; depth: number }
  | { kind: "repeat"; line: number; times: number }
  | { kind: "bomb"; line: number; levels: number }
  | { kind: "bytes"; at: number; bytes: number[] }
  | { kind: "crlf" | "cr" };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), byte: fc.nat(255) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom("delete" as const, "duplicate" as const), line: fc.nat() }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("insert" as const),
      line: fc.nat(),
      indent: fc.nat(8),
      text: fc.oneof(fc.constantFrom(...SNIPPETS), fc.string({ maxLength: 12 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("nest" as const),
      line: fc.nat(),
      open: fc.constantFrom("[", "{a: ", "- ", "? "),
      depth: fc.oneof(fc.integer({ min: 1, max: 150 }), fc.integer({ min: 150, max: 20_000 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("repeat" as const),
      line: fc.nat(),
      times: fc.oneof(fc.integer({ min: 2, max: 100 }), fc.integer({ min: 100, max: 2_000 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("bomb" as const),
      line: fc.nat(),
      levels: fc.integer({ min: 2, max: 12 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("bytes" as const),
      at: fc.nat(),
      bytes: fc.array(fc.constantFrom(0x00, 0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x1b, 0x7f, 0x85), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom({ kind: "crlf" as const }, { kind: "cr" as const }) },
);

function bombText(levels: number): string {
  const lines = ["b0: &b0 [x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < levels; i++)
    lines.push(
      `b${i}: &b${i} [${Array(9)
        .fill(`*b${i - 1}`)
        .join(", ")}]`,
    );
  return lines.join("\n");
}

function apply(input: Buffer, m: Mutation): Buffer {
  if (m.kind === "flip") {
    if (input.length === 0) return input;
    const out = Buffer.from(input);
    out[m.at % out.length] = m.byte;
    return out;
  }
  if (m.kind === "bytes") {
    const at = input.length === 0 ? 0 : m.at % input.length;
    return Buffer.concat([input.subarray(0, at), Buffer.from(m.bytes), input.subarray(at)]);
  }
  const text = input.toString("latin1"); // byte-preserving: line edits keep invalid UTF-8 as it was
  if (m.kind === "crlf" || m.kind === "cr")
    return Buffer.from(text.replace(/\n/g, m.kind === "crlf" ? "\r\n" : "\r"), "latin1");
  return editLines(text, m);
}

function editLines(text: string, m: Mutation): Buffer {
  const lines = text.split("\n");
  const i = (m as { line: number }).line % (lines.length + 1);
  const here = lines[Math.min(i, lines.length - 1)] ?? "";
  const indentOf = (l: string) => " ".repeat(l.length - l.trimStart().length);
  let insert: string[];
  switch (m.kind) {
    case "delete":
      lines.splice(i, 1);
      return Buffer.from(lines.join("\n"), "latin1");
    case "duplicate":
      insert = [here];
      break;
    case "insert":
      insert = [" ".repeat(m.indent) + Buffer.from(m.text, "utf8").toString("latin1")];
      break;
    case "nest":
      insert = [`${indentOf(here)}x: ${m.open.repeat(m.depth)}`];
      break;
    case "repeat": // up to 30 kB more: the huge documents have their own test below
      insert = Array(Math.min(m.times, Math.ceil(3e4 / (here.length + 1)))).fill(here);
      break;
    case "bomb":
      insert = [bombText(m.levels)];
      break;
    default:
      return Buffer.from(text, "latin1");
  }
  lines.splice(i, 0, ...insert);
  return Buffer.from(lines.join("\n"), "latin1");
}

const cases = fc.record({
  seed: fc.oneof(fc.nat(valid.length - 1), fc.integer({ min: valid.length, max: seeds.length - 1 })),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
});

function build(c: { seed: number; mutations: Mutation[] }): Buffer {
  return c.mutations.reduce(apply, seeds[c.seed]!);
}

/** What a case must satisfy, whichever way `check` was run. */
function assertOutcome(file: string, code: number | null, err: string, ms: number): void {
  const lines = err.split("\n");
  assert.ok(code === 0 || code === 65, `exit ${code}:\n${err.slice(0, 2000)}`);
  assert.doesNotMatch(
    err,
    /internal error|^\s+at .+:\d+:\d+\)?$/m,
    `a stack trace or an internal error:\n${err.slice(0, 2000)}`,
  );
  if (code === 65) {
    const at = `${file}:`;
    assert.ok(
      lines.some((l) => l.startsWith(at) && /^:\d+:\d+ /.test(l.slice(file.length))),
      `refused without file:line:col:\n${err.slice(0, 2000)}`,
    );
    assert.match(err, /configuration refused \[NPF_CONFIG_INVALID\]\n$/);
  }
  assert.ok(ms < CASE_MS, `took ${Math.round(ms)} ms`);
}

describe(`config fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  test(`${RUNS} mutated configurations through check, in-process`, async (t) => {
    t.diagnostic(`seed ${SEED}, ${RUNS} runs, ${seeds.length} seed files`);
    console.log(`config fuzz: FUZZ_SEED=${SEED}`);
    const file = join(dir, "case.yaml");
    const codes = new Map<number, number>();
    let slowest = 0;
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        writeFileSync(file, build(c));
        let err = "";
        const t0 = performance.now();
        const code = await main(["check", file], {
          out: () => {},
          err: (l) => {
            err += `${l}\n`;
          },
        });
        try {
          const ms = performance.now() - t0;
          slowest = Math.max(slowest, ms);
          assertOutcome(file, code, err, ms);
        } catch (e) {
          copyFileSync(file, FAILED); // kept for a look: the temporary directory goes
          throw e;
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(
      `exit codes: ${JSON.stringify(Object.fromEntries(codes))}, slowest case ${Math.round(slowest)} ms`,
    );
    assert.ok((codes.get(0) ?? 0) > 0 && (codes.get(65) ?? 0) > 0, "both valid and refused cases");
  });

  test("huge documents: 5,000 targets, valid, with a bad indentation, with an unknown key at the end", async () => {
    const lines = [
      "global: {probe_name: p, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9000, dns_update_interval: 0}",
      "groups: {g: {}}",
      "targets:",
    ];
    for (let i = 0; i < 5_000; i++)
      lines.push(
        `  t${i}:`,
        "    type: TCPsyn",
        `    destination: 198.18.${i >> 8}.${i & 255}`,
        "    dst_port: 443",
        "    nb_packets: 10",
      );
    const variants: [string, string[]][] = [
      ["valid", lines],
      ["bad indentation", lines.map((l, i) => (i === 300 ? ` ${l.trimStart()}` : l))],
      ["unknown key", [...lines, "    dst_prot: 80"]],
    ];
    for (const [what, text] of variants) {
      const file = join(dir, "huge.yaml");
      writeFileSync(file, `${text.join("\n")}\n`);
      let err = "";
      const t0 = performance.now();
      const code = await main(["check", file], { out: () => {}, err: (l) => (err += `${l}\n`) });
      assertOutcome(file, code, err, performance.now() - t0);
      assert.equal(code, what === "valid" ? 0 : 65, `${what}: ${err.slice(0, 500)}`);
    }
  });

  test("a few dozen through the real netprobify check", async (t) => {
    const samples = fc.sample(cases, { seed: SEED + 1, numRuns: 24 });
    for (const [k, c] of samples.entries()) {
      const file = join(dir, `sub-${k}.yaml`);
      writeFileSync(file, build(c));
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [BIN, "check", file], {
        encoding: "utf8",
        timeout: 30_000,
        maxBuffer: 1 << 28, // 20,000 duplicated lines are 20,000 diagnostics
      });
      // A process start costs ~0.3 s (more on a loaded machine): the bound is the spawn timeout.
      assertOutcome(file, r.status, r.stderr, 0);
      t.diagnostic(`case ${k}: exit ${r.status}, ${Math.round(performance.now() - t0)} ms`);
    }
  });
});
