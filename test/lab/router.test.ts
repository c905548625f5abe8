// Proves the lab router: ICMP destination unreachable (no route, administratively prohibited) and
// time exceeded on IPv4 and IPv6, and Linux's ICMP rate limiting on demand, which is what a real
// router does to a prober that sends too fast.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { ping } from "../../src/lab/ping.js";

describe("lab router (needs root)", () => {
  let lab: Lab;
  let limited: Lab;

  before(async () => {
    lab = await createLab({ router: true, targets: [{ name: "far", behindRouter: true, rangeSize: 16 }] });
    limited = await createLab({
      router: { icmpRateLimit: "linux" },
      targets: [{ name: "far", behindRouter: true }],
    });
  });
  after(async () => {
    await lab?.destroy();
    await limited?.destroy();
  });

  test("a target behind the router answers; its TTL shows one hop (needs root)", async () => {
    const t = lab.target("far");
    for (const dst of [t.v4, t.v6, t.range!.v4(3), t.range!.v6(3)]) {
      const r = await ping(dst, { count: 2, interval: 0.01 });
      assert.equal(r.received, 2, r.output);
      assert.match(r.output, /(ttl|hlim)=63/);
    }
  });

  test("TTL/hop limit 1 gets time exceeded from the router (needs root)", async () => {
    const t = lab.target("far");
    const router = lab.router!;
    const v4 = await ping(t.v4, { count: 3, interval: 0.01, ttl: 1, wait: 0.5 });
    assert.equal(v4.received, 0);
    assert.equal(v4.errorLines.length, 3, v4.output);
    assert.ok(v4.errorLines.every((e) => e.from === router.v4 && /Time to live exceeded/.test(e.message)));
    const v6 = await ping(t.v6, { count: 3, interval: 0.01, ttl: 1, wait: 0.5 });
    assert.equal(v6.errorLines.length, 3, v6.output);
    assert.ok(v6.errorLines.every((e) => e.from === router.v6 && /Time exceeded: Hop limit/.test(e.message)));
  });

  test("unreachable and prohibited ranges get ICMP destination unreachable (needs root)", async () => {
    const router = lab.router!;
    const cases = [
      { dst: router.unreachable.v4(5), from: router.v4, msg: /Destination Host Unreachable/ },
      { dst: router.unreachable.v6(5), from: router.v6, msg: /Destination unreachable: No route/ },
      { dst: router.prohibit.v4(5), from: router.v4, msg: /Packet filtered/ },
      {
        dst: router.prohibit.v6(5),
        from: router.v6,
        msg: /Destination unreachable: Administratively prohibited/,
      },
    ];
    for (const c of cases) {
      const r = await ping(c.dst, { count: 3, interval: 0.01, wait: 0.5 });
      assert.equal(r.received, 0);
      assert.equal(r.errorLines.length, 3, `${c.dst}: ${r.output}`);
      assert.ok(
        r.errorLines.every((e) => e.from === c.from && c.msg.test(e.message)),
        r.output,
      );
    }
  });

  test("without rate limits every one of 100 fast probes gets its ICMP error (needs root)", async () => {
    const t = lab.target("far");
    const te = await ping(t.v4, { count: 100, interval: 0.002, ttl: 1, wait: 0.5 });
    assert.equal(te.errorLines.length, 100);
    const un = await ping(lab.router!.unreachable.v4(1), { count: 100, interval: 0.002, wait: 0.5 });
    assert.equal(un.errorLines.length, 100);
    const un6 = await ping(lab.router!.unreachable.v6(1), { count: 100, interval: 0.002, wait: 0.5 });
    assert.equal(un6.errorLines.length, 100);
  });

  test("with Linux's rate limits most of 50 fast probes get no ICMP error (needs root)", async () => {
    const t = limited.target("far");
    const router = limited.router!;
    // Default limits: a token bucket per peer (about one error per second after a small burst).
    // Measured here: 6 of 50 time exceeded (IPv4), 10 (IPv6), 0-1 unreachable (IPv4, whose bucket
    // is shared with time exceeded), 11 (IPv6). The unlimited router answered all 100 of 100.
    const counts: Record<string, number> = {};
    counts.te4 = (await ping(t.v4, { count: 50, interval: 0.002, ttl: 1, wait: 0.3 })).errorLines.length;
    counts.te6 = (await ping(t.v6, { count: 50, interval: 0.002, ttl: 1, wait: 0.3 })).errorLines.length;
    counts.un4 = (
      await ping(router.unreachable.v4(1), { count: 50, interval: 0.002, wait: 0.3 })
    ).errorLines.length;
    counts.un6 = (
      await ping(router.unreachable.v6(1), { count: 50, interval: 0.002, wait: 0.3 })
    ).errorLines.length;
    const text = JSON.stringify(counts);
    assert.ok(counts.te4 >= 1 && counts.te4 <= 20, text);
    assert.ok(counts.te6 >= 1 && counts.te6 <= 20, text);
    assert.ok(counts.un4 <= 20, text);
    assert.ok(counts.un6 >= 1 && counts.un6 <= 20, text);
  });
});
