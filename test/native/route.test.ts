// routeSources (native/route.c) against the kernel in a lab namespace: the source address it reports
// for each destination is the one a connected dgram socket (the slow path it replaces at start-up)
// reports, also when consecutive destinations need different sources (the socket is disconnected
// between them); a destination without a route gets its errno, never a stale address. Only loopback
// routes exist here, plus one the test adds; connect() on a UDP socket sends nothing.
import assert from "node:assert/strict";
import { constants } from "node:os";
import { after, before, describe, test } from "node:test";
import { run } from "../../src/lab/exec.js";
import { routeSources } from "../../src/native/rawsock.js";
import { addressBytes, formatAddress } from "../../src/packet/addr.js";
import { kernelSource, kernelSources } from "../../src/targets/source.js";
import { assertLab } from "./lab.js";

function pack(addrs: string[]): Uint8Array {
  const out = new Uint8Array(addrs.length * 16);
  addrs.forEach((a, i) => {
    out.set(addressBytes(a), i * 16);
  });
  return out;
}

describe("native routeSources (needs root, lab namespace)", () => {
  before(async () => {
    assertLab();
    // A second local address, so that two destinations have two different sources.
    await run("ip", ["addr", "replace", "198.18.250.1/32", "dev", "lo"]);
    await run("ip", ["route", "replace", "local", "198.18.251.0/24", "dev", "lo", "src", "198.18.250.1"]);
  });
  // The namespace outlives this file (the next test files run in it): leave it as it was.
  after(async () => {
    await run("ip", ["route", "del", "local", "198.18.251.0/24", "dev", "lo"], { allowFail: true });
    await run("ip", ["addr", "del", "198.18.250.1/32", "dev", "lo"], { allowFail: true });
  });

  test("sources as the kernel picks them, alternating, and errno where there is no route", async () => {
    const dsts = ["127.0.0.1", "198.18.251.7", "127.0.0.2", "203.0.113.9", "198.18.251.8"];
    const out = new Uint8Array(dsts.length * 16);
    const errors = new Uint32Array(dsts.length).fill(12345);
    routeSources(4, pack(dsts), dsts.length, out, errors);
    const got = dsts.map((_, i) => (errors[i] === 0 ? formatAddress(out, i * 16, 4) : `errno ${errors[i]}`));
    const want = await Promise.all(dsts.map((d) => kernelSource(d, "ipv4").catch(() => "no route")));
    assert.deepEqual(want, ["127.0.0.1", "198.18.250.1", "127.0.0.1", "no route", "198.18.250.1"]);
    assert.deepEqual(got, [
      "127.0.0.1",
      "198.18.250.1",
      "127.0.0.1",
      `errno ${constants.errno.ENETUNREACH}`,
      "198.18.250.1",
    ]);
  });

  test("IPv6, and kernelSources through the addon equals one dgram socket per destination", async () => {
    const dsts: [string, "ipv4" | "ipv6"][] = [
      ["::1", "ipv6"],
      ["2001:db8::1", "ipv6"],
      ["127.0.0.1", "ipv4"],
      ...Array.from({ length: 200 }, (_, i): [string, "ipv4"] => [`198.18.251.${i}`, "ipv4"]),
      ["203.0.113.1", "ipv4"],
    ];
    const fast = await kernelSources(dsts);
    const slow = new Map<string, string>();
    for (const [d, f] of dsts) {
      const s = await kernelSource(d, f).catch(() => undefined);
      if (s !== undefined) slow.set(d, s);
    }
    assert.deepEqual([...fast].sort(), [...slow].sort());
    assert.equal(fast.get("::1"), "::1");
    assert.equal(fast.has("2001:db8::1"), false);
    assert.equal(fast.size, 202);
  });

  test("arguments are checked before crossing into C", () => {
    assert.throws(
      () => routeSources(4, new Uint8Array(16), 2, new Uint8Array(32), new Uint32Array(2)),
      RangeError,
    );
    assert.throws(() => routeSources(5 as 4, new Uint8Array(16), 1, new Uint8Array(16), new Uint32Array(1)));
  });
});
