// Sharding under a real Prometheus: three daemons share one inventory (`global.shard`, index 0..2 of
// 3), a real Prometheus (Debian's package) scrapes all three and evaluates the shipped recording
// rules (prometheus/recording.yml). The wire is the referee (tcpdump on the link to the targets):
// every inventory target is probed by exactly one instance, the one rendezvous hashing names; the
// recorded per-target sums equal the SYNs counted on the wire, and so does the whole probe's total
// (a file target every instance probes included). Each instance gets its own source ports so that
// the wire tells which one sent a probe. Needs root (lab, raw sockets), prometheus and tcpdump.
//
// Counts are compared at rest, without timing: the daemons run with a one-hour interval, so each
// iteration is one asked for with SIGHUP once the previous one has been recorded; after the iteration
// that probed the inventory's targets, nothing more is sent.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ownerOf } from "../../src/inventory/shard.js";
import { type Capture, createLab, type Lab } from "../../src/lab/lab.js";
import { REPO } from "../support/paths.js";
import { type Prometheus, rulesWithoutFor, startDaemon, startPrometheus, waitFor } from "./lib/promlab.js";
import { scrape } from "./lib/scrape.js";
import { decodeAll, isProbe } from "./lib/wire.js";

const COUNT = 3;
const TARGETS = 12;
const PORTS = [19161, 19162, 19163];
const PROM_PORT = 19192;
const SRC_PORT = (i: number) => 61000 + i * 100; // instance i sends from SRC_PORT(i)..SRC_PORT(i)+9

/** Sum of the samples of `metric` in an exposition whose labels match `labels`. */
function sum(body: string, metric: string, labels = /.*/): number {
  let n = 0;
  for (const line of body.split("\n")) {
    const m = /^(\w+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === metric && labels.test(m[2] ?? "")) n += Number(m[3]);
  }
  return n;
}

describe("three sharded instances under a real Prometheus: recorded sums equal the wire (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let prom: Prometheus;
  let cap: Capture;
  const daemons: ReturnType<typeof startDaemon>[] = [];

  before(async () => {
    lab = await createLab({ targets: [{ name: "shard", tcpPorts: [443], rangeSize: 16 }] });
    dir = mkdtempSync(join(tmpdir(), "npf-shard-"));
  });
  after(async () => {
    for (const d of daemons) d.proc.kill("SIGKILL");
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("each target is probed by one instance; the recording rules' sums equal the wire's totals", async (tc) => {
    const t = lab.target("shard");
    const addrs = t.range!.all4(TARGETS);
    const nameOf = (a: string) => `shared_${a}`;
    // nb_packets 2, 3, 4 in turn: the per-target counts differ.
    writeFileSync(
      join(dir, "shared.yaml"),
      addrs
        .map(
          (a, k) =>
            `- {hostname: "${a}", type: TCPsyn, dst_port: 443, nb_packets: ${2 + (k % 3)}, timeout: 0.3}\n`,
        )
        .join(""),
    );
    const owner = new Map(addrs.map((a) => [a, ownerOf(nameOf(a), COUNT)]));
    const expected = [0, 1, 2].map((i) => addrs.filter((a) => owner.get(a) === i).length);

    cap = await lab.capture({ iface: t.hostIf, filter: "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" });
    for (let i = 0; i < COUNT; i++) {
      const config = join(dir, `netprobify-${i}.yaml`);
      writeFileSync(
        config,
        `global: {probe_name: lab, interval: 3600, nb_proc: 1, logging_level: WARNING, prometheus_port: ${PORTS[i]}, prometheus_address: 127.0.0.1, dns_update_interval: 0, shard: {index: ${i}, count: ${COUNT}}}
groups:
  standard: {src_port_a: ${SRC_PORT(i)}, src_port_z: ${SRC_PORT(i) + 9}}
inventories:
  shared: {type: file, path: shared.yaml}
targets:
  anchor: {type: TCPsyn, destination: "${t.v4}", dst_port: 443, nb_packets: 2, timeout: 0.3}
`,
      );
      daemons.push(startDaemon(config));
    }
    prom = await startPrometheus(lab, dir, {
      port: PROM_PORT,
      targets: PORTS.map((p) => `127.0.0.1:${p}`),
      ruleFiles: [rulesWithoutFor(`${REPO}prometheus/recording.yml`, join(dir, "recording.yml"))],
    });

    // Drive each daemon to rest with its share of the inventory probed once or more.
    const finals: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      let asked = 0; // iterations recorded when the last SIGHUP was sent
      let body = "";
      const done = await waitFor(60_000, async () => {
        body = await scrape(PORTS[i]!);
        const it = sum(body, "netprobify_iterations_total");
        if (it < 1 || it <= asked) return false; // an iteration is still due
        const inv = /^netprobify_inventory_targets\{[^}]*inventory="shared"[^}]*\} (\S+)$/m.exec(body);
        const sent = sum(body, "tcpsyn_sent_total", /destination="shared_/);
        if (inv && Number(inv[1]) === expected[i] && (expected[i] === 0 || sent > 0)) return true;
        asked = it;
        daemons[i]!.proc.kill("SIGHUP"); // one more iteration, with the inventory once it has published
        return false;
      });
      assert.ok(
        done,
        `instance ${i} did not probe its share; last scrape:\n${body}\nlog: ${daemons[i]!.log()}`,
      );
      finals.push(body);
    }

    // Prometheus has scraped the final counts of all three.
    const total = finals.reduce((n, b) => n + sum(b, "tcpsyn_sent_total"), 0);
    let recorded = -1;
    await waitFor(30_000, async () => {
      const r = await prom.query('probe_name:netprobify_probes_sent_total:sum{probe_name="lab"}');
      recorded = Number(r[0]?.value[1] ?? -1);
      return recorded === total;
    });
    assert.equal(recorded, total, "the recording rule sums the three instances' final counters");

    // The wire: every SYN, by destination and by the instance its source port belongs to.
    const syns = decodeAll((await cap.stop(200)).records).filter(isProbe);
    const wire = new Map<string, Map<number, number>>();
    for (const p of syns) {
      const inst = Math.floor((p.sport - SRC_PORT(0)) / 100);
      assert.ok(inst >= 0 && inst < COUNT && p.sport - SRC_PORT(inst) < 10, `source port ${p.sport}`);
      const m = wire.get(p.dst) ?? new Map<number, number>();
      m.set(inst, (m.get(inst) ?? 0) + 1);
      wire.set(p.dst, m);
    }
    assert.equal(syns.length, total, "the probe's total equals the SYNs on the wire");

    // Each inventory target: one instance, the one rendezvous hashing names, on the wire and in
    // Prometheus; the recorded sum without `instance` equals its SYNs.
    const perTarget = await prom.query('destination:tcpsyn_sent_total:sum{probe_name="lab"}');
    const series = await prom.query('tcpsyn_sent_total{probe_name="lab"}');
    for (const a of addrs) {
      const seen = wire.get(a);
      assert.ok(seen, `${a} was probed`);
      assert.deepEqual([...seen.keys()], [owner.get(a)], `${a}: probed by instance ${owner.get(a)} only`);
      const mine = series.filter((s) => s.metric.destination === nameOf(a));
      assert.deepEqual(
        mine.map((s) => s.metric.instance),
        [`127.0.0.1:${PORTS[owner.get(a)!]}`],
        `${nameOf(a)}: one instance has its series`,
      );
      const rec = perTarget.filter((s) => s.metric.destination === nameOf(a));
      assert.equal(rec.length, 1);
      assert.equal(Number(rec[0]!.value[1]), seen.get(owner.get(a)!), `${nameOf(a)}: recorded sum = wire`);
    }
    // The file's own target is probed by all three; its recorded sum is the three together.
    const anchor = wire.get(t.v4);
    assert.deepEqual(
      [...(anchor?.keys() ?? [])].sort(),
      [0, 1, 2],
      "every instance probes the file's target",
    );
    const rec = perTarget.find((s) => s.metric.destination === "anchor");
    assert.equal(
      Number(rec?.value[1]),
      [...anchor!.values()].reduce((x, y) => x + y, 0),
    );
    assert.equal(wire.size, TARGETS + 1, "nothing else was probed");
    tc.diagnostic(
      `shares ${expected.join("/")} of ${TARGETS} targets; ${syns.length} SYNs on the wire = recorded total`,
    );
  });
});
