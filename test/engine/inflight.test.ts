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
});
