// Unit tests of src/native/: argument validation before C, errno -> typed errors, layout checks, and the
// in-memory fake used by engine tests. No privileges, no sockets.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ExitCode, NetprobifyError } from "../../src/errors.js";
import { FakeBinding, fakeErrnoError } from "../../src/native/fake.js";
import {
  allocRecvBuffers,
  checkLayout,
  diffNs,
  IPPROTO,
  META_HAS_HOP_LIMIT,
  META_HAS_TIMESTAMP,
  META_IPV6,
  META_TRUNCATED,
  metaHopLimit,
  NativeSocketError,
  POLL_ERRQUEUE,
  POLL_READABLE,
  RawSockets,
  SEND_RESULT_WORDS,
  TX_TS_WORDS,
  toTypedError,
  validateSend,
} from "../../src/native/rawsock.js";
import { pack } from "./lab.js";

const LO = Uint8Array.of(127, 0, 0, 1);

function setup() {
  const fake = new FakeBinding();
  return { fake, socks: new RawSockets(fake) };
}

describe("native: argument validation", () => {
  test("open rejects bad family, protocol, device and buffer sizes before C", () => {
    const { fake, socks } = setup();
    assert.throws(() => socks.open({ family: 5 as 4, protocol: 6 }), TypeError);
    assert.throws(() => socks.open({ family: 4, protocol: 256 }), RangeError);
    assert.throws(() => socks.open({ family: 4, protocol: 1.5 }), TypeError);
    assert.throws(() => socks.open({ family: 4, protocol: 6, device: "a-name-longer-than-15" }), TypeError);
    assert.throws(() => socks.open({ family: 4, protocol: 6, receiveBufferBytes: 0 }), RangeError);
    assert.equal(fake.sockets.length, 0, "nothing reached the binding");
  });

  test("openTx/openRx set the flags the addon expects", () => {
    const { fake, socks } = setup();
    socks.openTx(6);
    socks.openRx(4, IPPROTO.TCP, { device: "lo" });
    const [tx, rx] = fake.sockets;
    assert.deepEqual(
      [tx!.family, tx!.protocol, tx!.flags],
      [6, 255, 1 | 2 | 16],
      "IP_HDRINCL, TX timestamps, IPV6_RECVERR",
    );
    assert.deepEqual([rx!.family, rx!.protocol, rx!.flags, rx!.device], [4, 6, 4, "lo"]);
    assert.equal(rx!.receiveBuffer, fake.rmemMax * 2, "receive buffer applied at open");
  });

  test("sendBatch checks every record against data and addresses", () => {
    const batch = pack([new Uint8Array(28), new Uint8Array(40)], [LO, LO]);
    const res = new Uint32Array(4);
    validateSend(batch, 0, 2, res);
    assert.throws(() => validateSend(batch, 1, 2, res), /records hold 2 packets/);
    assert.throws(() => validateSend(batch, 0, 2, new Uint32Array(3)), /results needs 4 words/);
    assert.throws(() => validateSend(batch, 0, 2, new Int32Array(4) as unknown as Uint32Array), TypeError);
    const bad = { ...batch, records: batch.records.slice() };
    bad.records[5] = 1000;
    assert.throws(() => validateSend(bad, 0, 2, res), /record 1: packet \[28, 1028\)/);
    bad.records.set(batch.records);
    bad.records[6] = 2;
    assert.throws(() => validateSend(bad, 0, 2, res), /address index 2 >= 2/);
    assert.throws(() => validateSend(batch, -1, 1, res), RangeError);
  });

  test("recvBatch, readTxTimestamps and attachFilter reject wrong shapes", () => {
    const { socks } = setup();
    const s = socks.openRx(4, IPPROTO.ICMP);
    const b = allocRecvBuffers(4, 128);
    assert.throws(() => s.recvBatch(b, 5), /fewer than 5 slots/);
    assert.throws(() => s.recvBatch({ ...b, meta: new Uint32Array(8) }, 2), /meta holds fewer/);
    assert.throws(() => s.readTxTimestamps(new Uint32Array(3), 1), /fewer than 1 entries/);
    assert.throws(() => s.attachFilter(new Uint8Array(12)), /8 bytes/);
    assert.throws(() => s.attachFilter(new Uint8Array(0)), RangeError);
    assert.throws(() => s.poll("x" as never), TypeError);
    assert.throws(() => allocRecvBuffers(0), RangeError);
    assert.throws(() => allocRecvBuffers(2000), RangeError);
  });

  test("a closed socket refuses use with EBADF; close is idempotent", () => {
    const { socks } = setup();
    const s = socks.openRx(4, IPPROTO.ICMP);
    s.close();
    s.close();
    assert.equal(s.closed, true);
    assert.equal(s.fd(), -1);
    assert.throws(
      () => s.recvBatch(allocRecvBuffers(1)),
      (e: unknown) => {
        assert.ok(e instanceof NativeSocketError);
        assert.equal(e.sysCode, "EBADF");
        return true;
      },
    );
  });
});

describe("native: errno to typed errors", () => {
  test("EPERM/EACCES from socket() become NPF_NO_CAP_NET_RAW with exit code 77 and a how-to", () => {
    for (const errno of [1, 13]) {
      const e = toTypedError(fakeErrnoError(errno, "socket"));
      assert.ok(e instanceof NativeSocketError);
      assert.equal(e.code, "NPF_NO_CAP_NET_RAW");
      assert.equal(e.exitCode, ExitCode.NOPERM);
      assert.equal(e.errno, errno);
      assert.match(e.message, /CAP_NET_RAW/);
      assert.match(e.message, /setcap cap_net_raw\+ep/);
      assert.match(e.message, /AmbientCapabilities=CAP_NET_RAW/);
    }
  });

  test("other syscall errors become NPF_SOCKET carrying errno and syscall", () => {
    const e = toTypedError(fakeErrnoError(105, "recvmmsg"));
    assert.ok(e instanceof NativeSocketError);
    assert.equal(e.code, "NPF_SOCKET");
    assert.equal(e.errno, 105);
    assert.equal(e.syscall, "recvmmsg");
    assert.equal(e.sysCode, "ENOBUFS");
    const eperm = toTypedError(fakeErrnoError(1, "setsockopt(SO_ATTACH_FILTER)")) as NativeSocketError;
    assert.equal(eperm.code, "NPF_SOCKET", "EPERM elsewhere is not a capability problem");
  });

  test("errors without errno pass through unchanged", () => {
    const t = new TypeError("x");
    assert.equal(toTypedError(t), t);
    const n = new NetprobifyError(Code.NPF_SOCKET, "y");
    assert.equal(toTypedError(n), n);
  });

  test("opening through a binding without the capability throws the typed error", () => {
    const { fake, socks } = setup();
    fake.hasCapNetRaw = false;
    assert.throws(() => socks.openTx(4), { code: "NPF_NO_CAP_NET_RAW" });
  });

  test("checkLayout refuses an addon whose layout differs", () => {
    const fake = new FakeBinding();
    checkLayout(fake);
    assert.throws(() => checkLayout({ ...fake, RECV_META_WORDS: 6 }), { code: "NPF_NATIVE_UNAVAILABLE" });
    assert.throws(() => checkLayout({ ...fake, META_HOPLIMIT_SHIFT: 16 }), {
      code: "NPF_NATIVE_UNAVAILABLE",
    });
  });

  test("diffNs subtracts (sec, nsec) pairs exactly", () => {
    assert.equal(diffNs(1700000001, 5, 1700000000, 999_999_990), 15);
    assert.equal(diffNs(10, 0, 10, 250), -250);
  });
});

describe("native: in-memory fake", () => {
  test("records sent packets with ids and TX timestamps, and reports per-packet failures", () => {
    const { fake, socks } = setup();
    const tx = socks.openTx(4);
    const batch = pack([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), Uint8Array.of(6)], [LO, LO, LO]);
    fake.sendErrors.push(0, 101);
    const res = new Uint32Array(3 * SEND_RESULT_WORDS);
    assert.equal(tx.sendBatch(batch, 0, 3, res), 2);
    // Ids are per attempt, as the addon's SCM_TS_OPT_ID ids: the refused packet leaves a hole.
    assert.deepEqual([...res], [0, 0, 101, 0, 0, 2]);
    assert.deepEqual(
      fake.sent.map((p) => [[...p.bytes], [...p.dst], p.txId]),
      [
        [[1, 2, 3], [127, 0, 0, 1], 0],
        [[6], [127, 0, 0, 1], 2],
      ],
    );
    fake.dropTxTimestamps = true;
    fake.advance(1000);
    assert.equal(tx.sendBatch(batch, 1, 1, res), 1);
    const out = new Uint32Array(8 * TX_TS_WORDS);
    assert.equal(tx.readTxTimestamps(out), 3);
    const [s0, n0] = [out[2]!, out[3]!];
    assert.equal(out[1], META_HAS_TIMESTAMP);
    assert.deepEqual([out[8], out[9], out[10], out[11]], [3, 0, 0, 0], "missing timestamp flagged");
    assert.equal(diffNs(s0, n0, s0, n0), 0);
    assert.equal(tx.readTxTimestamps(out), 0);
  });

  test("injected packets come back with metadata, truncation, missing timestamps and drops", () => {
    const { fake, socks } = setup();
    fake.rxQueueLimit = 2;
    const rx6 = socks.openRx(6, IPPROTO.ICMPV6);
    const src = Uint8Array.from({ length: 16 }, (_, i) => i);
    assert.equal(fake.inject({ family: 6, protocol: 58, bytes: new Uint8Array(10).fill(7), src }), 1);
    assert.equal(
      fake.inject({ family: 6, protocol: 58, bytes: new Uint8Array(300), src, tsNs: null, hopLimit: 33 }),
      1,
    );
    assert.equal(fake.inject({ family: 6, protocol: 58, bytes: new Uint8Array(1), src }), 0, "queue full");
    assert.equal(
      fake.inject({ family: 4, protocol: 58, bytes: new Uint8Array(1), src: LO }),
      0,
      "other family",
    );
    assert.equal(rx6.kernelDrops(), 1);
    const b = allocRecvBuffers(4, 256);
    assert.equal(rx6.recvBatch(b), 2);
    assert.equal(rx6.rxDrops(), 1);
    // IPv6: every packet carries its hop limit (64 unless the injection says otherwise).
    assert.deepEqual(
      [...b.meta.subarray(0, 2)],
      [10, META_HAS_TIMESTAMP | META_IPV6 | META_HAS_HOP_LIMIT | (64 << 8)],
    );
    assert.equal(metaHopLimit(b.meta[1]!), 64);
    assert.equal(diffNs(b.meta[2]!, b.meta[3]!, 0, 0), Number(fake.clockNs));
    assert.deepEqual([...b.metaBytes.subarray(16, 32)], [...src]);
    assert.deepEqual(
      [...b.meta.subarray(8, 12)],
      [256, META_TRUNCATED | META_IPV6 | META_HAS_HOP_LIMIT | (33 << 8), 0, 0],
    );
    assert.equal(metaHopLimit(b.meta[9]!), 33);
    assert.equal(metaHopLimit(META_HAS_TIMESTAMP | (33 << 8)), 0, "no hop limit without its flag");
    assert.deepEqual([...b.data.subarray(0, 10)], new Array(10).fill(7));
  });

  test("poll fires while data or timestamps wait, and stops after stopPoll/close", async () => {
    const { fake, socks } = setup();
    const rx = socks.openRx(4, IPPROTO.ICMP);
    const tx = socks.openTx(4);
    const events: string[] = [];
    const b = allocRecvBuffers(8);
    rx.poll((err, ev) => {
      assert.equal(err, null);
      events.push(`rx:${ev}`);
      while (rx.recvBatch(b) > 0);
    });
    tx.poll((_err, ev) => {
      events.push(`tx:${ev}`);
      tx.stopPoll();
    });
    fake.inject({ family: 4, protocol: 1, bytes: new Uint8Array(28), src: LO });
    tx.sendBatch(pack([new Uint8Array(28)], [LO]), 0, 1, new Uint32Array(2));
    // The fake fires on setImmediate: an immediate queued after its own runs after it (a timer may
    // not: under load a 10 ms timer came first).
    const turn = () => new Promise((r) => setImmediate(r));
    await turn();
    assert.deepEqual(events.sort(), [`rx:${POLL_READABLE}`, `tx:${POLL_ERRQUEUE}`]);
    rx.close();
    fake.inject({ family: 4, protocol: 1, bytes: new Uint8Array(28), src: LO });
    await turn();
    await turn();
    assert.equal(events.length, 2);
  });
});
