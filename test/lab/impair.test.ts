// Proves the lab's impairments with ping alone: nftables loss matches its probability within a
// binomial bound, the C stage's delay and jitter give the requested RTT distribution, and
// duplication and reordering are visible in ping's own output (DUP! lines, icmp_seq order).

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { realtime, STAGE_RT_PRIORITY } from "../../src/lab/impair.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { inversions, mean, ping, stddev } from "../../src/lab/ping.js";

/** The target kernel's count of UDP datagrams to closed ports (/proc/net/snmp "Udp: NoPorts"). */
async function udpNoPorts(lab: Lab, ns: string): Promise<number> {
  const lines = (await lab.exec(ns, "cat", ["/proc/net/snmp"])).stdout
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const names = (lines[0] ?? "").split(/\s+/);
  const values = (lines[1] ?? "").split(/\s+/);
  return Number(values[names.indexOf("NoPorts")]);
}

/** Sends argv[1] empty 18-byte UDP datagrams at argv[2] per second to argv[3] port argv[4]. */
const UDP_BLAST = `
import socket, sys, time
total, rate, host, port = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = bytes(18)
start = time.monotonic()
sent = 0
while sent < total:
    due = min(total, int((time.monotonic() - start) * rate))
    while sent < due:
        s.sendto(data, (host, port))
        sent += 1
    time.sleep(0.0005)
print(time.monotonic() - start)
`;

describe("lab impairments (needs root)", () => {
  let lab: Lab;

  before(async () => {
    lab = await createLab({
      targets: [
        { name: "lossy", rangeSize: 1 },
        { name: "slow", impair: true },
      ],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("nftables loss 30% over 1000 pings is within 5 sigma of the binomial mean (needs root)", async () => {
    const t = lab.target("lossy");
    await lab.setLoss("lossy", 30, "to");
    const r = await ping(t.v4, { count: 1000, interval: 0.002, wait: 0.5 });
    const lost = r.transmitted - r.received;
    const sigma = Math.sqrt(1000 * 0.3 * 0.7); // about 14.5
    assert.equal(r.transmitted, 1000);
    assert.ok(Math.abs(lost - 300) < 5 * sigma, `lost ${lost} of 1000, expected 300 ± ${5 * sigma}`);
    // Removing the rule restores a clean path.
    await lab.setLoss("lossy", 0);
    const clean = await ping(t.v6, { count: 100, interval: 0.002 });
    assert.equal(clean.received, 100);
  });

  test("loss applies in the chosen direction only: 'from' drops replies, not requests (needs root)", async () => {
    const t = lab.target("lossy");
    await lab.setLoss("lossy", 100, "from");
    const r = await ping(t.v4, { count: 20, interval: 0.002, wait: 0.3 });
    assert.equal(r.received, 0);
    // Requests still reached the target: its ICMP input counter moved by 20.
    const snmp = await lab.exec(t.ns, "cat", ["/proc/net/snmp"]);
    const icmp = snmp.stdout.split("\n").filter((l) => l.startsWith("Icmp:"));
    const names = (icmp[0] ?? "").split(/\s+/);
    const values = (icmp[1] ?? "").split(/\s+/);
    assert.ok(Number(values[names.indexOf("InEchos")]) >= 20, icmp.join("\n"));
    await lab.setLoss("lossy", 0);
  });

  test("delay 20 ms ± 5 ms (uniform) gives that RTT distribution (needs root)", async () => {
    const t = lab.target("slow");
    await lab.setImpairment("slow", "both", {});
    await lab.setImpairment("slow", "to", { delayMs: 20, jitterMs: 5 });
    const r = await ping(t.v4, { count: 300, interval: 0.003 });
    assert.equal(r.received, 300, r.output.slice(-300));
    const rtts = r.rttsMs;
    const m = mean(rtts);
    const sd = stddev(rtts);
    // Uniform on [15, 25] ms: mean 20, sd 10/sqrt(12) = 2.89; plus ~0.1 ms of path.
    assert.ok(Math.min(...rtts) >= 14.9, `min ${Math.min(...rtts)}`);
    // p99, not max: ping times in user space, and one scheduling hiccup of a loaded 2-core machine
    // (seen: 28 ms once while benchmarks ran) is not the stage's delay.
    const sorted = [...rtts].sort((a, b) => a - b);
    assert.ok(
      sorted[Math.floor(sorted.length * 0.99)]! <= 26,
      `p99 ${sorted[Math.floor(sorted.length * 0.99)]}`,
    );
    assert.ok(Math.abs(m - 20.1) < 0.8, `mean ${m}`);
    assert.ok(sd > 2.3 && sd < 3.5, `sd ${sd}`);
    const stats = await lab.target("slow").impair!.stats();
    assert.equal(stats.to_overflow, 0);
    assert.equal(stats.to_tx_err, 0);
  });

  test("a fixed delay without jitter is accurate on the wire to a few tens of µs (needs root)", async () => {
    // Wire RTT from tcpdump in the test namespace: only the stage's timing, not ping's scheduling.
    const t = lab.target("slow");
    await lab.setImpairment("slow", "both", { delayMs: 5 });
    const cap = await lab.capture({ iface: t.hostIf, filter: "icmp" });
    const r = await ping(t.v4, { count: 200, interval: 0.005 });
    const file = await cap.stop();
    assert.equal(r.received, 200);
    const sent = new Map<number, bigint>();
    const rtts: number[] = [];
    for (const rec of file.records) {
      // Ethernet 14 + IPv4 20: ICMP type at 34, sequence number at 40.
      const type = rec.data[34];
      const seq = rec.data.readUInt16BE(40);
      if (type === 8) sent.set(seq, rec.tsNs);
      const t0 = sent.get(seq);
      if (type === 0 && t0 !== undefined) rtts.push(Number(rec.tsNs - t0) / 1e6);
    }
    assert.equal(rtts.length, 200);
    rtts.sort((a, b) => a - b);
    const p50 = rtts[100] ?? 0;
    const p90 = rtts[180] ?? 0;
    // Measured ~10.03 ms p50: the stage releases within µs; the rest is the path and the target.
    assert.ok(p50 >= 10 && p50 < 10.15, `wire RTT p50 ${p50} ms for 2 x 5 ms`);
    assert.ok(p90 < 10.5, `wire RTT p90 ${p90} ms for 2 x 5 ms`);
    assert.ok((rtts[0] ?? 0) >= 10, `wire RTT min ${rtts[0]} ms`);
  });

  test("duplication 50% shows as ping duplicates (needs root)", async () => {
    const t = lab.target("slow");
    await lab.setImpairment("slow", "both", {});
    await lab.setImpairment("slow", "to", { dupPct: 50 });
    const r = await ping(t.v4, { count: 400, interval: 0.002 });
    assert.equal(r.received, 400);
    const sigma = Math.sqrt(400 * 0.25);
    assert.ok(Math.abs(r.duplicates - 200) < 5 * sigma, `duplicates ${r.duplicates} of 400`);
  });

  test("reordering 30% with a 10 ms delay makes datagrams arrive out of order (needs root)", async () => {
    // Node sends numbered UDP datagrams every 1 ms; tcpdump behind the stage records arrival order.
    const t = lab.target("slow");
    await lab.setImpairment("slow", "to", { delayMs: 10, reorderPct: 30 });
    const before = await t.impair!.stats();
    const cap = await lab.capture({ ns: t.ns, iface: t.targetIf, filter: "udp dst port 9" });
    const sock = createSocket("udp4");
    for (let i = 0; i < 300; i++) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(i);
      await new Promise<void>((resolve, reject) => sock.send(b, 9, t.v4, (e) => (e ? reject(e) : resolve())));
      await sleep(1);
    }
    sock.close();
    const file = await cap.stop(50);
    const afterStats = await t.impair!.stats();
    // Ethernet 14 + IPv4 20 + UDP 8: the sequence number starts at byte 42.
    const seqs = file.records.map((r) => r.data.readUInt32BE(42));
    assert.equal(seqs.length, 300);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      Array.from({ length: 300 }, (_, i) => i),
    );
    const reordered = (afterStats.to_reordered ?? 0) - (before.to_reordered ?? 0);
    const sigma = Math.sqrt(300 * 0.3 * 0.7);
    assert.ok(Math.abs(reordered - 90) < 5 * sigma, `reordered ${reordered} of 300`);
    // Each reordered datagram overtakes the ones still queued (up to ~10 of them at 1 ms pacing).
    assert.ok(inversions(seqs) > 100, `inversions ${inversions(seqs)}`);
    await lab.setImpairment("slow", "both", {});
    // Without impairment the same stream arrives in order.
    const cap2 = await lab.capture({ ns: t.ns, iface: t.targetIf, filter: "udp dst port 9" });
    const sock2 = createSocket("udp4");
    for (let i = 0; i < 50; i++) {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(i);
      await new Promise<void>((resolve, reject) =>
        sock2.send(b, 9, t.v4, (e) => (e ? reject(e) : resolve())),
      );
    }
    sock2.close();
    const inOrder = (await cap2.stop(50)).records.map((r) => r.data.readUInt32BE(42));
    assert.deepEqual(
      inOrder,
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test("the stage forwards 50,000 datagrams sent at 50k/s without loss (needs root)", async () => {
    const t = lab.target("slow");
    await lab.setImpairment("slow", "both", { delayMs: 1, jitterMs: 0.5 });
    await lab.setLoss("slow", 100, "from"); // keep the target's port-unreachable replies off the path
    const before = await t.impair!.stats();
    const noPortsBefore = await udpNoPorts(lab, t.ns);
    const total = 50_000;
    // The sender keeps its 50k/s on a loaded machine only as a realtime process, as the stage is (a
    // normal one, Node's event loop, took 4.4 s for this at load 6): Python under chrt, sending each
    // millisecond what is due. It prints how long the sends took.
    const blast = [`${total}`, "50000", t.v4, "9"];
    const r = (await realtime())
      ? await lab.exec(undefined, "chrt", ["-f", String(STAGE_RT_PRIORITY), "python3", "-", ...blast], {
          input: UDP_BLAST,
        })
      : await lab.exec(undefined, "python3", ["-", ...blast], { input: UDP_BLAST });
    const seconds = Number(r.stdout.trim());
    await sleep(100);
    const stats = await t.impair!.stats();
    await lab.setLoss("slow", 0);
    await lab.setImpairment("slow", "both", {});
    const rx = (stats.to_rx ?? 0) - (before.to_rx ?? 0);
    const tx = (stats.to_tx ?? 0) - (before.to_tx ?? 0);
    assert.ok(seconds < 1.6, `sending took ${seconds} s`);
    // Every datagram reached the target's UDP layer (closed port: counted as NoPorts) ...
    assert.equal((await udpNoPorts(lab, t.ns)) - noPortsBefore, total);
    // ... through the stage, which also saw the odd IPv6 multicast report of the link.
    assert.ok(rx >= total && rx < total + 20, `stage rx ${rx}`);
    assert.equal(tx, rx);
    assert.equal((stats.to_rx_drop ?? 0) - (before.to_rx_drop ?? 0), 0);
    assert.equal(stats.queued, 0);
  });
});
