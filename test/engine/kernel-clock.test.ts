// Where both kernel timestamps are known, the kernel's clocks say whether a reply came within its
// probe's timeout (InFlight.lateByKernel, then replyAt, as the engine calls them): the JS thread's
// clock, late under load, no longer decides alone (docs/engine.md, "whose clock decides").
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InFlight, ProbeState, type ReplyVerdict } from "../../src/engine/inflight.js";

// timeout 100 ms; TX at 1 s (ns since the epoch); replies at 1.05 s (in time) or 1.2 s (not)
const TX = 1_000_000_000;

function sent(n = 1): InFlight {
  const f = new InFlight(0, n, () => 100);
  for (let i = 0; i < n; i++) {
    f.markSent(i, 0);
    f.setTx(i, TX);
  }
  return f;
}

/** A reply as the engine hands it over: RX time as (seconds since the epoch, ns; -1: none). */
function reply(f: InFlight, i: number, sec: number, nsec: number, open: boolean): ReplyVerdict {
  return f.lateByKernel(i, sec, nsec, open) ? "late" : f.replyAt(i, sec, nsec);
}

describe("the kernel's clocks judge a reply where both timestamps are known", () => {
  test("a reply in time for a probe the JS clock expired answers it while the iteration is open", () => {
    const f = sent();
    assert.equal(f.expire(500), 1);
    assert.equal(reply(f, 0, 1, 50_000_000, true), "matched");
    assert.deepEqual([f.answered, f.timedOut, f.late, f.pending], [1, 0, 0, 0]);
    assert.equal(f.state[0], ProbeState.Answered);
    assert.equal(f.rttNs(0), 50_000_000);
  });

  test("... and is late once the iteration was reported (not open)", () => {
    const f = sent();
    f.expire(500);
    assert.equal(reply(f, 0, 1, 50_000_000, false), "late");
    assert.deepEqual([f.answered, f.timedOut, f.late], [0, 1, 1]);
  });

  test("an unreachable probe (an error from elsewhere) answered in time by its destination is answered", () => {
    const f = sent();
    assert.equal(f.noteError(0, 3, 1), "noted");
    f.expire(500);
    assert.equal(f.state[0], ProbeState.Unreachable);
    assert.equal(reply(f, 0, 1, 99_000_000, true), "matched");
    assert.deepEqual([f.answered, f.unreachable, f.pending], [1, 0, 0]);
  });

  test("a reply after the timeout for a probe the JS clock had not expired yet is late: the probe ends lost", () => {
    const f = sent(2);
    assert.equal(reply(f, 0, 1, 200_000_000, true), "late");
    assert.deepEqual([f.answered, f.timedOut, f.late, f.pending], [0, 1, 1, 1]);
    assert.equal(f.state[0], ProbeState.TimedOut);
    // expiry skips it; a later copy is late again, never an answer
    assert.equal(f.expire(500), 1);
    assert.equal(reply(f, 0, 1, 300_000_000, true), "late");
    assert.deepEqual([f.timedOut, f.late], [2, 2]);
  });

  test("... or unreachable when an error from elsewhere came first", () => {
    const f = sent();
    f.noteError(0, 3, 1);
    assert.equal(reply(f, 0, 1, 200_000_000, true), "late");
    assert.deepEqual([f.unreachable, f.timedOut, f.late, f.pending], [1, 0, 1, 0]);
  });

  test("exactly at the timeout is in time", () => {
    assert.equal(reply(sent(), 0, 1, 100_000_000, true), "matched");
  });

  test("without the TX timestamp (not read yet) or the RX timestamp, the JS clock's verdict stands", () => {
    const f = new InFlight(0, 3, () => 100);
    for (let i = 0; i < 3; i++) f.markSent(i, 0);
    assert.equal(reply(f, 0, 5, 0, true), "matched", "pending, no TX: answered");
    f.expire(500);
    assert.equal(reply(f, 1, 1, 0, true), "late", "expired, no TX: late");
    f.setTx(2, TX);
    assert.equal(reply(f, 2, 0, -1, true), "late", "expired, no RX timestamp: late");
    assert.deepEqual([f.answered, f.timedOut, f.late], [1, 2, 2]);
  });
});
