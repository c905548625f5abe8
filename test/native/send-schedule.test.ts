// The send thread's schedule (native/send.c), on real raw sockets to loopback: a batch submitted with
// a time leaves no earlier than its scheduled gap after the batch before it (minus the thread's slack,
// RS_PACE_SLACK_NS), even when the thread was held back (the test-only OPEN_STALL_SEND_ONCE stalls it
// 100 ms after its first batch, as a busy machine's scheduler does), so that batches queued meanwhile
// leave spaced, not back to back; flushes and close() are answered while it waits. Gaps are measured
// between kernel TX timestamps, so only lower bounds are asserted: load can only lengthen them.
// Needs root; runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  monotonicNs,
  OPEN_STALL_SEND_ONCE,
  type RawSocket,
  RawSockets,
  SENT_FLUSH,
  SENT_RESULT,
  SENT_TXTS,
} from "../../src/native/rawsock.js";
import { assertLab, echoBatch, recordSends, sleep } from "./lab.js";

const IDENT = 0x5a18;
/** RS_PACE_SLACK_NS in ms: a batch's sends may end this late without moving the schedule. */
const SLACK_MS = 0.5;

/** Submits one echo request per entry, scheduled `ms` after now; resolves with each one's TX timestamp (ns). */
async function scheduled(tx: RawSocket, plan: { ms: number; fresh?: boolean }[]): Promise<number[]> {
  const records = recordSends(tx);
  const t0 = monotonicNs();
  plan.forEach((p, k) => {
    assert.ok(tx.submit(echoBatch(4, [k], IDENT), 0, 1, k + 1, t0 + p.ms * 1e6, p.fresh ?? k === 0));
  });
  const done = () => records.filter((r) => r[0] === SENT_TXTS).length >= plan.length;
  for (let waited = 0; !done() && waited < 10_000; waited += 10) await sleep(10);
  const idOf = new Map<number, number>();
  for (const r of records) if (r[0] === SENT_RESULT && r[3] === 0) idOf.set(r[4]!, r[1]! - 1);
  const ts: number[] = new Array(plan.length);
  for (const r of records) if (r[0] === SENT_TXTS) ts[idOf.get(r[1]!)!] = r[3]! * 1e9 + r[4]!;
  assert.equal(ts.filter((x) => x !== undefined).length, plan.length, "a TX timestamp per packet");
  return ts;
}

const gapsMs = (ts: number[]) => ts.slice(1).map((t, k) => (t - ts[k]!) / 1e6);

describe("the send thread's schedule (needs root, lab namespace)", () => {
  test("scheduled batches leave at least their scheduled gaps apart (needs root)", async () => {
    assertLab();
    const tx = new RawSockets().openTx(4);
    try {
      const ts = await scheduled(tx, [{ ms: 0 }, { ms: 20 }, { ms: 45 }]);
      const [ab, bc] = gapsMs(ts);
      assert.ok(ab! >= 20 - SLACK_MS, `A to B ${ab} ms`);
      assert.ok(bc! >= 25 - SLACK_MS, `B to C ${bc} ms`);
    } finally {
      tx.close();
    }
  });

  test("a thread stalled 100 ms after its first batch sends the batches queued meanwhile their scheduled gaps apart, not back to back (needs root)", async (t) => {
    assertLab();
    const tx = new RawSockets().openTx(4, { extraFlags: OPEN_STALL_SEND_ONCE });
    try {
      const ts = await scheduled(tx, [{ ms: 0 }, { ms: 20 }, { ms: 40 }, { ms: 60 }]);
      const gaps = gapsMs(ts);
      t.diagnostic(`gaps ${gaps.map((g) => g.toFixed(3)).join(", ")} ms`);
      assert.ok(gaps[0]! >= 99, `the stall: ${gaps[0]} ms`);
      // B, C and D all waited in the queue during the stall; B left 80 ms late, which delays C and D
      for (const g of gaps.slice(1)) assert.ok(g >= 20 - SLACK_MS, `gaps ${gaps.join(", ")} ms`);
    } finally {
      tx.close();
    }
  });

  test("a flush asked while the thread waits for a batch's time is answered before that batch leaves (needs root)", async () => {
    assertLab();
    const tx = new RawSockets().openTx(4);
    try {
      const records = recordSends(tx);
      assert.ok(tx.submit(echoBatch(4, [0], IDENT), 0, 1, 1, monotonicNs() + 1e9, true));
      const n = tx.flushSender();
      for (let waited = 0; !records.some((r) => r[0] === SENT_RESULT) && waited < 10_000; waited += 10)
        await sleep(10);
      const flush = records.findIndex((r) => r[0] === SENT_FLUSH && r[1] === n);
      const result = records.findIndex((r) => r[0] === SENT_RESULT);
      assert.ok(flush >= 0 && result > flush, `flush at ${flush}, result at ${result}`);
    } finally {
      tx.close();
    }
  });

  test("close() does not wait for a batch scheduled a minute ahead (needs root)", async () => {
    assertLab();
    const tx = new RawSockets().openTx(4);
    const records = recordSends(tx);
    assert.ok(tx.submit(echoBatch(4, [0], IDENT), 0, 1, 1, monotonicNs() + 60e9, true));
    await sleep(10);
    const t0 = monotonicNs();
    tx.close();
    const ms = (monotonicNs() - t0) / 1e6;
    assert.ok(ms < 30_000, `close took ${ms} ms`);
    assert.equal(records.filter((r) => r[0] === SENT_RESULT).length, 0, "the batch never left");
  });
});
