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
