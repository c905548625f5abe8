// Proves the lab's plain topology with kernel tools and Node's own sockets: the namespace is sealed,
// targets answer ping on IPv4 and IPv6, a routed range of 256 addresses answers, and the kernel
// responders give SYN-ACK, RST (ECONNREFUSED) and ICMP port unreachable (ECONNREFUSED on UDP).

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { readSysctl, run } from "../../src/lab/exec.js";
import { assertIsolated, createLab, type Lab } from "../../src/lab/lab.js";
import { ping } from "../../src/lab/ping.js";

/** Resolves "connected" or the error code of a TCP connect. */
function tcpConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 3000 });
    s.once("connect", () => {
      s.destroy();
      resolve("connected");
    });
    s.once("timeout", () => {
      s.destroy();
      resolve("timeout");
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Sends on a connected UDP socket and resolves with the error the ICMP answer raises, if any. */
function udpClosedPort(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(":") ? "udp6" : "udp4");
    let again: NodeJS.Timeout | undefined;
    const finish = (what: string) => {
      clearTimeout(timer);
      clearTimeout(again);
      s.close();
      resolve(what);
    };
    const timer = setTimeout(() => finish("no error"), 2000);
    s.once("error", (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    s.connect(port, host, () => {
      // The first send provokes the ICMP error; the second one reports it if the first did not.
      s.send("probe");
      again = setTimeout(() => s.send("probe"), 100);
    });
  });
}

describe("lab basics (needs root)", () => {
  let lab: Lab;

  before(async () => {
    lab = await createLab({ targets: [{ name: "a", rangeSize: 256, tcpPorts: [80, 443] }] });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("the test namespace is isolated (needs root)", async () => {
    await assertIsolated();
    const routes = await run("ip", ["-j", "route", "show", "default"]);
    assert.deepEqual(JSON.parse(routes.stdout || "[]"), []);
  });

  test("assertIsolated refuses a namespace that is not sealed (needs root)", async () => {
    const saved = process.env.NETPROBIFY_LAB;
    delete process.env.NETPROBIFY_LAB;
    try {
      await assert.rejects(assertIsolated(), /NETPROBIFY_LAB is not 1/);
    } finally {
      process.env.NETPROBIFY_LAB = saved;
    }
    // A default route (here into loopback, harmless) is refused ...
    await run("ip", ["route", "add", "default", "dev", "lo"]);
    try {
      await assert.rejects(assertIsolated(), /default route present/);
    } finally {
      await run("ip", ["route", "del", "default", "dev", "lo"]);
    }
    // ... and so is an interface the lab did not make.
    await run("ip", ["link", "add", "name", "stray0", "type", "veth", "peer", "name", "stray1"]);
    try {
      await assert.rejects(assertIsolated(), /unexpected interface stray0/);
    } finally {
      await run("ip", ["link", "del", "stray0"]);
    }
    await assertIsolated();
  });

  test("ICMP rate limits are off in targets by default (needs root)", async () => {
    const ns = lab.target("a").ns;
    assert.equal(await readSysctl(ns, "net.ipv4.icmp_ratelimit"), "0");
    assert.equal(await readSysctl(ns, "net.ipv6.icmp.ratelimit"), "0");
    assert.equal(await readSysctl(ns, "net.ipv4.icmp_msgs_per_sec"), "10000000");
    // Per-namespace: the test namespace keeps the kernel default.
    assert.equal(await readSysctl(undefined, "net.ipv4.icmp_msgs_per_sec"), "1000");
  });

  test("ping IPv4 and IPv6 to a target and to its range (needs root)", async () => {
    const t = lab.target("a");
    for (const dst of [t.v4, t.v6, t.range!.v4(7), t.range!.v6(200)]) {
      const r = await ping(dst, { count: 3, interval: 0.01 });
      assert.equal(r.received, 3, `ping ${dst}: ${r.output}`);
      assert.ok(
        r.rttsMs.every((x) => x > 0 && x < 50),
        `ping ${dst} rtts ${r.rttsMs}`,
      );
    }
  });

  test("all 256 addresses of a routed range accept TCP on IPv4 and IPv6 (needs root)", async () => {
    const range = lab.target("a").range!;
    assert.equal(range.size, 256);
    const addrs = [...range.all4(), ...range.all6()];
    const results = await Promise.all(addrs.map((a) => tcpConnect(a, 80)));
    const failed = addrs.filter((_, i) => results[i] !== "connected");
    assert.deepEqual(failed, []);
    assert.equal(results.length, 512);
  });

  test("TCP: listener connects, closed port is refused (RST) (needs root)", async () => {
    const t = lab.target("a");
    for (const host of [t.v4, t.v6, t.range!.v4(1)]) {
      assert.equal(await tcpConnect(host, 443), "connected");
      assert.equal(await tcpConnect(host, 81), "ECONNREFUSED");
    }
  });

  test("connected UDP to a closed port gets ECONNREFUSED from ICMP port unreachable (needs root)", async () => {
    const t = lab.target("a");
    assert.equal(await udpClosedPort(t.v4, 33434), "ECONNREFUSED");
    assert.equal(await udpClosedPort(t.v6, 33434), "ECONNREFUSED");
    assert.equal(await udpClosedPort(t.range!.v4(9), 33434), "ECONNREFUSED");
  });

  test("an address outside every lab route is unreachable from the test namespace (needs root)", async () => {
    // 198.18.255.1 is in the lab block but routed nowhere: the kernel must refuse, not send.
    const r = await ping("198.18.255.1", { count: 1, wait: 0.5 });
    assert.equal(r.received, 0);
    assert.match(r.output, /unreachable/i);
    const get = await run("ip", ["route", "get", "198.18.255.1"], { allowFail: true });
    assert.notEqual(get.code, 0);
  });
});
