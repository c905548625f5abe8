// Inventory entries are validated by the configuration's own rules, against the running groups.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import { parseLifetime, validateEntries } from "../../src/inventory/entries.js";

const base = loadConfigText(
  "netprobify.yaml",
  `global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 8000, dns_update_interval: 0}
groups:
  standard: {src_port_a: 65000, src_port_z: 65009}
  voice: {src_port_a: 65100, src_port_z: 65109, permit_target_auto_register: false}
targets:
  static: {type: ICMPping, destination: 198.18.0.1}
`,
);
const now = new Date("2026-11-25T12:00:00Z");

describe("inventory entries", () => {
  test("lifetimes", () => {
    assert.equal(parseLifetime("1d 3h 2m"), 86400 + 3 * 3600 + 120);
    assert.equal(parseLifetime("90s"), 90);
    assert.equal(parseLifetime("2 days"), undefined);
    assert.equal(parseLifetime(""), undefined);
  });

  test("valid entries become targets named <module>_<hostname>, described from_<module>", () => {
    const r = validateEntries(
      "cmdb",
      [
        { hostname: "tor1.dc1", type: "UDPunreachable", dst_port: 33434, nb_packets: 5 },
        { hostname: "198.18.3.4", type: "TCPsyn", dst_port: 443, groups: ["voice"] },
      ],
      base,
      now,
    );
    assert.deepEqual(r.invalid, []);
    assert.deepEqual(
      r.targets.map((t) => [t.name, t.description, t.destination.kind, t.groups.join(",")]),
      [
        ["cmdb_tor1.dc1", "from_cmdb", "hostname", "standard"],
        ["cmdb_198.18.3.4", "from_cmdb", "ip", "voice"],
      ],
    );
  });

  test("invalid entries are skipped with the loader's messages; valid ones are kept", () => {
    const r = validateEntries(
      "cmdb",
      [
        { hostname: "ok", type: "ICMPping" },
        { hostname: "noport", type: "TCPsyn" },
        { hostname: "badtype", type: "SYN" },
        { type: "ICMPping" },
        "not a map",
        { hostname: "ok", type: "ICMPping" },
      ],
      base,
      now,
    );
    assert.deepEqual(
      r.targets.map((t) => t.name),
      ["cmdb_ok"],
    );
    const byIndex = Object.fromEntries(r.invalid.map((p) => [p.index, p.messages.join(" | ")]));
    assert.match(byIndex[1]!, /targets\.cmdb_noport\.dst_port: required for type TCPsyn/);
    assert.match(byIndex[2]!, /targets\.cmdb_badtype\.type: expected one of/);
    assert.match(byIndex[3]!, /hostname: required/);
    assert.match(byIndex[4]!, /expected a map/);
    assert.match(byIndex[5]!, /duplicate target name cmdb_ok/);
  });

  test("expired entries are dropped; a bad lifetime is an invalid entry", () => {
    const r = validateEntries(
      "api",
      [
        { hostname: "old", type: "ICMPping", creation_date: "2026-11-20T00:00:00Z", lifetime: "1d" },
        { hostname: "fresh", type: "ICMPping", creation_date: "2026-11-25T11:00:00Z", lifetime: "1d 3h 2m" },
        { hostname: "weird", type: "ICMPping", creation_date: "2026-11-25T11:00:00Z", lifetime: "forever" },
      ],
      base,
      now,
    );
    assert.deepEqual(r.expired, ["api_old"]);
    assert.deepEqual(
      r.targets.map((t) => t.name),
      ["api_fresh"],
    );
    assert.equal(r.invalid[0]!.name, "api_weird");
  });

  test("not a list", () => {
    assert.deepEqual(validateEntries("x", { a: 1 }, base, now).invalid[0]!.messages, [
      "expected a list of targets",
    ]);
  });

  test("hostile values are reported with their entry, never thrown, never dropped silently", () => {
    // As JSON from a module or a CMDB: a map whose toString is not a function (String() throws).
    const r = validateEntries(
      "cmdb",
      JSON.parse(
        '[{"hostname": "198.18.3.1", "type": "ICMPping", "lifetime": "1d", "creation_date": {"toString": 1}}, {"hostname": "198.18.3.2", "type": "iperf", "dst_port": 5201}, {"hostname": "198.18.3.3", "type": "ICMPping", "alert_level": null}, {"hostname": "198.18.3.4", "type": "ICMPping"}]',
      ),
      base,
      now,
    );
    assert.deepEqual(
      r.targets.map((t) => t.name),
      ["cmdb_198.18.3.3", "cmdb_198.18.3.4"],
    );
    assert.deepEqual(
      r.invalid.map((p) => [p.index, p.name]),
      [
        [0, "cmdb_198.18.3.1"],
        [1, "cmdb_198.18.3.2"],
      ],
    );
    assert.match(r.invalid[0]!.messages[0]!, /creation_date: expected a date, got \{"toString":1\}/);
    assert.match(r.invalid[1]!.messages[0]!, /iperf targets are not measured/);
    // An invalid Date (data only: YAML never makes one) is described, not an internal error.
    const d = validateEntries(
      "cmdb",
      [{ hostname: "198.18.3.5", type: "ICMPping", state: new Date(Number.NaN) }],
      base,
      now,
    );
    assert.match(d.invalid[0]!.messages.join(), /state: expected one of .*, got an invalid date/);
  });
});
