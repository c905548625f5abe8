// The addon's send path against the kernel's local refusals (needs root, lab namespace, loopback
// only): IP_RECVERR is what makes a qdisc drop visible to a raw socket, and it has side effects the
// addon must absorb — errors queued beside the TX timestamps, a pending socket error that would fail
// the next send or receive, TX timestamp ids that must not shift when a packet is refused (also with
// the kernel's own counter, as before Linux 6.13), and an error queue that must stay bounded.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../../src/lab/exec.js";
import {
  allocRecvBuffers,
  IPPROTO,
  OPEN_FORCE_COUNTER_IDS,
  type RawSocket,
  RawSockets,
  SEND_RESULT_WORDS,
  TX_TS_WORDS,
} from "../../src/native/rawsock.js";
import { assertLab, pack, receive, sleep, txStamps } from "./lab.js";
import { echo, LO4, udp } from "./pkt.js";

const ENOBUFS = 105;
const EPERM = 1;
const EMSGSIZE = 90;
const OTHER = Uint8Array.of(127, 0, 0, 2);

/** Sends the packets in one sendBatch call; returns the per-packet [errno, txId]. */
function sendEach(s: RawSocket, packets: Uint8Array[], dsts: Uint8Array[]): [number, number][] {
  const res = new Uint32Array(packets.length * SEND_RESULT_WORDS);
  s.sendBatch(pack(packets, dsts), 0, packets.length, res);
  return packets.map((_, i) => [res[i * SEND_RESULT_WORDS]!, res[i * SEND_RESULT_WORDS + 1]!]);
}

async function loDrops(): Promise<number> {
  const out = (await run("tc", ["-s", "qdisc", "show", "dev", "lo"])).stdout;
  return Number(/dropped (\d+)/.exec(out)?.[1] ?? Number.NaN);
}

/** Reads every timestamp id waiting (a short wait for the last ones), in arrival order. */
async function allIds(s: RawSocket, expect: number): Promise<number[]> {
  return (await txStamps(s, expect, 500)).map((x) => x.id);
}

describe("native local errors (needs root, lab namespace)", () => {
  let socks: RawSockets;
  before(() => {
    assertLab();
    socks = new RawSockets();
  });

  describe("a full qdisc on lo (tbf)", () => {
    before(async () => {
      // Echo requests that nobody answers: only our packets meet the qdisc.
      await run("sysctl", ["-qw", "net.ipv4.icmp_echo_ignore_all=1"]);
      await run("tc", [
        "qdisc",
        "replace",
        "dev",
        "lo",
        "root",
        "tbf",
        "rate",
        "1mbit",
        "burst",
        "2000",
        "limit",
        "2000",
      ]);
    });
    after(async () => {
      await run("sysctl", ["-qw", "net.ipv4.icmp_echo_ignore_all=0"]);
      await run("tc", ["qdisc", "del", "dev", "lo", "root"], { allowFail: true });
    });

    const burst = () => Array.from({ length: 300 }, (_, i) => echo(4, LO4, LO4, 0x5e01, i));

    // Every drop reported once: the socket is fresh, so it sends one sendmsg per packet (native/io.c
    // sends in sendmmsg runs only after 256 packets in a row without EPERM or ENOBUFS).
    test("without IP_RECVERR the kernel reports dropped packets as sent; with it each one is ENOBUFS", async () => {
      const hidden = socks.openTx(4, { localErrors: false, txTimestamps: false });
      const shown = socks.openTx(4, { txTimestamps: false });
      try {
        let d0 = await loDrops();
        const a = sendEach(
          hidden,
          burst(),
          burst().map(() => LO4),
        );
        const hiddenDrops = (await loDrops()) - d0;
        assert.ok(hiddenDrops > 0, "the qdisc dropped some");
        assert.equal(a.filter(([e]) => e !== 0).length, 0, "...and the socket said nothing");
        await sleep(100); // let the bucket refill
        d0 = await loDrops();
        const b = sendEach(
          shown,
          burst(),
          burst().map(() => LO4),
        );
        const drops = (await loDrops()) - d0;
        assert.ok(drops > 0);
        assert.deepEqual(
          [b.filter(([e]) => e === ENOBUFS).length, b.filter(([e]) => e !== 0 && e !== ENOBUFS).length],
          [drops, 0],
          "one ENOBUFS per packet the qdisc dropped, nothing else",
        );
      } finally {
        hidden.close();
        shown.close();
      }
    });

    for (const mode of ["explicit (SCM_TS_OPT_ID)", "kernel counter"] as const) {
      test(`TX timestamp ids stay exact across ENOBUFS and EPERM refusals, ${mode} ids`, async () => {
        await sleep(100);
        await run("nft", ["-f", "-"], {
          input:
            "table ip localerr {\n chain out {\n type filter hook output priority 0\n ip daddr 127.0.0.2 drop\n }\n}\n",
        });
        const tx = socks.openTx(4, { extraFlags: mode === "kernel counter" ? OPEN_FORCE_COUNTER_IDS : 0 });
        try {
          // Every third packet meets the firewall; the qdisc drops many of the rest.
          const pkts = Array.from({ length: 300 }, (_, i) =>
            echo(4, LO4, i % 3 === 2 ? OTHER : LO4, 0x5e02, i),
          );
          const res = sendEach(
            tx,
            pkts,
            pkts.map((_, i) => (i % 3 === 2 ? OTHER : LO4)),
          );
          const sentIds = res.filter(([e]) => e === 0).map(([, id]) => id);
          assert.ok(res.some(([e]) => e === ENOBUFS) && res.some(([e]) => e === EPERM), "both refusals seen");
          assert.ok(sentIds.length > 0);
          const stamped = await allIds(tx, sentIds.length);
          assert.deepEqual(
            [...stamped].sort((x, y) => x - y),
            [...sentIds].sort((x, y) => x - y),
            "one timestamp per sent packet, under the id the send reported",
          );
        } finally {
          tx.close();
          await run("nft", ["delete", "table", "ip", "localerr"], { allowFail: true });
        }
      });
    }
  });

  test("the IPPROTO_RAW TX socket never gets ICMP errors: the kernel hands them to sockets of the quoted protocol", async () => {
    const tx = socks.openTx(4);
    try {
      const [[e, id]] = sendEach(tx, [udp(4, LO4, LO4, 40000, 9)], [LO4]) as [[number, number]];
      assert.equal(e, 0);
      await sleep(50); // the port unreachable has come back by now
      assert.deepEqual(await allIds(tx, 1), [id]);
      assert.deepEqual([tx.errorQueueSkipped(), tx.staleErrors()], [0, 0]);
    } finally {
      tx.close();
    }
  });

  test("ICMP errors on a RECVERR socket: skipped in the error queue, their socket error fails no send or receive, ids unshifted", async () => {
    // A raw UDP socket gets the ICMP errors quoting UDP: an error-queue entry and sk_err each.
    const s = socks.open({
      family: 4,
      protocol: IPPROTO.UDP,
      headerIncluded: true,
      txTimestamps: true,
      rxTimestamps: true,
      localErrors: true,
    });
    try {
      const [[e1, id1]] = sendEach(s, [udp(4, LO4, LO4, 40001, 9)], [LO4]) as [[number, number]];
      assert.equal(e1, 0);
      await sleep(50); // port unreachable queued, sk_err = ECONNREFUSED
      const [[e2, id2]] = sendEach(s, [udp(4, LO4, LO4, 40002, 9)], [LO4]) as [[number, number]];
      assert.equal(e2, 0, "the next send is not failed by the earlier packet's error");
      await sleep(50);
      const got = await receive(s, allocRecvBuffers(8), 2, 500);
      assert.equal(got.length, 2, "a receive is not failed by it either: both looped packets read");
      const ids: number[] = [];
      const out = new Uint32Array(8 * TX_TS_WORDS);
      for (let n = s.readTxTimestamps(out); n > 0; n = s.readTxTimestamps(out))
        for (let i = 0; i < n; i++) ids.push(out[i * TX_TS_WORDS]!);
      assert.deepEqual(ids, [id1, id2], "both timestamps, under their own ids");
      assert.equal(s.errorQueueSkipped(), 2, "the two port unreachables were consumed and skipped");
      assert.ok(s.staleErrors() >= 2, `stale socket errors cleared: ${s.staleErrors()}`);
      const [[e3]] = sendEach(s, [udp(4, LO4, LO4, 40003, 9)], [LO4]) as [[number, number]];
      assert.equal(e3, 0);
    } finally {
      s.close();
    }
  });

  test("a flood of ICMP errors on a RECVERR socket: its error queue stays bounded by the receive buffer", async (t) => {
    const limits = ["net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_msgs_burst"];
    const saved = await Promise.all(limits.map(async (k) => (await run("sysctl", ["-n", k])).stdout.trim()));
    for (const k of limits) await run("sysctl", ["-qw", `${k}=10000000`]);
    const s = socks.open({
      family: 4,
      protocol: IPPROTO.UDP,
      headerIncluded: true,
      localErrors: true,
      receiveBufferBytes: 32 << 10,
    });
    try {
      const n = 3000;
      const res = sendEach(
        s,
        Array.from({ length: n }, (_, i) => udp(4, LO4, LO4, 41000 + (i % 100), 9)),
        Array.from({ length: n }, () => LO4),
      );
      // On loopback each packet's port unreachable sets the socket error during its own send: the
      // next send fails with it and is tried again (without the retry most of these failed).
      assert.deepEqual(
        res.filter(([e]) => e !== 0),
        [],
        "every send went, none failed by an earlier packet's error",
      );
      assert.ok(s.staleErrors() > 0, "stale errors were met and cleared");
      await sleep(100);
      const out = new Uint32Array(64 * TX_TS_WORDS);
      assert.equal(s.readTxTimestamps(out), 0, "every queued error drained, none taken for a timestamp");
      const queued = s.errorQueueSkipped();
      t.diagnostic(`${queued} ICMP errors queued for ${n} port unreachables (64 KiB receive buffer)`);
      assert.ok(queued > 0 && queued < n / 2, `${queued} of ${n} queued`);
    } finally {
      s.close();
      for (const [i, k] of limits.entries()) await run("sysctl", ["-qw", `${k}=${saved[i]}`]);
    }
  });

  test("EMSGSIZE: refused, its local error drained from the error queue, which stays bounded", async (t) => {
    await run("ip", ["link", "set", "lo", "mtu", "1500"]);
    const tx = socks.openTx(4, { receiveBufferBytes: 32 << 10 });
    try {
      const big = echo(4, LO4, LO4, 0x5e03, 0);
      const huge = new Uint8Array(2000);
      huge.set(big);
      huge[2] = 2000 >> 8;
      huge[3] = 2000 & 0xff;
      const n = 5000;
      const res = sendEach(
        tx,
        Array.from({ length: n }, () => huge),
        Array.from({ length: n }, () => LO4),
      );
      assert.equal(res.filter(([e]) => e === EMSGSIZE).length, n);
      // Undrained, the queue holds what the receive buffer allows; the rest is dropped by the kernel.
      const out = new Uint32Array(64 * TX_TS_WORDS);
      assert.equal(tx.readTxTimestamps(out), 0, "no timestamps for refused packets, every entry drained");
      const skipped = tx.errorQueueSkipped();
      assert.ok(skipped > 0 && skipped < n, `${skipped} local errors were queued for ${n} refusals`);
      t.diagnostic(`${skipped} EMSGSIZE errors queued for ${n} refusals (64 KiB receive buffer)`);
      const [[e, id]] = sendEach(tx, [echo(4, LO4, LO4, 0x5e03, 1)], [LO4]) as [[number, number]];
      assert.equal(e, 0);
      assert.deepEqual(await allIds(tx, 1), [id], "timestamps flow again");
    } finally {
      tx.close();
      await run("ip", ["link", "set", "lo", "mtu", "65536"]);
    }
  });
});
