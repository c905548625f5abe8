// Proves the leaf–spine fabric (src/lab/fabric.ts) with real packets: flows spread over all N spines
// and keep their spine, TTL 1/2/3 are answered by leaf1 / the flow's spine / leaf2 from the addresses
// f.links announces, a fault on one member link hits only the flows through it, the per-packet
// balancer spreads one flow, a path change moves flows, and destroy() leaves nothing behind.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import { readSysctl, run, setSysctls } from "../../src/lab/exec.js";
import { createFabric, type Fabric } from "../../src/lab/fabric.js";
import { ping } from "../../src/lab/ping.js";
import { bySport, type IcmpReply, probe, range, sendSyn, sendUdp, spineOf, tcpTtl } from "./fabric-probe.js";

/** Maps each source port to the spine its TTL-2 probe was answered by (both families checked). */
async function spines(f: Fabric, dst: string, ports: number[]): Promise<Map<number, number>> {
  const src = dst.includes(":") ? f.proberV6 : f.proberV4;
  const replies = await probe(f, () => sendUdp(src, dst, ports, 2));
  const m = new Map<number, number>();
  for (const [port, from] of bySport(replies)) m.set(port, spineOf(f, from[0] ?? ""));
  assert.equal(m.size, ports.length, `every TTL-2 probe answered: ${m.size}/${ports.length}`);
  return m;
}

function counts(m: Map<number, number>, n: number): number[] {
  const c = Array.from({ length: n + 1 }, () => 0);
  for (const k of m.values()) c[k] = (c[k] ?? 0) + 1;
  return c;
}

async function leftovers(prefix: string): Promise<string> {
  const ns = (await run("ip", ["netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(prefix));
  const links = (await run("ip", ["-o", "link", "show"])).stdout.split("\n").filter((l) => /nl\d+-/.test(l));
  const bpf = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .filter((l) => / bpf /.test(l));
  return [...ns, ...links, ...bpf].join("\n");
}

describe("fabric (needs root)", () => {
  const live: Fabric[] = [];
  after(async () => {
    for (const f of live) await f.destroy();
  });

  for (const ways of [2, 4, 8, 16] as const) {
    test(`${ways}-way: flows spread over every spine, keep it, and TTL 1/2/3 name leaf1/spine/leaf2 (needs root)`, async () => {
      const f = await createFabric({ ways, targets: 4 });
      live.push(f);
      const buildMs = f.buildMs;
      const ports = range(20000, 24 * ways);
      for (const dst of [f.targets.v4(1), f.targets.v6(1)]) {
        const src = dst.includes(":") ? f.proberV6 : f.proberV4;
        const v6 = dst.includes(":");
        const replies = await probe(f, async () => {
          for (const ttl of [1, 2, 3, 2]) await sendUdp(src, dst, ports, ttl);
        });
        const seen = bySport(replies.filter((r: IcmpReply) => r.kind === "ttl"));
        const perSpine = Array.from({ length: ways + 1 }, () => 0);
        for (const port of ports) {
          const [h1, h2, h3, again] = seen.get(port) ?? [];
          assert.ok(h1 && h2 && h3 && again, `port ${port}: 4 answers, got ${seen.get(port)}`);
          const k = spineOf(f, h2);
          assert.ok(k > 0, `TTL 2 answered by a spine: ${h2}`);
          perSpine[k] = (perSpine[k] ?? 0) + 1;
          const up = f.link(`leaf1-spine${k}`);
          const down = f.link(`spine${k}-leaf2`);
          assert.equal(h1, v6 ? up.from.v6 : up.from.v4, `TTL 1: leaf1`);
          assert.equal(h3, v6 ? down.to.v6 : down.to.v4, `TTL 3: leaf2 on spine ${k}'s link`);
          assert.equal(again, h2, `port ${port} keeps its spine`);
        }
        assert.ok(
          perSpine.slice(1).every((c) => c > 0),
          `all ${ways} spines used: ${perSpine.slice(1)}`,
        );
        console.log(
          `# ${ways}-way ${v6 ? "IPv6" : "IPv4"} build ${buildMs.toFixed(0)} ms, flows per spine ${perSpine.slice(1)}`,
        );
      }
      const prefix = `nl${f.lab.slot}p${process.pid}-`;
      const t0 = performance.now();
      await f.destroy();
      console.log(`# ${ways}-way destroy ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(await leftovers(prefix), "", "nothing left after destroy()");
    });
  }

  test("TCP SYNs spread over 8 spines and keep theirs; without the tc program the socket hash decides (needs root)", async () => {
    const results: Record<string, number> = {};
    for (const clearHash of [true, false]) {
      const f = await createFabric({ ways: 8, targets: 1, clearHash });
      live.push(f);
      const ports = range(21000, 64);
      await tcpTtl(21000, 21999, 2);
      try {
        for (const dst of [f.targets.v4(0), f.targets.v6(0)]) {
          const src = dst.includes(":") ? f.proberV6 : f.proberV4;
          const replies = await probe(f, async () => {
            await sendSyn(src, dst, ports);
            await sendSyn(src, dst, ports);
          });
          const seen = bySport(replies.filter((r) => r.kind === "ttl" && r.proto === 6));
          let moved = 0;
          const used = new Set<number>();
          for (const port of ports) {
            const [a, b] = seen.get(port) ?? [];
            assert.ok(a && b, `port ${port}: two answers`);
            used.add(spineOf(f, a));
            if (a !== b) moved++;
          }
          results[`${clearHash ? "cleared" : "kept"}-${dst.includes(":") ? 6 : 4}-moved`] = moved;
          if (clearHash) {
            assert.equal(used.size, 8, `all 8 spines used: ${[...used]}`);
            assert.equal(moved, 0, "a 5-tuple keeps its spine across connections");
          }
        }
      } finally {
        await tcpTtl(0, 0, 0);
        await f.destroy();
      }
    }
    console.log(`# TCP flows whose second SYN took another spine: ${JSON.stringify(results)}`);
    // New sockets get new random hashes: with 64 flows over 8 ways, many move (expected 7/8 of them).
    assert.ok((results["kept-4-moved"] ?? 0) > 16, JSON.stringify(results));
  });

  test("IPv6 hash policy 0 follows the flow label, not the ports (needs root)", async () => {
    const f = await createFabric({ ways: 4, targets: 1, hashPolicy: { ipv6: 0 } });
    live.push(f);
    const key = "net.ipv6.auto_flowlabels";
    const saved = await readSysctl(undefined, key);
    const ports = range(25000, 64);
    try {
      // Auto flow labels (the default) differ per 5-tuple: the flows spread.
      const labelled = counts(await spines(f, f.targets.v6(0), ports), 4);
      // Without them every datagram carries label 0: one path for all ports.
      await setSysctls(undefined, { [key]: 0 });
      const unlabelled = counts(await spines(f, f.targets.v6(0), ports), 4);
      console.log(
        `# IPv6 policy 0, flows per spine: labels ${labelled.slice(1)}, no labels ${unlabelled.slice(1)}`,
      );
      assert.ok(
        labelled.slice(1).every((c) => c > 0),
        `${labelled}`,
      );
      assert.equal(Math.max(...unlabelled), 64, `${unlabelled}`);
    } finally {
      await setSysctls(undefined, { [key]: saved });
      await f.destroy();
    }
  });

  test("ICMP echo is one flow per target under policy 1: one spine for every ping (needs root)", async () => {
    const f = await createFabric({ ways: 4, targets: 1 });
    live.push(f);
    for (const dst of [f.targets.v4(0), f.targets.v6(0)]) {
      const r = await ping(dst, { count: 20, interval: 0.005, ttl: 2, wait: 0.5 });
      const from = new Set(r.errorLines.map((e) => e.from));
      assert.equal(r.errorLines.length, 20, r.output);
      assert.equal(from.size, 1, `one spine: ${[...from]}`);
      assert.ok(spineOf(f, [...from][0] ?? "") > 0);
    }
    await f.destroy();
  });

  test("loss, blackhole and delay on one member link hit only the flows through it (needs root)", async () => {
    const f = await createFabric({
      ways: 4,
      targets: 4,
      delayLinks: ["leaf1-spine1", "leaf1-spine2", "leaf1-spine3", "leaf1-spine4"],
    });
    live.push(f);
    const ports = range(22000, 64);
    const sent = 20;
    for (const dst of [f.targets.v4(2), f.targets.v6(2)]) {
      const src = dst.includes(":") ? f.proberV6 : f.proberV4;
      const map = await spines(f, dst, ports);
      const answered = async () => {
        const replies = await probe(f, () => sendUdp(src, dst, ports, 64, sent));
        return bySport(replies.filter((r) => r.kind === "unreach"));
      };
      // 30 % loss toward the targets on leaf1–spine1.
      await f.fault("leaf1-spine1", { loss: 0.3, direction: "forward" });
      let got = await answered();
      let hitSent = 0;
      let hitGot = 0;
      for (const port of ports) {
        const n = got.get(port)?.length ?? 0;
        if (map.get(port) === 1) {
          hitSent += sent;
          hitGot += n;
        } else assert.equal(n, sent, `port ${port} on spine ${map.get(port)} lost nothing`);
      }
      const loss = 1 - hitGot / hitSent;
      console.log(
        `# ${dst}: 30 % loss on leaf1-spine1 measured ${(loss * 100).toFixed(1)} % over ${hitSent}`,
      );
      assert.ok(hitSent > 0 && loss > 0.15 && loss < 0.45, `loss ${loss}`);
      await f.clear("leaf1-spine1");
      // Blackhole on spine2–leaf2, both directions.
      await f.fault("spine2-leaf2", { blackhole: true });
      got = await answered();
      for (const port of ports) {
        const n = got.get(port)?.length ?? 0;
        assert.equal(n, map.get(port) === 2 ? 0 : sent, `port ${port} on spine ${map.get(port)}`);
      }
      await f.clear("spine2-leaf2");
      got = await answered();
      assert.ok(
        ports.every((p) => got.get(p)?.length === sent),
        "clear() restores every flow",
      );
    }
    // Delay: ICMP echo takes one spine (previous test); 30 ms on its link only.
    const dst = f.targets.v4(2);
    const k = spineOf(f, (await ping(dst, { count: 1, ttl: 2, wait: 0.5 })).errorLines[0]?.from ?? "");
    const before = await ping(dst, { count: 5, interval: 0.05 });
    await f.fault(`leaf1-spine${k}`, { delayMs: 30, direction: "forward" });
    const slow = await ping(dst, { count: 5, interval: 0.05 });
    await f.fault(`leaf1-spine${(k % 4) + 1}`, { delayMs: 30 });
    await f.clear(`leaf1-spine${k}`);
    const other = await ping(dst, { count: 5, interval: 0.05 });
    console.log(
      `# delay: min RTT ${Math.min(...before.rttsMs)} / ${Math.min(...slow.rttsMs)} / ${Math.min(...other.rttsMs)} ms`,
    );
    assert.ok(Math.min(...slow.rttsMs) >= 30, slow.output);
    assert.ok(Math.max(...before.rttsMs) < 30 && Math.max(...other.rttsMs) < 30, other.output);
    await f.destroy();
  });

  test("per-packet balancing spreads one flow over every spine (needs root)", async () => {
    const f = await createFabric({ ways: 4, targets: 1, perPacket: true });
    live.push(f);
    for (const dst of [f.targets.v4(0), f.targets.v6(0)]) {
      const src = dst.includes(":") ? f.proberV6 : f.proberV4;
      const replies = await probe(f, () => sendUdp(src, dst, [23000], 2, 80));
      const used = new Set(replies.map((r) => spineOf(f, r.from)));
      assert.equal(replies.length, 80);
      assert.deepEqual([...used].sort(), [1, 2, 3, 4], `one flow, every spine: ${[...used]}`);
      // And full-TTL probes still reach the target.
      const end = await probe(f, () => sendUdp(src, dst, [23001], 64, 20));
      assert.equal(end.filter((r) => r.kind === "unreach").length, 20);
    }
    await f.destroy();
  });

  test("a path change moves every flow off the removed next hop; restoring it restores every path (needs root)", async () => {
    const f = await createFabric({ ways: 4, targets: 1 });
    live.push(f);
    const ports = range(24000, 64);
    for (const dst of [f.targets.v4(0), f.targets.v6(0)]) {
      const before = await spines(f, dst, ports);
      await f.changePath(); // spine 1 removed
      const afterChange = await spines(f, dst, ports);
      assert.equal(counts(afterChange, 4)[1], 0, "no flow through spine 1");
      const moved = ports.filter((p) => before.get(p) === 1);
      assert.ok(moved.length > 0 && moved.every((p) => afterChange.get(p) !== 1));
      await f.changePath([1, 1, 1, 1]);
      assert.deepEqual(await spines(f, dst, ports), before, "restored weights restore the paths");
    }
    await f.destroy();
  });

  test("router ICMP rate limits: off answers every fast probe, on (Linux defaults) few (needs root)", async () => {
    const off = await createFabric({ ways: 2, targets: 1 });
    live.push(off);
    const on = await createFabric({ ways: 2, targets: 1, icmpRateLimit: "on" });
    live.push(on);
    const a = await ping(off.targets.v4(0), { count: 50, interval: 0.002, ttl: 1, wait: 0.3 });
    const b = await ping(on.targets.v4(0), { count: 50, interval: 0.002, ttl: 1, wait: 0.3 });
    const b6 = await ping(on.targets.v6(0), { count: 50, interval: 0.002, ttl: 2, wait: 0.3 });
    console.log(
      `# TTL exceeded for 50 probes at 2 ms: off ${a.errorLines.length}, on ${b.errorLines.length} (v6 spine ${b6.errorLines.length})`,
    );
    assert.equal(a.errorLines.length, 50);
    assert.ok(b.errorLines.length >= 1 && b.errorLines.length <= 20, b.output);
    assert.ok(b6.errorLines.length >= 1 && b6.errorLines.length <= 20, b6.output);
    await off.destroy();
    await on.destroy();
  });

  test("a failed build removes everything it made (needs root)", async () => {
    const before = await leftovers("nl");
    await assert.rejects(
      createFabric({ ways: 2, targets: 1, delayLinks: ["leaf1-spine9"] }),
      /no member link/,
    );
    assert.equal(await leftovers("nl"), before);
  });
});
