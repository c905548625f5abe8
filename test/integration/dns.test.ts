// Hostname targets in the real daemon: `netprobify CONFIG` in a subprocess probes a name that the
// system resolver finds in /etc/hosts, which the test controls with bind mounts inside the lab's
// private mount namespace (test/integration/lib/hosts.ts). With dns_update_interval 1 the daemon must
// follow the name to a second lab target (change counted, probes on the wire go to the new address,
// no loss), disable the target while the name does not resolve (status 0, nothing sent, counters
// frozen) and resume when it comes back. Needs root (lab, raw sockets, mount).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Capture, PcapRecord } from "../../src/lab/lab.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";
import { assertPrivateMounts, BoundFile } from "./lib/hosts.js";
import { scrape, until as untilScrape, value } from "./lib/scrape.js";

const NAME = "moving.netprobify.test";
const PORT = 19121;
const NB = 5;
const T = `probe_name="lab",destination="moving",address_family="ipv4"`;
const S = `${T},state="None",group="standard"`;
const HOSTS_BASE = "127.0.0.1 localhost\n::1 localhost\n";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const until = (what: string, pred: (body: string) => boolean, ms = 6000) =>
  untilScrape(what, pred, { port: PORT, ms, relevant: /moving|unresolved/ });

/** Destination addresses of the SYNs in a capture (Ethernet + IPv4), with their wire times. */
function syns(records: readonly PcapRecord[]): { dst: string; tsNs: bigint }[] {
  return records.map((r) => ({ dst: [...r.data.subarray(30, 34)].join("."), tsNs: r.tsNs }));
}

const SYN_FILTER = "tcp dst port 443 and tcp[tcpflags] & tcp-syn != 0";

describe("hostname targets re-resolved through /etc/hosts (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let hosts: BoundFile | undefined;
  let resolv: BoundFile | undefined;
  let daemon: ChildProcess | undefined;
  let stderr = "";
  /** A scrape taken while the name did not resolve, after the in-flight iteration ended. */
  let unresolvedScrape: string | undefined;
  let changesBeforeRemoval: number | undefined;

  before(async () => {
    assertPrivateMounts();
    lab = await createLab({
      targets: [
        { name: "a", tcpPorts: [443] },
        { name: "b", tcpPorts: [443] },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), "npf-dns-"));
    hosts = new BoundFile("/etc/hosts", dir);
    resolv = new BoundFile("/etc/resolv.conf", dir);
    // A name missing from /etc/hosts falls through to DNS: make that a loopback query nobody answers.
    resolv.set("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  });

  after(async () => {
    daemon?.kill("SIGKILL");
    const restored = [hosts?.release() ?? true, resolv?.release() ?? true];
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(restored, [true, true], "/etc/hosts and /etc/resolv.conf are no longer overlaid");
  });

  test("the daemon follows the name, disables the target while it does not resolve, resumes", async () => {
    const a = lab.target("a");
    const b = lab.target("b");
    hosts!.set(`${HOSTS_BASE}${a.v4} ${NAME}\n`);
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 1, percentile: [95, 50]}
groups:
  standard: {src_port_a: 63100, src_port_z: 63109}
targets:
  moving: {type: TCPsyn, destination: "${NAME}", address_family: ipv4, dst_port: 443, nb_packets: ${NB}}
`,
    );
    daemon = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "ignore", "pipe"] });
    daemon.stderr!.on("data", (d) => {
      stderr += String(d);
    });
    const exited = new Promise<number | null>((r) => daemon!.once("exit", (c) => r(c)));
    let caps: Capture[] = [];
    try {
      // 1. Resolved to a: probing; the first resolution counts as one change, as in the original.
      let body = await until("first probes", (x) => (value(x, `tcpsyn_sent_total{${S}}`) ?? 0) >= 2 * NB);
      assert.equal(value(body, `app_host_resolution_status{${T}}`), 1);
      assert.equal(value(body, `app_host_resolution_change_total{${T}}`), 1);
      assert.equal(value(body, `tcpsyn_loss_total{${S}}`), 0);

      // 2. The name moves to b: one change, probes go to b on the wire, nothing lost.
      caps = [
        await lab.capture({ iface: a.hostIf, filter: SYN_FILTER }),
        await lab.capture({ iface: b.hostIf, filter: SYN_FILTER }),
      ];
      hosts!.set(`${HOSTS_BASE}${b.v4} ${NAME}\n`);
      body = await until(
        "resolution change",
        (x) => value(x, `app_host_resolution_change_total{${T}}`) === 2,
      );
      // The iteration running when the change was seen still used a; the next one uses b.
      const atChange = value(body, `tcpsyn_sent_total{${S}}`)!;
      body = await until(
        "probes after the change",
        (x) => value(x, `tcpsyn_sent_total{${S}}`)! >= atChange + 2 * NB,
      );
      const [toA, toB] = await Promise.all(caps.map(async (c) => syns((await c.stop()).records)));
      caps = [];
      assert.ok(toB!.length >= NB, `at least one iteration's SYNs reached b (${toB!.length})`);
      assert.ok(
        toB!.every((p) => p.dst === b.v4),
        "every SYN on b's link is addressed to b",
      );
      assert.ok(
        toA!.every((p) => p.dst === a.v4),
        "every SYN on a's link is addressed to a",
      );
      let lastA = 0n;
      for (const p of toA!) if (p.tsNs > lastA) lastA = p.tsNs;
      assert.ok(
        toB!.every((p) => p.tsNs > lastA),
        "the daemon switched once: no SYN to a after the first SYN to b",
      );
      assert.equal(value(body, `tcpsyn_loss_total{${S}}`), 0);
      assert.equal(value(body, `tcpsyn_loss_ratio{${S}}`), 0);
      assert.equal(value(body, `app_host_resolution_status{${T}}`), 1);
      assert.equal(value(body, `app_host_resolution_change_total{${T}}`), 2);

      // 3. The name disappears: status 0, target excluded as unresolved, nothing sent any more.
      changesBeforeRemoval = value(body, `app_host_resolution_change_total{${T}}`);
      hosts!.set(HOSTS_BASE);
      await until("resolution failure", (x) => value(x, `app_host_resolution_status{${T}}`) === 0);
      await sleep(1300); // the iteration in flight when the failure was seen ends
      body = await until(
        "target excluded",
        (x) =>
          value(x, `netprobify_target_issue{${T},reason="unresolved"}`) === 1 &&
          value(x, `netprobify_targets_excluded{probe_name="lab",reason="unresolved"}`) === 1,
      );
      const frozen = value(body, `tcpsyn_sent_total{${S}}`);
      caps = [
        await lab.capture({ iface: a.hostIf, filter: SYN_FILTER }),
        await lab.capture({ iface: b.hostIf, filter: SYN_FILTER }),
      ];
      await sleep(2200);
      const idle = await Promise.all(caps.map(async (c) => (await c.stop()).records.length));
      caps = [];
      body = await scrape(PORT);
      unresolvedScrape = body;
      assert.deepEqual(idle, [0, 0], "no SYN on either link while the name does not resolve");
      assert.equal(value(body, `app_host_resolution_status{${T}}`), 0);
      // metrics.ts keeps an excluded target's counters (the "nothing sent" alert needs them): frozen.
      assert.ok(frozen !== undefined && frozen >= atChange + 2 * NB);
      assert.equal(value(body, `tcpsyn_sent_total{${S}}`), frozen, "sent counter kept, not growing");
      assert.equal(value(body, `tcpsyn_loss_total{${S}}`), 0, "nothing counted as lost");
      const changesWhileDown = value(body, `app_host_resolution_change_total{${T}}`)!;

      // 4. The name comes back: status 1, one more change (none -> b), probing resumes without loss.
      hosts!.set(`${HOSTS_BASE}${b.v4} ${NAME}\n`);
      body = await until(
        "probing resumed",
        (x) =>
          value(x, `app_host_resolution_status{${T}}`) === 1 &&
          value(x, `tcpsyn_sent_total{${S}}`)! >= frozen! + 2 * NB,
      );
      assert.equal(value(body, `app_host_resolution_change_total{${T}}`), changesWhileDown + 1);
      assert.equal(value(body, `netprobify_target_issue{${T},reason="unresolved"}`), undefined);
      assert.equal(value(body, `netprobify_targets_excluded{probe_name="lab",reason="unresolved"}`), 0);
      assert.equal(value(body, `tcpsyn_loss_total{${S}}`), 0);

      daemon.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
    } finally {
      for (const c of caps) await c.stop(0).catch(() => undefined);
      daemon.kill("SIGKILL");
    }
  });

  test("a failed resolution is not counted in app_host_resolution_change_total", () => {
    // docs/metrics.md: "Times a re-resolution of the target's hostname gave different addresses". A
    // failure gives no addresses; it is reported by app_host_resolution_status (and the original
    // netprobify counts no change on failure, only when an address is found again).
    assert.ok(unresolvedScrape !== undefined, "the first test reached the unresolved phase");
    assert.equal(
      value(unresolvedScrape, `app_host_resolution_change_total{${T}}`),
      changesBeforeRemoval,
      "the change counter did not move when the name stopped resolving",
    );
  });

  test("an unresolved target loses its last loss ratio and round-trip gauges while unresolved", () => {
    // docs/metrics.md: the percentiles are those of the last iteration's samples and are removed when
    // an iteration has none; a target that probes nothing has none, yet the last measured values stay
    // exported as if current (the original netprobify clears an inactive target's measurement series).
    assert.ok(unresolvedScrape !== undefined, "the first test reached the unresolved phase");
    const stale = unresolvedScrape
      .split("\n")
      .filter(
        (l) => /^tcpsyn_(loss_ratio|round_trip_seconds)\{/.test(l) && l.includes('destination="moving"'),
      );
    assert.deepEqual(stale, [], "no loss ratio or RTT series for a target that probes nothing");
  });
});
