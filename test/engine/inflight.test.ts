// The in-flight table: O(1) key -> probe, late and duplicate replies, deadlines per timeout value.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InFlight, KeyCounter, ProbeState } from "../../src/engine/inflight.js";

describe("KeyCounter", () => {
  test("consecutive iterations get disjoint key ranges, wrapping at 2^32", () => {
    const c = new KeyCounter(2 ** 32 - 2);
    assert.equal(c.reserve(3), 2 ** 32 - 2);
    assert.equal(c.reserve(1), 1);
  });
});

describe("InFlight", () => {
  test("a key maps back to its probe, across the 2^32 wrap; foreign keys map to -1", () => {
    const f = new InFlight(2 ** 32 - 1, 3, () => 1000);
    assert.equal(f.keyOf(0), 2 ** 32 - 1);
    assert.equal(f.keyOf(2), 1);
    assert.equal(f.indexOf(1), 2);
    assert.equal(f.indexOf(2), -1);
    assert.equal(f.indexOf(2 ** 32 - 2), -1);
  });

  test("first reply matches, second is a duplicate, reply after timeout is late (probe stays lost)", () => {
    const f = new InFlight(100, 2, () => 1000);
    f.markSent(0, 0);
    f.markSent(1, 0);
    assert.equal(f.reply(0, 5), "matched");
    assert.equal(f.reply(0, 6), "duplicate");
    assert.equal(f.expire(999), 0);
    assert.equal(f.expire(1000), 1);
    assert.equal(f.reply(1, 7), "late");
    assert.deepEqual([f.answered, f.timedOut, f.late, f.duplicates, f.pending], [1, 1, 1, 1, 0]);
    assert.equal(f.state[1], ProbeState.TimedOut);
  });

  test("a reply for a probe never sent, or whose send failed, is unknown", () => {
    const f = new InFlight(0, 2, () => 10);
    f.markSendFailed(1);
    assert.equal(f.reply(0, 1), "unknown");
    assert.equal(f.reply(1, 1), "unknown");
    assert.equal(f.sendFailed, 1);
  });

  test("each probe waits its own timeout after its own send", () => {
    const timeouts = [100, 50, 100];
    const f = new InFlight(0, 3, (i) => timeouts[i]!);
    f.markSent(0, 0);
    f.markSent(1, 10);
    f.markSent(2, 20);
    assert.equal(f.nextDeadline(), 60);
    assert.equal(f.expire(60), 1);
    assert.equal(f.state[1], ProbeState.TimedOut);
    assert.equal(f.nextDeadline(), 100);
    f.reply(0, 1);
    assert.equal(f.nextDeadline(), 120);
    assert.equal(f.expire(119), 0);
    assert.equal(f.expire(120), 1);
    assert.equal(f.nextDeadline(), undefined);
  });

  test("expiry follows send order with interleaved timeouts, skips, failures and refills", () => {
    // Runs of one timeout alternate (the deadline queues keep runs of consecutive indexes), some
    // probes fail to send, some are answered: exactly the pending ones expire, each at its deadline.
    const n = 10_000;
    const timeoutOf = (i: number) => (Math.floor(i / 7) % 3 === 0 ? 30 : 100);
    const f = new InFlight(0, n, timeoutOf);
    const sentAt = (i: number) => Math.floor(i / 64); // one batch of 64 per ms
    for (let i = 0; i < n; i++) {
      if (i % 11 === 5) f.markSendFailed(i);
      else f.markSent(i, sentAt(i));
    }
    for (let i = 0; i < n; i += 13) f.reply(i, 1);
    const expected = (now: number) => {
      let c = 0;
      for (let i = 0; i < n; i++) if (i % 11 !== 5 && i % 13 !== 0 && sentAt(i) + timeoutOf(i) <= now) c++;
      return c;
    };
    let expired = 0;
    for (let now = 0; now <= 300; now += 17) {
      expired += f.expire(now);
      assert.equal(expired, expected(now), `at ${now} ms`);
      const next = f.nextDeadline();
      if (next !== undefined) assert.ok(next > now);
    }
    assert.equal(f.pending, 0);
    assert.equal(f.nextDeadline(), undefined);
    // The queues empty out and start again (a probe marked sent later, as after a retry).
    const g = new InFlight(0, 4, () => 10);
    g.markSent(0, 0);
    assert.equal(g.expire(10), 1);
    g.markSent(2, 20);
    g.markSent(3, 20);
    assert.equal(g.nextDeadline(), 30);
    assert.equal(g.expire(30), 2);
  });

  test("RTT from kernel timestamps; missing timestamp: no sample", () => {
    const f = new InFlight(0, 2, () => 1000);
    f.markSent(0, 0);
    f.markSent(1, 0);
    f.setTx(0, 1_000_000_000);
    f.reply(0, 1_000_250_000);
    f.reply(1, 5);
    assert.equal(f.rttNs(0), 250_000);
    assert.ok(Number.isNaN(f.rttNs(1)));
  });

  test("RTTs exact at the 32-bit limits and past them, in any order of TX and RX times", () => {
    // ns since the engine's epoch after a day; RTTs around what a 32-bit cell holds (2^32 - 3 ns at
    // most), negative, fractional and seconds long; the answer before or after its TX timestamp.
    const tx = 86_400e9 + 123_456_789;
    const rtts = [
      0,
      1,
      250_000,
      2 ** 32 - 4,
      2 ** 32 - 3,
      2 ** 32 - 2,
      2 ** 32 - 1,
      2 ** 32,
      5e9,
      3600e9,
      -1,
      -5e9,
      0.5,
    ];
    for (const order of ["tx first", "rx first", "replyAt"] as const) {
      const f = new InFlight(0, rtts.length, () => 10_000_000);
      rtts.forEach((rtt, i) => {
        f.markSent(i, 0);
        const rx = tx + rtt;
        if (order === "rx first") {
          f.reply(i, rx);
          assert.ok(Number.isNaN(f.rttNs(i)) && Number.isNaN(f.txAt(i)), `${order} ${rtt}: no RTT yet`);
          assert.equal(f.rxAt(i), rx);
          f.setTx(i, tx);
        } else {
          f.setTx(i, tx);
          if (order === "replyAt" && Number.isInteger(rx)) f.replyAt(i, Math.floor(rx / 1e9), rx % 1e9);
          else f.reply(i, rx);
        }
        assert.equal(f.rttNs(i), rtt, `${order}: RTT ${rtt}`);
        assert.deepEqual([f.txAt(i), f.rxAt(i)], [tx, rx], `${order}: times of RTT ${rtt}`);
      });
      assert.equal(f.awaitingTx, 0, order);
      // A second TX timestamp for a timed probe: the RTT follows it, the RX time stays.
      f.setTx(3, tx - 10);
      assert.deepEqual([f.rttNs(3), f.rxAt(3)], [2 ** 32 - 4 + 10, tx + 2 ** 32 - 4]);
      f.setTx(10, tx + 2);
      assert.deepEqual([f.rttNs(10), f.rxAt(10)], [-3, tx - 1]);
    }
  });

  test("an answer without an RX timestamp: no RTT, whenever its TX timestamp comes", () => {
    const f = new InFlight(0, 2, () => 1000);
    f.markSent(0, 0);
    f.markSent(1, 0);
    f.replyAt(0, 5, -1);
    assert.equal(f.awaitingTx, 1);
    f.setTx(0, 1e9);
    f.setTx(1, 1e9);
    f.replyAt(1, 5, -1);
    assert.equal(f.awaitingTx, 0);
    for (const i of [0, 1])
      assert.deepEqual([f.txAt(i), f.rxAt(i), f.rttNs(i)], [1e9, Number.NaN, Number.NaN]);
  });

  test("deadlines from 32-bit send times are never early, late by at most 2^-22 of the time since the first send", () => {
    const start = 123_456.789;
    const hour = 3_600_000;
    const f = new InFlight(0, 3, () => 1000);
    const sends = [start, start + hour + 0.3337, start + hour + 0.9999];
    for (const [i, t] of sends.entries()) f.markSent(i, t);
    sends.forEach((t, i) => {
      // 0.5 ms at most an hour in (float32 offsets); the expiry timer's own resolution is 1 ms
      const late = f.sentAt(i) - t;
      assert.ok(late >= 0 && late <= (t - start) * 2 ** -22 + 1e-9, `send ${i}: ${late} ms late`);
    });
    assert.equal(f.expire(start + 1000 - 1e-6), 0);
    assert.equal(f.expire(start + 1000), 1);
    assert.equal(f.expire(sends[1]! + 1000 - 1e-6), 0);
    assert.ok(f.nextDeadline()! >= sends[1]! + 1000);
    assert.equal(f.expire(sends[2]! + 1000 + 1), 2);
  });

  test("22 bytes per probe: state, TX time, a 32-bit RTT, ICMP error, reply TTL, a 32-bit send time", () => {
    // Was 30 (float64 RX and send times): 8 MB more at a million probes.
    const before = process.memoryUsage().arrayBuffers;
    const f = new InFlight(0, 1_000_000, () => 1000);
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.ok(grew <= 22 * 1_000_000 + 4096, `${grew} bytes`);
    assert.equal(f.count, 1_000_000);
  });
});
