// Configurations built key by key for the fuzz tests: a valid file (the fixtures, the shipped
// example) parsed to data, then edited as an operator might get it wrong: any key of the schema (or an
// unknown one) set to a value from a pool of edge values (bounds, off-by-ones, NaN, ±Infinity, odd
// addresses, CIDRs, ranges, wildcards, names of missing groups, wrong types), keys and entries
// deleted, targets and groups copied under odd names. Written back as YAML, so most cases parse and
// reach the schema, the cross-key rules and, when accepted, the plan.
import fc from "fast-check";
import { parse, stringify } from "yaml";
import {
  fileInventorySchema,
  globalSchema,
  groupSchema,
  httpInventorySchema,
  targetSchema,
} from "../../src/config/schema.js";

type Section = "global" | "groups" | "targets" | "inventories";

const keysOf = (schema: unknown): string[] => Object.keys((schema as { shape: object }).shape);
const KEYS: Record<Section, string[]> = {
  global: keysOf(globalSchema),
  groups: keysOf(groupSchema),
  targets: keysOf(targetSchema),
  inventories: [...new Set([...keysOf(fileInventorySchema), ...keysOf(httpInventorySchema)])],
};

const NUMBERS = [
  0,
  -0,
  -1,
  1,
  2,
  0.001,
  0.5,
  7,
  30,
  63,
  64,
  100,
  101,
  255,
  256,
  1023,
  1024,
  1480,
  1500,
  9000,
  65099,
  65100,
  65199,
  65535,
  65536,
  2_147_483,
  2_147_484,
  1e9,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  1e308,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
];
const STRINGS = [
  "",
  " ",
  "x",
  "TCPsyn",
  "ICMPping",
  "UDPunreachable",
  "iperf",
  "tcpsyn",
  "ipv4",
  "ipv6",
  "file",
  "http",
  "198.18.1.1",
  "198.18.1.0/24",
  "198.18.1.0/31",
  "198.18.1.1/32",
  "198.18.0.0/15",
  "0.0.0.0/0",
  "fd18::1",
  "fd18::/120",
  "fd18::/64",
  "fd18::/127",
  "::/0",
  "::",
  "0.0.0.0",
  "127.0.0.1",
  "::1",
  "255.255.255.255",
  "198.18.1.1-3",
  "198.18.1.5-2",
  "198.18.1.1-198.18.2.1",
  "198.18.*.1",
  "198.18.*.*",
  "*.*.*.*",
  "198.18.1.256",
  "1.2.3.4.5",
  "198.18.1.0/33",
  "fd18::/129",
  "fe80::1%lo",
  "[fd18::1]",
  "198.18.1.1 ",
  "host.example",
  "fail.example",
  "in production",
  "validation",
  "paging",
  "INFO",
  "DEBUG",
  "any",
  "standard",
  "voice",
  "legacy",
  "ecmp",
  "nope",
  "a".repeat(300),
  "é",
  "\u0000",
  "http://198.18.1.1:1/x",
  "ftp://x",
  "inventories",
  "/nonexistent/x",
  "..",
  "1e3",
  "0x10",
  "yes",
  "null",
];
const OTHERS: unknown[] = [
  true,
  false,
  null,
  [],
  {},
  [99],
  [0, 100],
  [50, 50],
  [101],
  [-1],
  ["standard"],
  ["nope"],
  [null],
  [0.001, 0.01],
  [0.01, 0.001],
  [0, 0],
  { index: 0, count: 1 },
  { index: 2, count: 2 },
  { index: 0, count: 0 },
  { index: -1, count: 3 },
  { register_to: ["standard"] },
  { exclude_from: ["standard"] },
  { register_to: ["nope"], exclude_from: ["standard"] },
  { latency: 0.001, loss: 1 },
  { loss: -1 },
  { latency: Number.NaN },
  { username: "u", password: "p" },
  { username: "u" },
  { "X-A": "b" },
  { duration: 10, protocol: "tcp" },
];
const NAMES = ["standard", "voice", "a", "t0", "x.y-z_1", "UPPER", "a b", "", "0", "é", "nope", "__proto__"];

export type Edit =
  | { op: "set"; section: Section; entry: number; key: number; value: unknown; typed: number }
  | { op: "delete"; section: Section; entry: number; key: number }
  | { op: "copy"; section: "groups" | "targets"; entry: number; name: string }
  | { op: "drop"; section: "groups" | "targets" | "inventories"; entry: number }
  | { op: "section"; section: Section; value: unknown };

const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NUMBERS) },
  { weight: 4, arbitrary: fc.constantFrom(...STRINGS) },
  { weight: 2, arbitrary: fc.constantFrom(...OTHERS) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 8 })) },
);
const section = fc.constantFrom<Section>("global", "groups", "targets", "targets", "targets", "inventories");
const edit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("set" as const),
      section,
      entry: fc.nat(),
      key: fc.nat(),
      value,
      // half the time a value of the type already there (reaches the rules past the schema)
      typed: fc.oneof(fc.constant(-1), fc.nat()),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("delete" as const), section, entry: fc.nat(), key: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("copy" as const),
      section: fc.constantFrom("groups" as const, "targets" as const),
      entry: fc.nat(),
      name: fc.constantFrom(...NAMES),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("drop" as const),
      section: fc.constantFrom("groups" as const, "targets" as const, "inventories" as const),
      entry: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("section" as const), section, value }) },
);

type Doc = Record<string, unknown>;
const isMap = (v: unknown): v is Doc => v !== null && typeof v === "object" && !Array.isArray(v);

/** The map an edit works on: global itself, or the entry-th group / target / inventory. */
function place(doc: Doc, s: Section, entry: number): Doc | undefined {
  const sec = doc[s];
  if (!isMap(sec)) return undefined;
  if (s === "global") return sec;
  const names = Object.keys(sec);
  if (names.length === 0) return undefined;
  const v = sec[names[entry % names.length]!];
  return isMap(v) ? v : undefined;
}

export function applyEdit(doc: Doc, e: Edit): void {
  if (e.op === "section") {
    doc[e.section] = e.value;
    return;
  }
  if (e.op === "copy" || e.op === "drop") {
    const sec = doc[e.section];
    if (!isMap(sec)) return;
    const names = Object.keys(sec);
    if (names.length === 0) return;
    const from = names[e.entry % names.length]!;
    if (e.op === "drop") delete sec[from];
    else
      Object.defineProperty(sec, e.name, {
        value: structuredClone(sec[from]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return;
  }
  const at = place(doc, e.section, e.entry);
  if (!at) return;
  if (e.op === "delete") {
    const keys = Object.keys(at);
    if (keys.length > 0) delete at[keys[e.key % keys.length]!];
    return;
  }
  const keys = [...KEYS[e.section], "timout", "dst_prot"]; // and two typos
  const key = keys[e.key % keys.length]!;
  const now = at[key];
  const same =
    typeof now === "number"
      ? NUMBERS
      : typeof now === "string"
        ? STRINGS
        : typeof now === "boolean"
          ? [true, false]
          : undefined;
  at[key] = structuredClone(e.typed >= 0 && same ? same[e.typed % same.length] : e.value);
}

export interface StructuredCase {
  base: number;
  edits: Edit[];
}

/** Cases over `bases` (valid files): 1 to `most` edits each. */
export function structuredCases(bases: number, most = 6): fc.Arbitrary<StructuredCase> {
  return fc.record({ base: fc.nat(bases - 1), edits: fc.array(edit, { minLength: 1, maxLength: most }) });
}

/** The YAML text of a case. */
export function buildStructured(bases: readonly Buffer[], c: StructuredCase): string {
  const doc = parse(bases[c.base]!.toString("utf8"), { merge: true }) as Doc;
  for (const e of c.edits) applyEdit(doc, e);
  return stringify(doc, { aliasDuplicateObjects: false });
}
