// One contract for the receive thread (native/recv.c) and its model in the fake addon: the same cases
// run against real raw sockets on loopback (needs root, lab namespace) and against FakeBinding, so an
// engine test green on the fake says something about the kernel. A world sends ICMP echo requests to
// loopback (the real kernel answers them; the fake's world injects the answers) and the cases check
// what reaches the ring: every record, in order, with its metadata, coalesced wakes, a full ring that
// loses nothing, and clean stops. Process and worker exits with a thread running are real-only.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { FakeBinding } from "../../src/native/fake.js";
import {
  IPPROTO,
  META_HAS_TIMESTAMP,
  OPEN_SLOW_RECEIVE,
  type RawSocket,
  RawSockets,
  RECV_META_WORDS,
  type Ring,
  SEND_RESULT_WORDS,
  SENT_FLUSH,
  SENT_RESULT,
  SENT_TXTS,
  TX_TS_WORDS,
} from "../../src/native/rawsock.js";
import { assertLab, echoBatch, pack, recordSends, sleep } from "./lab.js";
import { echo, icmpTypesFilter, LO4, LO6 } from "./pkt.js";

interface World {
  socks: RawSockets;
  /** Sends echo requests with sequence numbers seqs to loopback; returns the TX timestamp ids. */
  ping(tx: RawSocket, family: 4 | 6, seqs: number[]): number[];
}

const IDENT = 0x5a17;

function realWorld(): World {
  assertLab();
  const socks = new RawSockets();
  return {
    socks,
    ping(tx, family, seqs) {
      const lo = family === 4 ? LO4 : LO6;
      const batch = pack(
        seqs.map((s) => echo(family, lo, lo, IDENT, s)),
        seqs.map(() => lo),
      );
      const res = new Uint32Array(seqs.length * SEND_RESULT_WORDS);
      assert.equal(tx.sendBatch(batch, 0, seqs.length, res), seqs.length);
      return seqs.map((_, k) => res[k * SEND_RESULT_WORDS + 1]!);
    },
  };
}

function fakeWorld(): World {
  const fake = new FakeBinding();
  const socks = new RawSockets(fake);
  return {
    socks,
    ping(tx, family, seqs) {
      const lo = family === 4 ? LO4 : LO6;
      const batch = pack(
        seqs.map((s) => echo(family, lo, lo, IDENT, s)),
        seqs.map(() => lo),
      );
      const res = new Uint32Array(seqs.length * SEND_RESULT_WORDS);
      assert.equal(tx.sendBatch(batch, 0, seqs.length, res), seqs.length);
      // the kernel's answers: an echo reply (v4 with its IP header, v6 from the transport header)
      for (const s of seqs) {
        const p = echo(family, lo, lo, IDENT, s);
        const bytes = family === 4 ? p : p.slice(40);
        bytes[family === 4 ? 20 : 0] = family === 4 ? 0 : 129;
        fake.inject({ family, protocol: family === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6, bytes, src: lo });
      }
      return seqs.map((_, k) => res[k * SEND_RESULT_WORDS + 1]!);
    },
  };
}

/** The echo sequence numbers of the packet records ready in the ring (released as read). */
function drainSeqs(ring: Ring, family: 4 | 6, out: number[], meta?: Uint32Array[]): void {
  const n = ring.ready();
  for (let k = 0; k < n; k++) {
    const at = ring.offset(k);
    const w = at / 4;
    const len = ring.words[w]!;
    const data = at + ring.metaWords * 4;
    const l4 = family === 4 ? data + (ring.bytes[data]! & 0xf) * 4 : data;
    assert.ok(len >= (family === 4 ? 28 : 8), `record length ${len}`);
    out.push((ring.bytes[l4 + 6]! << 8) | ring.bytes[l4 + 7]!);
    meta?.push(ring.words.slice(w, w + RECV_META_WORDS));
  }
  ring.release(n);
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(2);
}

function contract(name: string, make: () => World): void {
  for (const family of [4, 6] as const) {
    const lo = family === 4 ? LO4 : LO6;
    const proto = family === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6;
    const reply = family === 4 ? 0 : 129;

    describe(`receive thread contract, ${name}, IPv${family}`, () => {
      test("every packet reaches the ring in order, with its metadata, in coalesced wakes", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        const rx = w.socks.openRx(family, proto);
        try {
          rx.attachFilter(icmpTypesFilter(family, reply, reply));
          await sleep(20); // RX timestamping is switched on lazily by the kernel
          const seqs: number[] = [];
          const meta: Uint32Array[] = [];
          let wakes = 0;
          const ring = rx.receive("packets", (err) => {
            assert.equal(err, null);
            wakes++;
            drainSeqs(ring, family, seqs, meta);
          });
          const want = Array.from({ length: 300 }, (_, i) => i);
          for (let i = 0; i < want.length; i += 50) w.ping(tx, family, want.slice(i, i + 50));
          await until(() => seqs.length >= want.length);
          assert.deepEqual(seqs, want);
          assert.ok(wakes >= 1 && wakes <= want.length, `wakes ${wakes}`);
          for (const m of meta) {
            assert.ok(m[1]! & META_HAS_TIMESTAMP, "RX timestamp");
            assert.deepEqual(new Uint8Array(m.buffer, m.byteOffset + 16, lo.length), lo);
          }
        } finally {
          tx.close();
          rx.close();
        }
      });

      test("TX timestamps: one record per packet sent, with the id the send returned", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        try {
          const got: number[] = [];
          const ring = tx.receive("timestamps", () => {
            const n = ring.ready();
            for (let k = 0; k < n; k++) {
              const o = ring.offset(k) / 4;
              assert.ok(ring.words[o + 1]! & META_HAS_TIMESTAMP);
              got.push(ring.words[o]!);
            }
            ring.release(n);
          });
          assert.equal(ring.metaWords, TX_TS_WORDS);
          const ids = w.ping(tx, family, [1, 2, 3, 4, 5, 6, 7, 8]);
          await until(() => got.length >= ids.length);
          assert.deepEqual(got, ids);
        } finally {
          tx.close();
        }
      });

      test("send thread: a result per packet, then its TX timestamp, in order; sendBatch is refused meanwhile", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        const rx = w.socks.openRx(family, proto);
        try {
          rx.attachFilter(icmpTypesFilter(family, reply, reply));
          const records = recordSends(tx);
          const seqs = [1, 2, 3, 4, 5];
          const batch = echoBatch(family, seqs, IDENT);
          assert.equal(tx.submit(batch, 0, 3, 7), true);
          assert.equal(tx.submit(batch, 3, 2, 8), true);
          assert.throws(() => tx.sendBatch(batch, 0, 1, new Uint32Array(2)), { sysCode: "EBUSY" });
          await until(() => records.filter((r) => r[0] === SENT_TXTS).length >= seqs.length);
          const results = records.filter((r) => r[0] === SENT_RESULT);
          assert.deepEqual(
            results.map((r) => [r[1], r[2], r[3]]),
            [
              [7, 0, 0],
              [7, 1, 0],
              [7, 2, 0],
              [8, 0, 0],
              [8, 1, 0],
            ],
          );
          const ids = results.map((r) => r[4]!);
          const stamps = records.filter((r) => r[0] === SENT_TXTS);
          assert.deepEqual(
            stamps.map((r) => r[1]),
            ids,
          );
          for (const r of stamps) assert.ok(r[2]! & META_HAS_TIMESTAMP);
          // every timestamp comes after the result that names its id
          for (const id of ids) {
            const at = (t: number) =>
              records.findIndex((r) => r[0] === t && r[t === SENT_RESULT ? 4 : 1] === id);
            assert.ok(at(SENT_RESULT) < at(SENT_TXTS), `id ${id}`);
          }
        } finally {
          tx.close();
          rx.close();
        }
      });

      test("send thread flush: a SENT_FLUSH record with the call's number, after every TX timestamp queued before the call", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        try {
          const records = recordSends(tx);
          const seqs = [1, 2, 3, 4, 5];
          const batch = echoBatch(family, seqs, IDENT);
          assert.equal(tx.submit(batch, 0, seqs.length, 9), true);
          // the results are in: the kernel queued the timestamps during the sends, before the call
          await until(() => records.filter((r) => r[0] === SENT_RESULT).length === seqs.length);
          const first = tx.flushSender();
          await until(() => records.some((r) => r[0] === SENT_FLUSH && r[1] === first));
          const at = records.findIndex((r) => r[0] === SENT_FLUSH && r[1] === first);
          assert.ok(at >= 0, "the flush was answered");
          assert.equal(records.slice(0, at).filter((r) => r[0] === SENT_TXTS).length, seqs.length);
          assert.deepEqual(records[at], [SENT_FLUSH, first, 0, 0, 0, 0]);
          // an idle thread answers the next call too, with its own number
          const second = tx.flushSender();
          assert.equal(second, first + 1);
          await until(() => records.some((r) => r[0] === SENT_FLUSH && r[1] === second));
          assert.ok(records.some((r) => r[0] === SENT_FLUSH && r[1] === second));
        } finally {
          tx.close();
        }
      });

      test("receive barrier: a starved thread (OPEN_SLOW_RECEIVE) reads its socket when asked, and publishes the number after the packets", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        const rx = w.socks.openRx(family, proto, { extraFlags: OPEN_SLOW_RECEIVE });
        try {
          rx.attachFilter(icmpTypesFilter(family, reply, reply));
          await sleep(20);
          let wakes = 0;
          const ring = rx.receive("packets", () => {
            wakes++;
          });
          const seqs = [11, 12, 13, 14, 15];
          w.ping(tx, family, seqs);
          await sleep(50);
          assert.equal(ring.ready(), 0, "starved: the replies wait in the socket (2 s)");
          assert.equal(ring.flushed(), 0);
          const first = rx.flushReceiver();
          await until(() => ring.flushed() === first);
          assert.equal(ring.flushed(), first, "the barrier was answered");
          await until(() => wakes > 0);
          assert.ok(wakes > 0, "with a wake");
          const got: number[] = [];
          drainSeqs(ring, family, got);
          assert.deepEqual(got, seqs, "every packet queued before the call precedes the answer");
          // an idle thread (empty socket, asleep in poll) answers the next one too, with its own number
          const second = rx.flushReceiver();
          assert.equal(second, first + 1);
          await until(() => ring.flushed() === second);
          assert.equal(ring.flushed(), second);
          assert.equal(ring.ready(), 0);
        } finally {
          tx.close();
          rx.close();
        }
      });

      test("a full ring loses nothing: the thread waits for JS and counts the waits", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        const rx = w.socks.openRx(family, proto);
        try {
          rx.attachFilter(icmpTypesFilter(family, reply, reply));
          const seqs: number[] = [];
          let hold = true;
          const ring = rx.receive(
            "packets",
            () => {
              if (!hold) drainSeqs(ring, family, seqs);
            },
            { slots: 4 },
          );
          const want = Array.from({ length: 40 }, (_, i) => i);
          w.ping(tx, family, want);
          await until(() => ring.ready() === 4 && ring.fullWaits() > 0);
          assert.equal(ring.ready(), 4);
          assert.ok(ring.fullWaits() > 0, "full waits counted");
          hold = false;
          drainSeqs(ring, family, seqs);
          await until(() => seqs.length >= want.length);
          assert.deepEqual(seqs, want);
          assert.equal(rx.kernelDrops(), 0);
        } finally {
          tx.close();
          rx.close();
        }
      });

      test("one thread per socket; stop and close join it and are idempotent; no callback after close", async () => {
        const w = make();
        const tx = w.socks.openTx(family);
        const rx = w.socks.openRx(family, proto);
        rx.attachFilter(icmpTypesFilter(family, reply, reply));
        let calls = 0;
        const ring = rx.receive("packets", () => {
          calls++;
        });
        assert.throws(() => rx.receive("packets", () => {}), { sysCode: "EBUSY" });
        rx.stopReceiver();
        rx.stopReceiver();
        // a stopped receiver can be started again
        const ring2 = rx.receive("packets", () => {
          calls++;
        });
        w.ping(tx, family, [1, 2, 3]);
        rx.close(); // while packets may be arriving
        rx.close();
        const before = calls;
        await sleep(30);
        assert.equal(calls, before);
        assert.equal(ring.ready() >= 0 && ring2.ready() >= 0, true); // the memory stays readable
        assert.throws(() => rx.receive("packets", () => {}), { sysCode: "EBADF" });
        tx.close();
      });

      test("arguments are checked before the thread starts", () => {
        const w = make();
        const rx = w.socks.openRx(family, proto);
        try {
          assert.throws(() => rx.receive("packets", () => {}, { slots: 3 }), RangeError);
          assert.throws(() => rx.receive("packets", () => {}, { slotBytes: 0 }), RangeError);
          assert.throws(() => rx.receive("bytes" as "packets", () => {}), TypeError);
        } finally {
          rx.close();
        }
      });
    });
  }
}

contract("fake addon", fakeWorld);
contract("real addon (needs root, lab namespace)", realWorld);

describe("receive and send threads, real only (needs root, lab namespace)", () => {
  /** Names of this process's threads (/proc/self/task/TID/comm). */
  const threadNames = () =>
    readdirSync("/proc/self/task").flatMap((t) => {
      try {
        return [readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim()];
      } catch {
        return []; // exited meanwhile
      }
    });

  test("the addon's threads are named npf-recv, npf-txts and npf-send while they run (needs root)", () => {
    const w = realWorld();
    const tx4 = w.socks.openTx(4);
    const tx6 = w.socks.openTx(6);
    const rx = w.socks.openRx(4, IPPROTO.ICMP);
    try {
      rx.receive("packets", () => {});
      tx4.receive("timestamps", () => {});
      tx6.startSender(() => {});
      const names = threadNames();
      for (const n of ["npf-recv", "npf-txts", "npf-send"])
        assert.ok(names.includes(n), `${n} in ${names.join(",")}`);
    } finally {
      for (const s of [tx4, tx6, rx]) s.close();
    }
    assert.ok(!threadNames().some((n) => n.startsWith("npf-")), "joined on close");
  });

  // The receive thread reads again only 1 ms (COALESCE_NS, native/recv.c) after a read that did not
  // fill its vector, so a trickle of replies costs one read and one wake of JS per millisecond, not
  // per reply. Load can only lengthen the measured gap: the second request is sent from the callback
  // that saw the first reply, so after the thread's first read, and its reply is read no sooner than
  // 1 ms after that read.
  test("after a read that did not fill its vector, the receive thread waits 1 ms before the next (needs root)", async () => {
    const w = realWorld();
    const tx = w.socks.openTx(4);
    const rx = w.socks.openRx(4, IPPROTO.ICMP);
    try {
      rx.attachFilter(icmpTypesFilter(4, 0, 0));
      await sleep(20); // RX timestamping is switched on lazily by the kernel
      const seqs: number[] = [];
      let sentA = 0n;
      const gapsUs: number[] = [];
      const ring = rx.receive("packets", () => {
        drainSeqs(ring, 4, seqs);
        const last = seqs.at(-1)!;
        if (last % 2 === 0)
          w.ping(tx, 4, [last + 1]); // the first reply of a pair: ask for the second now
        else gapsUs.push(Number(process.hrtime.bigint() - sentA) / 1000);
      });
      for (let round = 0; round < 3; round++) {
        await sleep(5); // the thread back in poll(): each pair starts from an idle socket
        sentA = process.hrtime.bigint();
        w.ping(tx, 4, [2 * round]);
        await until(() => seqs.length === 2 * round + 2);
      }
      assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5]);
      for (const g of gapsUs)
        assert.ok(g >= 1000, `second reply seen ${g.toFixed(0)} us after the first request`);
    } finally {
      tx.close();
      rx.close();
    }
  });
});

describe("receive thread lifetime (needs root, lab namespace)", () => {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const rawsock = new URL("../../src/native/rawsock.js", import.meta.url).href;
  // Flood loopback with echo requests answered into a running receiver, then leave without closing.
  const body = `
    const { RawSockets, IPPROTO, SEND_RESULT_WORDS } = await import(${JSON.stringify(rawsock)});
    const socks = new RawSockets();
    const tx = socks.openTx(4);
    const rx = socks.openRx(4, IPPROTO.ICMP);
    const ring = rx.receive("packets", () => ring.release(ring.ready()));
    const txRing = tx.receive("timestamps", () => txRing.release(txRing.ready()));
    const pkt = new Uint8Array(36);
    pkt.set([0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 8]);
    const records = Uint32Array.of(0, 36, 0, 0);
    const addresses = new Uint8Array(16); addresses.set([127, 0, 0, 1]);
    const res = new Uint32Array(SEND_RESULT_WORDS);
    for (let i = 0; i < 2000; i++) tx.sendBatch({ data: pkt, records, addresses }, 0, 1, res);
  `;

  test("the process exits cleanly with threads still receiving (needs root)", () => {
    assertLab();
    const r = spawnSync(
      process.execPath,
      ["--input-type=module", "-e", `${body}\nsetTimeout(() => process.exit(0), 20);`],
      { cwd: here, encoding: "utf8", timeout: 20000 },
    );
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    assert.equal(r.signal, null);
  });

  test("a worker with threads still receiving exits cleanly, and so does the process (needs root)", async () => {
    assertLab();
    const worker = new Worker(`(async () => { ${body} })().then(() => process.exit(0));`, { eval: true });
    const errors: Error[] = [];
    worker.on("error", (e) => errors.push(e));
    const code = await new Promise<number>((r) => worker.on("exit", r));
    assert.deepEqual(errors, []);
    assert.equal(code, 0);
  });
});
