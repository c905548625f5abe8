// app_host_resolution_status and app_host_resolution_change_total as the original exported them, for
// every target (IP literals, subnets, ranges, this host's own address: status 1), counting the first
// successful resolution as one change and after it only real address changes: never a reload.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { config, type Exposition, find, parseExposition, value } from "./exposition.js";

async function scrape(m: Metrics): Promise<Exposition> {
  return parseExposition(await m.metricsText());
}

const BODY = `groups:
  g1: {}
targets:
  name:
    type: TCPsyn
    destination: moving.example
    dst_port: 443
  literal:
    type: ICMPping
    destination: 198.18.0.10
  subnet:
    type: ICMPping
    destination: 198.18.2.0/30
    is_subnet: true
  off:
    type: ICMPping
    destination: 198.18.0.30
    auto_register_to_groups: false
`;

const status = (e: Exposition, destination: string) =>
  value(e, "app_host_resolution_status", { destination });
const changes = (e: Exposition, destination: string) =>
  value(e, "app_host_resolution_change_total", { destination });

describe("host resolution series of every target", () => {
  test("IP literals and subnets get status 1 and one change; a disabled target gets none", async () => {
    const m = new Metrics({ version: "0" });
    m.applyConfig(config(BODY));
    m.hostResolved("literal", ["198.18.0.10"]);
    m.hostResolved("subnet", ["198.18.2.1", "198.18.2.2", "198.18.2.0", "198.18.2.3"]);
    assert.equal(m.hostResolved("off", ["198.18.0.30"]), false);
    const e = await scrape(m);
    assert.equal(status(e, "literal"), 1);
    assert.equal(changes(e, "literal"), 1);
    assert.equal(status(e, "subnet"), 1);
    assert.equal(changes(e, "subnet"), 1);
    assert.deepEqual(find(e, "app_host_resolution_status", { destination: "off" }), []);
    assert.deepEqual(find(e, "app_host_resolution_status", { destination: "literal" })[0]!.labels, {
      probe_name: "lab",
      destination: "literal",
      address_family: "ipv4",
    });
  });

  test("first success counts 1, the same addresses again 0, other addresses 1, a failure 0 and status 0", async () => {
    const m = new Metrics({ version: "0" });
    m.applyConfig(config(BODY));
    m.hostResolved("name", ["198.18.0.1"]);
    m.hostResolved("name", ["198.18.0.1"]);
    let e = await scrape(m);
    assert.equal(status(e, "name"), 1);
    assert.equal(changes(e, "name"), 1);
    m.hostResolved("name", ["198.18.0.2"]);
    e = await scrape(m);
    assert.equal(changes(e, "name"), 2);
    m.hostResolved("name", undefined);
    e = await scrape(m);
    assert.equal(status(e, "name"), 0);
    assert.equal(changes(e, "name"), 2, "a failure is no change");
    // Back to the same address after a failure: the original counted it (its destination was unset).
    m.hostResolved("name", ["198.18.0.2"]);
    e = await scrape(m);
    assert.equal(status(e, "name"), 1);
    assert.equal(changes(e, "name"), 3);
  });

  test("a target that fails from the start: status 0, change 0; its first success counts 1", async () => {
    const m = new Metrics({ version: "0" });
    m.applyConfig(config(BODY));
    m.hostResolved("name", undefined);
    let e = await scrape(m);
    assert.equal(status(e, "name"), 0);
    assert.equal(changes(e, "name"), 0);
    m.hostResolved("name", ["198.18.0.1"]);
    e = await scrape(m);
    assert.equal(changes(e, "name"), 1);
  });

  test("the same subnet in another order is no change", async () => {
    const m = new Metrics({ version: "0" });
    m.applyConfig(config(BODY));
    m.hostResolved("subnet", ["198.18.2.0", "198.18.2.1"]);
    m.hostResolved("subnet", ["198.18.2.1", "198.18.2.0"]);
    m.hostResolved("subnet", ["198.18.2.1", "198.18.2.3"]);
    assert.equal(changes(await scrape(m), "subnet"), 2);
  });

  test("a reload is no change (the original's +1 per reload is not copied); new labels start again", async () => {
    const m = new Metrics({ version: "0" });
    m.applyConfig(config(BODY));
    m.hostResolved("name", ["198.18.0.1"]);
    m.hostResolved("literal", ["198.18.0.10"]);
    // The daemon resolves every changed target again after a reload: same addresses, no change.
    m.applyConfig(config(BODY.replace("dst_port: 443", "dst_port: 8443")));
    m.hostResolved("name", ["198.18.0.1"]);
    m.hostResolved("literal", ["198.18.0.10"]);
    let e = await scrape(m);
    assert.equal(changes(e, "name"), 1);
    assert.equal(changes(e, "literal"), 1);
    // A target removed and added back, or whose address family changes, is a new series: its first
    // resolution counts again.
    m.applyConfig(config(BODY.replace(/ {2}literal:\n( {4}.*\n)+/, "")));
    e = await scrape(m);
    assert.deepEqual(find(e, "app_host_resolution_change_total", { destination: "literal" }), []);
    m.applyConfig(config(BODY));
    m.hostResolved("literal", ["198.18.0.10"]);
    e = await scrape(m);
    assert.equal(changes(e, "literal"), 1);
  });
});
