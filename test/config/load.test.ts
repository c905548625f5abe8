// Loading valid files: the seed example users know, a fixture with every key, and the normalised values.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { loadConfig, loadConfigText } from "../../src/config/load.js";
import { configSchema, unwrap } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { FIXTURES } from "../support/paths.js";

const VALID = `${FIXTURES}config/valid/`;

/** Every key path the schema declares, e.g. "targets.*.explicit_groups.register_to". */
function schemaKeys(s: z.ZodType, prefix: string, out: string[] = []): string[] {
  const u = unwrap(s);
  if (u instanceof z.ZodObject) {
    for (const [k, v] of Object.entries(u.shape as Record<string, z.ZodType>)) {
      out.push(prefix + k);
      schemaKeys(v, `${prefix}${k}.`, out);
    }
  } else if (u instanceof z.ZodRecord) {
    schemaKeys(u.valueType as z.ZodType, `${prefix}*.`, out);
  } else if (u instanceof z.ZodUnion) {
    for (const o of u.options as z.ZodType[]) schemaKeys(o, prefix, out);
  }
  return [...new Set(out)];
}

/** Every key path a parsed file uses, with group and target names folded to "*". */
function dataKeys(v: unknown, path: string[] = [], out = new Set<string>()): Set<string> {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    for (const [k, child] of Object.entries(v)) {
      const named = path.length === 1 && ["groups", "targets", "inventories"].includes(path[0]!);
      const p = [...path, named ? "*" : k];
      if (!named) out.add(p.join("."));
      dataKeys(child, p, out);
    }
  }
  return out;
}

describe("valid configurations", () => {
  test("the seed example from the original README loads unchanged", async () => {
    const c = await loadConfig(`${VALID}seed-example.yaml`);
    assert.equal(c.global.probe_name, "lab");
    assert.equal(c.global.interval, 30);
    assert.deepEqual(c.global.percentile, [95, 50]);
    assert.equal(c.global.timeout, 3600);
    assert.equal(c.global.prometheus_address, "0.0.0.0");
    assert.deepEqual([...c.targets.keys()], ["google_ipv4", "google_ipv6", "bing"]);
    const g6 = c.targets.get("google_ipv6")!;
    assert.equal(g6.address_family, "ipv4", "the README's own typo is kept as written");
    assert.equal(g6.description, "google_search");
    assert.deepEqual(g6.destination, { kind: "hostname", name: "google.com" });
    assert.deepEqual(c.targets.get("bing")!.groups, ["standard"]);
    assert.equal(c.targets.get("bing")!.dont_fragment, true);
    assert.equal(c.groups.get("standard")!.dscp, 0);
    assert.deepEqual(c.warnings, []);
  });

  test("the every-key fixture uses every key of the schema", () => {
    const raw = readFileSync(`${VALID}every-key.yaml`, "utf8");
    const used = dataKeys(parseYaml(raw, { version: "1.1", merge: true }));
    const missing = schemaKeys(configSchema, "").filter((k) => !used.has(k));
    assert.deepEqual(missing, []);
  });

  test("the every-key fixture normalises as documented", async () => {
    const c = await loadConfig(`${VALID}every-key.yaml`);
    assert.equal(c.global.l3_raw_socket, true, "YAML 1.1: yes is true");
    assert.equal(c.global.path_tracing, false);
    assert.equal(c.global.trace_on_loss, "any");
    assert.equal(c.global.path_tracing_budget, 5000);
    assert.equal(c.groups.get("fixed")!.permit_target_auto_register, false, "YAML 1.1: no is false");
    assert.equal(c.groups.get("legacy")!.src_ipv4, "198.18.0.10", "src_ip is read as src_ipv4");
    assert.equal(c.groups.get("ecmp")!.src_subnet_ipv4?.prefix, 28);
    const tor = c.targets.get("tor_switches")!;
    assert.deepEqual(tor.groups, ["standard", "ecmp"]);
    assert.equal(tor.address_count, 256);
    assert.equal(tor.path_metrics, true);
    assert.equal(c.groups.get("ecmp")!.path_metrics, true);
    assert.equal(c.groups.get("standard")!.path_metrics, false, "off by default");
    assert.equal(c.global.path_metrics_max_flows, 32);
    assert.equal(tor.dont_fragment, false);
    assert.deepEqual(tor.threshold, { latency: 0.005, loss: 1 });
    assert.deepEqual(c.targets.get("dc2_mesh")!.groups, ["standard", "legacy", "fixed"]);
    assert.deepEqual(c.targets.get("api")!.groups, ["standard", "ecmp"]);
    assert.equal(c.targets.get("api")!.dns_update_interval, 60);
    const cmdb = c.inventories.get("cmdb")!;
    assert.equal(cmdb.type, "http");
    assert.equal(
      cmdb.type === "http" && cmdb.basic_auth?.password_file,
      `${VALID}cmdb.password`.replace(/\/\//g, "/"),
      "paths are relative to the file",
    );
    const extra = c.inventories.get("extra")!;
    assert.equal(extra.type === "file" && extra.interval, 10, "default interval");
    assert.equal(c.targets.get("spine_range")!.dns_update_interval, 300, "inherits the global value");
    assert.equal(
      c.targets.get("spine_range")!.description,
      "spine_range",
      "description defaults to the name",
    );
    assert.equal(c.targets.get("v6_subnet")!.address_family, "ipv6", "detected from the subnet");
    assert.equal(c.targets.has("throughput"), false, "iperf targets load but are left out");
    assert.deepEqual(
      c.warnings.map((w) => w.rule),
      ["src-ip-deprecated", "iperf-unsupported"],
    );
  });

  test("src_ip_round_robin: false turns the source-subnet round robin off (as in the original)", () => {
    const base =
      "global: {probe_name: a, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 1, dns_update_interval: 0}\ngroups:\n";
    const on = loadConfigText("a.yaml", `${base}  g: {src_subnet_ipv4: 198.18.0.0/28}\n`);
    assert.equal(on.groups.get("g")!.src_subnet_ipv4?.prefix, 28);
    const off = loadConfigText(
      "b.yaml",
      `${base}  g: {src_subnet_ipv4: 198.18.0.0/28, src_ip_round_robin: false}\n`,
    );
    assert.equal(off.groups.get("g")!.src_subnet_ipv4, undefined);
  });

  test("merge keys and anchors work, and positions point into the merged file", () => {
    const text = `global: &g
  probe_name: lab
  interval: 30
  nb_proc: 1
  logging_level: INFO
  prometheus_port: 8000
  dns_update_interval: 0
groups:
  base: &base
    src_port_a: 65000
    src_port_z: 65009
  other:
    <<: *base
    src_port_a: 65010
    src_port_z: 65019
    dscp: 99
`;
    assert.throws(
      () => loadConfigText("m.yaml", text),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.diagnostics.length, 1);
        assert.deepEqual(e.diagnostics[0]!.path, ["groups", "other", "dscp"]);
        assert.deepEqual(e.diagnostics[0]!.pos, { line: 16, col: 11 });
        return true;
      },
    );
  });

  test("an empty groups section disables every target, with one warning each", () => {
    const c = loadConfigText(
      "e.yaml",
      "global: {probe_name: a, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 1, dns_update_interval: 0}\ngroups:\ntargets:\n  t: {type: ICMPping, destination: 198.18.0.1}\n",
    );
    assert.equal(c.targets.get("t")!.enabled, false);
    assert.deepEqual(
      c.warnings.map((w) => [w.rule, w.pos?.line]),
      [["target-without-group", 4]],
    );
  });

  test("a JSON file is accepted (JSON is YAML)", () => {
    const c = loadConfigText(
      "c.json",
      JSON.stringify({
        global: {
          probe_name: "a",
          interval: 1,
          nb_proc: 1,
          logging_level: "INFO",
          prometheus_port: 1,
          dns_update_interval: 0,
        },
        groups: { g: {} },
        targets: { t: { type: "UDPunreachable", destination: "fd18::1", dst_port: 33434 } },
      }),
    );
    assert.equal(c.targets.get("t")!.address_family, "ipv6");
  });
});

test("a key written as a list is refused as an unknown key, and the YAML library prints no warning of its own", async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on("warning", onWarning);
  try {
    const text =
      "global:\n  probe_name: lab\n  interval: 30\n  nb_proc: 1\n  logging_level: INFO\n" +
      "  prometheus_port: 8000\n  dns_update_interval: 300\n  ? [a, b]\n  : 1\ngroups: {}\n";
    assert.throws(
      () => loadConfigText("list-key.yaml", text),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.diagnostics.some((d) => d.rule === "unknown-key" && d.path.join(".") === "global.[ a, b ]"),
    );
    await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
    assert.deepEqual(
      warnings.map((w) => w.message),
      [],
    );
  } finally {
    process.off("warning", onWarning);
  }
});
