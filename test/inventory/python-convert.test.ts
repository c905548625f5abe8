// What a Python module assigns to targets[module_name] reaches netprobify as the original read it:
// python_shim.py's conversions (creation_date datetimes, lifetime timedeltas and strings, the
// original's "no expiry" cases, values JSON has no form for) run in a real python3, and their
// output goes through entries.ts as a module's published list does.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { describe, test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import { parseLifetime, validateEntries } from "../../src/inventory/entries.js";
import { PYTHON_SHIM } from "../../src/inventory/python.js";
import { PYTHON } from "../support/python.js";

/** Runs Python code with the shim importable as `shim` (in a fixed time zone); returns its JSON output. */
function python(code: string): unknown {
  const r = spawnSync(PYTHON, ["-B", "-c", `import python_shim as shim\n${code}`], {
    env: { ...process.env, PYTHONPATH: dirname(PYTHON_SHIM), TZ: "Europe/Paris" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The entries of the lists a module published through SharedTargets, given the module's code. */
function published(moduleCode: string): { lists: unknown[]; errors: string[] } {
  return python(`
import datetime, decimal, ipaddress, json, logging
lists, errors = [], []
targets = shim.SharedTargets("cmdb", lambda line: lists.append(json.loads(line)["targets"]))
def attempt(f):
    try:
        f()
    except Exception as err:
        errors.append(type(err).__name__)
${moduleCode}
print(json.dumps({"lists": lists, "errors": errors}))
`) as { lists: unknown[]; errors: string[] };
}

const base = loadConfigText(
  "netprobify.yaml",
  `global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 8000, dns_update_interval: 0}
groups:
  standard: {src_port_a: 65000, src_port_z: 65009}
targets: {}
`,
);

describe("Python inventory entries, converted as the original read them", () => {
  test("creation_date (naive: local time) and a lifetime timedelta expire the entry when the original did", () => {
    const { lists } = published(`
targets["cmdb"] = [
    {"hostname": "a", "destination": "198.18.0.1", "type": "ICMPping",
     "creation_date": datetime.datetime(2026, 11, 25, 10, 0, 0), "lifetime": datetime.timedelta(hours=12)},
    {"hostname": "b", "destination": "198.18.0.2", "type": "ICMPping",
     "creation_date": datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=datetime.timezone.utc),
     "lifetime": datetime.timedelta(days=1, seconds=0.5)},
    {"hostname": "c", "destination": "198.18.0.3", "type": "ICMPping",
     "creation_date": datetime.date(2026, 11, 25), "lifetime": datetime.timedelta(hours=-1)},
]
`);
    const [a, b, c] = lists[0] as Record<string, unknown>[];
    // Paris is UTC+1 in November: the naive 10:00 is 09:00Z.
    assert.equal(a!.creation_date, "2026-11-25T10:00:00+01:00");
    assert.equal(a!.lifetime, "43200s");
    assert.equal(new Date(String(b!.creation_date)).toISOString(), "2026-11-25T09:00:00.000Z");
    assert.equal(b!.lifetime, "86401s", "a fraction of a second keeps the entry alive until it has passed");
    assert.equal(c!.creation_date, "2026-11-25T00:00:00+01:00", "a date: its midnight, local time");
    assert.equal(c!.lifetime, "0s", "a negative lifetime: expired at once, as in the original");
    const at = (iso: string) => validateEntries("cmdb", lists[0], base, new Date(iso));
    assert.deepEqual(at("2026-11-25T20:59:00Z").expired, ["cmdb_c"]);
    assert.deepEqual(at("2026-11-25T21:00:01Z").expired, ["cmdb_a", "cmdb_c"]);
    assert.deepEqual(
      at("2026-11-25T21:00:01Z").targets.map((t) => t.name),
      ["cmdb_b"],
    );
  });

  test('a lifetime string is parsed right: "12h" is 12 hours (the original read 2 hours)', () => {
    const { lists } = published(`
targets["cmdb"] = [{"hostname": "a", "destination": "198.18.0.1", "type": "ICMPping",
                    "creation_date": datetime.datetime(2026, 11, 25, 10, 0, 0), "lifetime": "12h"},
                   {"hostname": "b", "destination": "198.18.0.2", "type": "ICMPping",
                    "creation_date": datetime.datetime(2026, 11, 25, 10, 0, 0), "lifetime": "1d 12h 30m"}]
`);
    const [a, b] = lists[0] as Record<string, unknown>[];
    assert.equal(a!.lifetime, "12h");
    assert.equal(parseLifetime(String(a!.lifetime)), 12 * 3600);
    assert.equal(parseLifetime(String(b!.lifetime)), 36 * 3600 + 1800);
    // 10:00 local is 09:00Z: at 20:00Z, 11 hours later, the 12-hour entry is still in force.
    const r = validateEntries("cmdb", lists[0], base, new Date("2026-11-25T20:00:00Z"));
    assert.deepEqual(r.expired, []);
    assert.deepEqual(validateEntries("cmdb", lists[0], base, new Date("2026-11-25T21:00:01Z")).expired, [
      "cmdb_a",
    ]);
  });

  test("entries the original never expired (no creation_date, no lifetime, a zero lifetime) never expire", () => {
    const { lists } = published(`
now = datetime.datetime(2020, 1, 1)
targets["cmdb"] = [
    {"hostname": "a", "destination": "198.18.0.1", "type": "ICMPping", "lifetime": datetime.timedelta(hours=1)},
    {"hostname": "b", "destination": "198.18.0.2", "type": "ICMPping", "creation_date": now},
    {"hostname": "c", "destination": "198.18.0.3", "type": "ICMPping", "creation_date": now, "lifetime": datetime.timedelta(0)},
    {"hostname": "d", "destination": "198.18.0.4", "type": "ICMPping", "creation_date": None, "lifetime": None},
]
`);
    for (const e of lists[0] as Record<string, unknown>[]) {
      assert.equal("lifetime" in e || "creation_date" in e, false, JSON.stringify(e));
    }
    const r = validateEntries("cmdb", lists[0], base, new Date("2030-01-01T00:00:00Z"));
    assert.deepEqual(r.invalid, []);
    assert.deepEqual(
      r.targets.map((t) => t.name),
      ["cmdb_a", "cmdb_b", "cmdb_c", "cmdb_d"],
    );
  });

  test("hostname, groups and target keys: Python values JSON has no form for are converted; others raise in the module", () => {
    const { lists, errors } = published(`
targets["cmdb"] = [
    {"hostname": ipaddress.ip_address("198.18.0.9"), "type": "TCPsyn", "dst_port": decimal.Decimal(443),
     "nb_packets": 3, "groups": ("standard",), "threshold": {"loss": decimal.Decimal("0.5")}},
    {"hostname": 7, "destination": ipaddress.ip_network("198.18.1.0/30"), "is_subnet": True, "type": "ICMPping",
     "groups": {"standard"}},
]
attempt(lambda: targets.__setitem__("cmdb", [{"hostname": "x", "type": "ICMPping", "owner": object()}]))
attempt(lambda: targets.__setitem__("cmdb", [{"hostname": "x", "type": "ICMPping", "timeout": float("nan")}]))
`);
    assert.deepEqual(errors, ["TypeError", "ValueError"], "unsendable values raise where they are assigned");
    assert.equal(lists.length, 1, "and publish nothing");
    assert.deepEqual(lists[0], [
      {
        hostname: "198.18.0.9",
        type: "TCPsyn",
        dst_port: 443,
        nb_packets: 3,
        groups: ["standard"],
        threshold: { loss: 0.5 },
      },
      {
        hostname: "7",
        destination: "198.18.1.0/30",
        is_subnet: true,
        type: "ICMPping",
        groups: ["standard"],
      },
    ]);
    const r = validateEntries("cmdb", lists[0], base, new Date());
    assert.deepEqual(r.invalid, []);
    assert.deepEqual(
      r.targets.map((t) => [t.name, t.groups.join(",")]),
      [
        ["cmdb_198.18.0.9", "standard"],
        ["cmdb_7", "standard"],
      ],
    );
  });

  test("the targets mapping: only targets[module_name] publishes; reads are copies, as the original's Manager dict gave", () => {
    const { lists } = published(`
logging.disable()
targets["other"] = [{"hostname": "x"}]
targets["cmdb"] = [{"hostname": "a"}]
mine = targets["cmdb"]
mine.append({"hostname": "b"})
targets.get("cmdb").append({"hostname": "c"})
assert targets["cmdb"] == [{"hostname": "a"}]
assert targets.get("nothing", 5) == 5
assert isinstance(targets, dict)
targets.update(cmdb=mine)
targets.setdefault("cmdb", [])
del targets["cmdb"]
targets.setdefault("cmdb", [{"hostname": "d"}])
targets.pop("cmdb")
targets["cmdb"] = None
`);
    assert.deepEqual(lists, [
      [{ hostname: "a" }],
      [{ hostname: "a" }, { hostname: "b" }],
      [],
      [{ hostname: "d" }],
      [],
      [],
    ]);
  });
});
