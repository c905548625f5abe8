// Mutated configuration files for the fuzz tests (test/config/fuzz.test.ts through `check`,
// test/daemon/reload-fuzz.test.ts through the daemon's reload): byte flips, line edits, aliases,
// anchors, merge keys, tags, deep nesting, alias bombs, huge repetitions, invalid UTF-8, NUL bytes
// and CRLF, applied to seed files.
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { FIXTURES, REPO } from "./paths.js";

/**
 * The seed files: the valid ones first (the fixtures, among them seed-example.yaml, the original's
 * README example, and the shipped examples/netprobify.yaml), then the invalid fixtures.
 */
export function fuzzSeeds(): { valid: Buffer[]; seeds: Buffer[] } {
  const fixtures = (sub: string): Buffer[] => {
    const d = `${FIXTURES}config/${sub}/`;
    return readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".yaml"))
      .map((e) => readFileSync(d + e.name));
  };
  const valid = [...fixtures("valid"), readFileSync(`${REPO}examples/netprobify.yaml`)];
  return { valid, seeds: [...valid, ...fixtures("invalid")] };
}

export const SNIPPETS = [
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

export type Mutation =
  | { kind: "flip"; at: number; byte: number }
  | { kind: "delete" | "duplicate"; line: number }
  | { kind: "insert"; line: number; indent: number; text: string }
  | { kind: "nest"; line: number; open: string; depth: number }
  | { kind: "repeat"; line: number; times: number }
  | { kind: "bomb"; line: number; levels: number }
  | { kind: "bytes"; at: number; bytes: number[] }
  | { kind: "crlf" | "cr" };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
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

export function apply(input: Buffer, m: Mutation): Buffer {
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

export interface MutatedCase {
  seed: number;
  mutations: Mutation[];
}

/** Cases over `seeds`, half of them from the first `valid` (they reach the deeper checks). */
export function mutatedCases(valid: number, seeds: number): fc.Arbitrary<MutatedCase> {
  return fc.record({
    seed: fc.oneof(fc.nat(valid - 1), fc.integer({ min: valid, max: seeds - 1 })),
    mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
  });
}

/** The file a case stands for. */
export function buildCase(seeds: readonly Buffer[], c: MutatedCase): Buffer {
  return c.mutations.reduce(apply, seeds[c.seed]!);
}
