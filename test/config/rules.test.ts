// Each rule beyond types is named and proven here: a minimal file that triggers it (and nothing else
// that refuses the file), and the rule table must cover every rule in RULES.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import { RULES } from "../../src/config/rules.js";
import { ConfigError, type Diagnostic } from "../../src/errors.js";

const GLOBAL = `global:
  probe_name: lab
  interval: 30
  nb_proc: 1
  logging_level: INFO
  prometheus_port: 8000
  dns_update_interval: 0
`;

function diagnostics(text: string): Diagnostic[] {
  try {
    return loadConfigText("r.yaml", GLOBAL + text).warnings;
  } catch (e) {
    if (e instanceof ConfigError) return e.diagnostics;
    throw e;
  }
}

const g = (body = "{}") => `groups:\n  g: ${body}\n`;
const t = (body: string) => `targets:\n  t: ${body}\n`;

/** rule name -> [file body that triggers it, expected path, words the message must contain] */
const CASES: Record<string, [string, string, string][]> = {
  "shard-index": [[`  shard: {index: 2, count: 2}\n${g()}`, "global.shard.index", "0..1"]],
  "inventory-credentials": [
    [
      `${g()}inventories:\n  c: {type: http, url: "http://x", bearer_token: a, bearer_token_file: b}\n`,
      "inventories.c.bearer_token_file",
      "not both",
    ],
    [
      `${g()}inventories:\n  c: {type: http, url: "http://x", bearer_token: a, basic_auth: {username: u, password: p}}\n`,
      "inventories.c.basic_auth",
      "not both",
    ],
    [
      `${g()}inventories:\n  c: {type: http, url: "http://x", basic_auth: {username: u}}\n`,
      "inventories.c.basic_auth",
      "required",
    ],
  ],
  "inventory-timeout": [
    [
      `${g()}inventories:\n  c: {type: http, url: "http://x", interval: 5, timeout: 9}\n`,
      "inventories.c.timeout",
      "longer",
    ],
  ],
  "src-ip-deprecated": [[g("{src_ip: 198.18.0.1}"), "groups.g.src_ip", "deprecated"]],
  "src-ip-conflict": [
    [g("{src_ip: 198.18.0.1, src_ipv4: 198.18.0.2}"), "groups.g.src_ip", "src_ipv4 (198.18.0.2) is used"],
  ],
  "src-address-invalid": [[g("{src_ipv6: not-an-ip}"), "groups.g.src_ipv6", "ignored"]],
  "src-address-family": [
    [g("{src_ipv6: 198.18.0.1}"), "groups.g.src_ipv6", "not an IPv6 one: ignored"],
    [g("{src_ipv4: 'fd18::1'}"), "groups.g.src_ipv4", "not an IPv4 one: ignored"],
  ],
  "src-subnet-family": [[g("{src_subnet_ipv4: 'fd18::/120'}"), "groups.g.src_subnet_ipv4", "IPv4 subnet"]],
  "src-subnet-invalid": [[g("{src_subnet_ipv6: 'fd18::'}"), "groups.g.src_subnet_ipv6", "missing /prefix"]],
  "subnet-host-bits": [
    [g("{src_subnet_ipv4: 198.18.0.5/28}"), "groups.g.src_subnet_ipv4", "198.18.0.0/28"],
    [
      g() + t("{type: ICMPping, destination: 198.18.0.5/30, is_subnet: true}"),
      "targets.t.destination",
      "198.18.0.4/30",
    ],
  ],
  "src-port-partial": [
    [g("{src_port_a: 64000}"), "groups.g.src_port_a", "src_port_z is not set: 65001"],
    [g("{src_port_z: 64000}"), "groups.g.src_port_z", "ports are 64002..65000"],
  ],
  "src-port-range": [[g("{src_port_a: 2, src_port_z: 1}"), "groups.g.src_port_a", "empty range"]],
  "src-port-reversed": [
    [g("{src_port_a: 20, src_port_z: 10}"), "groups.g.src_port_a", "12..20, starting at 20"],
  ],
  "src-port-overlap": [
    [
      `groups:\n  a: {src_port_a: 100, src_port_z: 200}\n  b: {src_port_a: 200, src_port_z: 300}\n`,
      "groups.b",
      'group "a"',
    ],
  ],
  "destination-syntax": [
    [g() + t("{type: ICMPping, destination: 'a b'}"), "targets.t.destination", "hostname"],
  ],
  "plan-ceiling": [
    [
      g() + t("{type: ICMPping, destination: 198.18.0.0/24, is_subnet: true, nb_packets: 100000000}"),
      "targets.t.nb_packets",
      "25,600,000,000 probes",
    ],
    [
      `  max_probes_per_iteration: 10\n${g()}${t("{type: ICMPping, destination: 198.18.0.0/28, is_subnet: true}")}`,
      "targets.t.destination",
      "more than the ceiling of 10",
    ],
  ],
  "destination-too-large": [
    [
      g() + t("{type: ICMPping, destination: 198.18.0.0/15, is_subnet: true}"),
      "targets.t.destination",
      "131072",
    ],
  ],
  "disabled-too-large": [
    [
      g("{permit_target_auto_register: false}") +
        t("{type: ICMPping, destination: 'fd18::/16', is_subnet: true}"),
      "targets.t.destination",
      "not probed",
    ],
  ],
  "address-family-mismatch": [
    [
      g() + t("{type: ICMPping, destination: 198.18.0.1, address_family: ipv6}"),
      "targets.t.address_family",
      "never probed",
    ],
  ],
  "address-family-subnet-mismatch": [
    [
      g() + t("{type: ICMPping, destination: 198.18.0.0/30, is_subnet: true, address_family: ipv6}"),
      "targets.t.address_family",
      "ipv4",
    ],
  ],
  "is-subnet-implied": [
    [g() + t("{type: ICMPping, destination: 198.18.0.1-2}"), "targets.t.destination", "is_subnet: true"],
  ],
  "dst-port-required": [
    [g() + t("{type: UDPunreachable, destination: 198.18.0.1}"), "targets.t.dst_port", "UDPunreachable"],
  ],
  "dst-port-ignored": [
    [g() + t("{type: ICMPping, destination: 198.18.0.1, dst_port: 1}"), "targets.t.dst_port", "ignored"],
  ],
  "ip-payload-size-raised": [
    [
      g() + t("{type: UDPunreachable, destination: 198.18.0.1, dst_port: 9, ip_payload_size: 7}"),
      "targets.t.ip_payload_size",
      "raised to 8",
    ],
    [
      g("{ip_payload_size: 12}") + t("{type: TCPsyn, destination: 198.18.0.1, dst_port: 9}"),
      "groups.g.ip_payload_size",
      'raised to 20 for target "t"',
    ],
  ],
  "ip-payload-size": [
    [
      g() + t("{type: UDPunreachable, destination: 198.18.0.1, dst_port: 9, ip_payload_size: 65516}"),
      "targets.t.ip_payload_size",
      "at most 65515",
    ],
    [
      g("{ip_payload_size: 65516}") + t("{type: TCPsyn, destination: 198.18.0.1, dst_port: 9}"),
      "groups.g.ip_payload_size",
      'target "t"',
    ],
  ],
  "threshold-negative": [
    [
      g() + t("{type: ICMPping, destination: 198.18.0.1, threshold: {loss: -1}}"),
      "targets.t.threshold.loss",
      "exported as it is",
    ],
  ],
  "udp-ipv6-tag": [
    [
      g() + t("{type: UDPunreachable, destination: 'fd18::1', dst_port: 9, ip_payload_size: 8}"),
      "targets.t.ip_payload_size",
      "raised to 12",
    ],
  ],
  "iperf-unsupported": [
    [g() + t("{type: iperf, destination: 198.18.0.1}"), "targets.t.type", "not measured"],
  ],
  "unknown-group": [
    [
      g() + t("{type: ICMPping, destination: 198.18.0.1, explicit_groups: {register_to: [nope]}}"),
      "targets.t.explicit_groups.register_to[0]",
      '"nope"',
    ],
  ],
  "target-without-group": [
    [
      g("{permit_target_auto_register: false}") + t("{type: ICMPping, destination: 198.18.0.1}"),
      "targets.t",
      "disabled",
    ],
  ],
};

describe("rules beyond types", () => {
  test("every rule has cases here", () => {
    assert.deepEqual(
      RULES.map((r) => r.name).filter((n) => !(n in CASES)),
      [],
    );
  });

  for (const rule of RULES) {
    for (const [body, path, words] of CASES[rule.name] ?? []) {
      test(`${rule.name} (${rule.severity}): ${path}`, () => {
        const d = diagnostics(body);
        const hits = d.filter((x) => x.rule === rule.name);
        assert.equal(hits.length, 1, `expected one ${rule.name} finding, got ${JSON.stringify(d, null, 1)}`);
        const hit = hits[0]!;
        assert.equal(hit.severity, rule.severity);
        assert.equal(
          hit.path
            .map((s) => (typeof s === "number" ? `[${s}]` : s))
            .join(".")
            .replace(".[", "["),
          path,
        );
        assert.ok(hit.message.includes(words), `"${hit.message}" should mention ${words}`);
        assert.ok(hit.pos && hit.pos.line > 7, "points at a line of the file");
      });
    }
  }

  test("warnings never refuse a file; errors always do", () => {
    for (const rule of RULES) {
      const [body] = CASES[rule.name]![0]!;
      let refused = false;
      try {
        loadConfigText("r.yaml", GLOBAL + body);
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        refused = true;
      }
      assert.equal(refused, rule.severity === "error", rule.name);
    }
  });

  test("ip-payload-size: an IPv6 packet may carry 65535 payload bytes, an IPv4 one 65515", () => {
    const v6 = diagnostics(g("{ip_payload_size: 65535}") + t("{type: ICMPping, destination: 'fd18::1'}"));
    assert.deepEqual(v6, []);
    const v4 = diagnostics(g("{ip_payload_size: 65516}") + t("{type: ICMPping, destination: 198.18.0.1}"));
    assert.deepEqual(
      v4.map((x) => x.rule),
      ["ip-payload-size"],
    );
  });

  test("a target that failed the schema does not hide the problems of the others", () => {
    const d = diagnostics(
      g() +
        "targets:\n  a: {type: Nope, destination: 198.18.0.1}\n  b: {type: TCPsyn, destination: 198.18.0.1}\n",
    );
    assert.deepEqual(
      d.map((x) => x.rule),
      ["schema", "dst-port-required"],
    );
  });
});
