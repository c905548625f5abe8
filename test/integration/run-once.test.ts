// `netprobify run --once` end to end, as an operator runs it: a configuration file naming lab
// targets (no source addresses: the kernel's route picks them), one of this host's own addresses
// (never probed: reported and left out), one iteration, a results table. Needs root (lab, raw sockets).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";

describe("netprobify run --once in the lab (needs root)", () => {
  let lab: Lab;
  let dir: string;
  before(async () => {
    lab = await createLab({ targets: [{ name: "web", rangeSize: 16, tcpPorts: [443] }] });
    dir = mkdtempSync(join(tmpdir(), "npf-once-"));
  });
  after(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("probes every type and family, leaves this host's own address out, prints the table", () => {
    const t = lab.target("web");
    const first4 = t.range!.all4(1)[0]!;
    const [net] = t.range!.v4Cidr.split("/");
    const config = `
global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0, percentile: [95, 50]}
groups:
  standard: {src_port_a: 62000, src_port_z: 62009}
targets:
  https: {type: TCPsyn, destination: "${t.v6}", dst_port: 443, nb_packets: 20}
  closed_port: {type: TCPsyn, destination: "${t.v4}", dst_port: 81, nb_packets: 20}
  range_ping: {type: ICMPping, destination: "${net}/28", is_subnet: true, nb_packets: 5}
  tor: {type: UDPunreachable, destination: "${first4}", dst_port: 33434, nb_packets: 20}
  myself: {type: ICMPping, destination: "127.0.0.1", nb_packets: 3}
`;
    const file = join(dir, "netprobify.yaml");
    writeFileSync(file, config);
    const r = spawnSync(process.execPath, [BIN, "run", "--once", file], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /target myself: 127\.0\.0\.1 belongs to this host: not probed \(target disabled\)/,
    );
    const rows = Object.fromEntries(
      r.stdout
        .trim()
        .split("\n")
        .slice(1, -1)
        .map((l) => l.split(/\s+/))
        .map((c) => [c[0], c]),
    );
    assert.deepEqual(Object.keys(rows).sort(), ["closed_port", "https", "range_ping", "tor"]);
    assert.deepEqual(rows.https!.slice(2, 5), ["20", "0", "0.00"]);
    assert.deepEqual(rows.closed_port!.slice(2, 5), ["20", "0", "0.00"]);
    assert.deepEqual(rows.range_ping!.slice(2, 5), ["80", "0", "0.00"]);
    assert.deepEqual(rows.tor!.slice(2, 5), ["20", "0", "0.00"]);
    assert.match(rows.tor!.at(-1)!, /^3\/3:20$/, "port unreachable answered every UDP probe");
    assert.ok(Number(rows.https![5]) > 0 && Number(rows.https![5]) < 50, `p95 ${rows.https![5]} ms`);
    assert.match(r.stdout, /140 probes in \d+\.\d+ s, socket drops 0\n$/);
  });
});
