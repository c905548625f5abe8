// From targets to addresses: expansion, resolution per family, and never probing ourselves.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfigText, type TargetConfig } from "../../src/config/load.js";
import { localAddresses, resolveTarget } from "../../src/targets/resolve.js";

const HEAD =
  "global: {probe_name: a, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 1, dns_update_interval: 0}\ngroups: {g: {}}\ntargets:\n";
const target = (body: string): TargetConfig =>
  loadConfigText("t.yaml", `${HEAD}  t: ${body}\n`).targets.get("t")!;

describe("resolveTarget", () => {
  test("a subnet expands; one of our own addresses in it is left out", async () => {
    const r = await resolveTarget(target("{type: ICMPping, destination: 198.18.0.0/30, is_subnet: true}"), {
      ceiling: 100,
      local: new Set(["198.18.0.2"]),
    });
    assert.deepEqual(r, { addresses: ["198.18.0.0", "198.18.0.1", "198.18.0.3"], self: ["198.18.0.2"] });
  });

  test("a single address of this host disables the target", async () => {
    const r = await resolveTarget(target("{type: ICMPping, destination: 'FD18::0:1'}"), {
      ceiling: 1,
      local: new Set(["fd18::1"]),
    });
    assert.deepEqual(r.addresses, []);
    assert.deepEqual(r.self, ["fd18::1"]);
    assert.match(r.error!, /belongs to this host/);
  });

  test("a hostname resolves for the target's family; its first address is probed", async () => {
    const asked: string[] = [];
    const r = await resolveTarget(
      target("{type: ICMPping, destination: Web.Example, address_family: ipv6}"),
      {
        ceiling: 1,
        local: new Set(),
        lookup: async (name, family) => {
          asked.push(`${name}/${family}`);
          return ["fd18::a", "fd18::b"];
        },
      },
    );
    assert.deepEqual(asked, ["web.example/ipv6"]);
    assert.deepEqual(r.addresses, ["fd18::a"]);
  });

  test("resolution failures are reported, not thrown", async () => {
    const t = target("{type: ICMPping, destination: nowhere.example}");
    const failed = await resolveTarget(t, {
      ceiling: 1,
      local: new Set(),
      lookup: async () => Promise.reject(new Error("ENOTFOUND")),
    });
    assert.match(failed.error!, /cannot resolve nowhere\.example \(ipv4\): ENOTFOUND/);
    const empty = await resolveTarget(t, { ceiling: 1, local: new Set(), lookup: async () => [] });
    assert.match(empty.error!, /no ipv4 address/);
  });

  test("the real resolver reads /etc/hosts (localhost), and loopback is one of our addresses", async () => {
    const r = await resolveTarget(target("{type: ICMPping, destination: localhost}"), { ceiling: 1 });
    assert.deepEqual(r.self, ["127.0.0.1"]);
    assert.ok(localAddresses().has("127.0.0.1"));
  });
});
