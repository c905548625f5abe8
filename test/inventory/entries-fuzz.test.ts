// Property test of what a dynamic inventory publishes (src/inventory/entries.ts): lists of entries
// with any key of a target (and the inventory's own: hostname, creation_date, lifetime, groups) set to
// edge values, mixed with arbitrary JSON-like values. validateEntries must never throw, and must
// account for every entry exactly once: a target, an invalid entry (with its messages) or an expired
// one, never silently dropped; the targets it keeps must be plannable as the daemon plans them.
// FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> sizes it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { loadConfigText } from "../../src/config/load.js";
import { targetSchema } from "../../src/config/schema.js";
import { validateEntries } from "../../src/inventory/entries.js";
import { planConfig } from "../support/plan-config.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const MODULE = "cmdb";

const base = loadConfigText(
  "netprobify.yaml",
  `global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 8000, dns_update_interval: 0, max_addresses_per_target: 256}
groups:
  standard: {src_port_a: 65000, src_port_z: 65009}
  voice: {src_port_a: 65100, src_port_z: 65109, permit_target_auto_register: false}
targets:
  static: {type: ICMPping, destination: 198.18.0.1}
`,
);
const now = new Date("2026-11-25T12:00:00Z");

const KEYS = [
  ...Object.keys((targetSchema as unknown as { shape: object }).shape),
  "hostname",
  "creation_date",
  "lifetime",
  "groups",
  "__proto__",
  "constructor",
  "x",
];
const VALUES: unknown[] = [
  "198.18.3.4",
  "198.18.3.4",
  "fd18::4",
  "198.18.3.0/30",
  "198.18.3.1-3",
  "198.18.*.1",
  "tor1.dc1",
  "TOR1.DC1",
  "a b",
  "",
  "é",
  "__proto__",
  "TCPsyn",
  "ICMPping",
  "UDPunreachable",
  "iperf",
  "ipv4",
  "ipv6",
  "1d 3h",
  "90s",
  "2 days",
  "0s",
  "2026-11-25T11:00:00Z",
  "2026-11-20",
  "not a date",
  new Date("2026-11-24"),
  new Date(Number.NaN),
  0,
  -1,
  1,
  443,
  33434,
  65536,
  0.5,
  1e9,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  false,
  null,
  [],
  ["voice"],
  ["standard", "voice"],
  ["nope"],
  [null],
  {},
  { register_to: ["voice"] },
  { latency: 0.001 },
  { toString: 1 },
];

const entry = (maxKeys: number) =>
  fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys });
const HOSTS = ["198.18.3.4", "198.18.3.5", "fd18::4", "198.18.3.0/30", "tor1.dc1", "TOR1.dc1"];
const lists = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom(...HOSTS), entry(2))
        .map(([hostname, e]) => ({ hostname, type: "ICMPping", ...e })),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        hostname: fc.constantFrom(...HOSTS),
        type: fc.constant("TCPsyn"),
        dst_port: fc.constant(443),
        creation_date: fc.constantFrom("2026-11-20", "2026-11-25T11:59:00Z", 1_700_000_000_000),
        lifetime: fc.constantFrom("90s", "1d 3h", "30d"),
      }),
    },
    { weight: 2, arbitrary: entry(8) },
    { weight: 1, arbitrary: fc.anything() },
  ),
  { maxLength: 12 },
);

describe(`inventory entries fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  test(`${RUNS} published lists: never a throw, every entry a target, invalid or expired, exactly once`, async (t) => {
    console.log(`inventory entries fuzz: FUZZ_SEED=${SEED}`);
    const totals = { targets: 0, invalid: 0, expired: 0 };
    await fc.assert(
      fc.asyncProperty(lists, async (list) => {
        const r = validateEntries(MODULE, list, base, now);
        const nameOf = (e: unknown) =>
          e !== null && typeof e === "object" && typeof (e as { hostname?: unknown }).hostname === "string"
            ? `${MODULE}_${(e as { hostname: string }).hostname}`.toLowerCase()
            : undefined;
        const kept = new Set(r.targets.map((x) => x.name));
        const expired = new Map<string, number>();
        for (const n of r.expired) expired.set(n, (expired.get(n) ?? 0) + 1);
        const invalid = new Map<number, number>();
        for (const p of r.invalid) {
          invalid.set(p.index, (invalid.get(p.index) ?? 0) + 1);
          assert.ok(
            p.messages.length > 0 && p.messages.every((m) => m.length > 0),
            "an invalid entry says why",
          );
        }
        // In list order, an entry not reported invalid holds its name: it expired, or it is the target.
        for (const [i, e] of list.entries()) {
          const what = `entry ${i} ${JSON.stringify(e)}: ${JSON.stringify(r.invalid)}`;
          if (invalid.has(i)) {
            assert.equal(invalid.get(i), 1, `reported twice: ${what}`);
            continue;
          }
          const name = nameOf(e);
          assert.ok(name !== undefined, `dropped without a word: ${what}`);
          if ((expired.get(name) ?? 0) > 0) expired.set(name, expired.get(name)! - 1);
          else {
            assert.ok(kept.delete(name), `dropped without a word: ${what}`);
          }
        }
        assert.deepEqual([...kept], [], "targets no entry accounts for");
        assert.equal(r.targets.length + r.invalid.length + r.expired.length, list.length);
        totals.targets += r.targets.length;
        totals.invalid += r.invalid.length;
        totals.expired += r.expired.length;
        // What the daemon then does with them (a plan too large for a test is not built).
        if (r.targets.length > 0)
          await planConfig({ ...base, targets: new Map(r.targets.map((x) => [x.name, x])) });
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(`seed ${SEED}: ${JSON.stringify(totals)}`);
    assert.ok(totals.targets > 0 && totals.invalid > 0 && totals.expired > 0, "every fate reached");
  });
});
