// When probes are about to expire, the engine first handles what the receive threads read and asks
// them for a barrier (they read their sockets now), so a late receive thread never turns an answer
// into loss; and where both kernel timestamps are known, the kernel's clocks say whether a reply came
// within the timeout. Fake sockets: OPEN_SLOW_RECEIVE makes the fake's receive threads read nothing
// until asked for a barrier (a starved thread), answerEverySend answers with the fake clock's RTT.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Engine } from "../../src/engine/engine.js";
import { answerEverySend } from "../../src/engine/fake-answers.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import type { FakeBinding } from "../../src/native/fake.js";
import {
  type Family,
  OPEN_SLOW_RECEIVE,
  type OpenOptions,
  type RawSocket,
  RawSockets,
} from "../../src/native/rawsock.js";
import { fakeEngine, twoAddressTarget } from "../support/fake-engine.js";

/** The fake's RX sockets with starved receive threads. */
class Starved extends RawSockets {
  override openRx(family: Family, protocol: number, options: Partial<OpenOptions> = {}): RawSocket {
    return super.openRx(family, protocol, { ...options, extraFlags: OPEN_SLOW_RECEIVE });
  }
}

/** The fake's RX sockets, whose receive threads never answer a barrier (a wedged thread). */
class Mute extends RawSockets {
  override openRx(family: Family, protocol: number, options: Partial<OpenOptions> = {}): RawSocket {
    const s = super.openRx(family, protocol, options);
    s.flushReceiver = () => 7;
    return s;
  }
}

const targets: PlanTargetInput[] = (["ICMPping", "TCPsyn"] as const).flatMap((type) =>
  (["ipv4", "ipv6"] as const).map((family) =>
    twoAddressTarget(`${type}-${family}`, type, family, { nbPackets: 5, dstPort: 80, timeout: 0.05 }),
  ),
);

async function run(sockets: (fake: FakeBinding) => RawSockets, rttNs: bigint | null) {
  const { fake, engine } = fakeEngine({}, sockets);
  // null: nothing answers
  const net = rttNs === null ? undefined : answerEverySend(fake, rttNs);
  try {
    return await engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
  } finally {
    net?.stop();
    engine.close();
  }
}

const tally = (r: Awaited<ReturnType<typeof run>>) =>
  r.series.reduce(
    (t, s) => [t[0]! + s.sent, t[1]! + s.lost, t[2]! + s.late, t[3]! + s.rtts.length],
    [0, 0, 0, 0],
  );

describe("expiry after a receive barrier; the kernel's clocks judge (fake sockets)", () => {
  test("replies left in starved receive threads' sockets at the deadline: the barrier reads them, every probe answered", async () => {
    const r = await run((fake) => new Starved(fake), 50_000n);
    assert.deepEqual(tally(r), [40, 0, 0, 40], "[sent, lost, late, RTT samples]");
    assert.equal(r.faults.get("receive") ?? 0, 0);
  });

  test("replies whose kernel RTT exceeds the timeout are late, though read before the JS clock's deadline", async () => {
    // 80 ms on the fake clock for a 50 ms timeout, delivered at once on the event loop
    const r = await run((fake) => new RawSockets(fake), 80_000_000n);
    assert.deepEqual(tally(r), [40, 40, 40, 0], "[sent, lost, late, RTT samples]");
  });

  test("a receive thread that never answers the barrier holds no iteration: the probes expire after 1 s, a receive fault counted", async () => {
    const r = await run((fake) => new Mute(fake), null);
    assert.deepEqual(tally(r), [40, 40, 0, 0], "[sent, lost, late, RTT samples]");
    // One fault per barrier the mute threads left unanswered: the first waits the guard's second,
    // later ones (probes due in later turns of the event loop) do not wait for them again.
    const faults = r.faults.get("receive") ?? 0;
    assert.ok(faults >= 1 && faults <= 40, `receive faults: ${faults}`);
    assert.ok(r.durationMs < 1900, `one guard's wait, not two: ${r.durationMs} ms`);
    assert.equal(r.timedOut, false);
  });

  test("after a receive thread left a barrier unanswered, later barriers do not wait for it: the guard's second once, a fault each time", async () => {
    const { engine } = fakeEngine({}, (fake) => new Mute(fake));
    try {
      const plan = buildPlan(targets, () => assert.fail("sources are fixed"));
      const first = await engine.run(plan);
      assert.ok(first.durationMs >= 1000, `the first iteration waits the guard: ${first.durationMs} ms`);
      const second = await engine.run(plan, 1);
      assert.deepEqual(tally(second), [40, 40, 0, 0], "[sent, lost, late, RTT samples]");
      // Before: every barrier waited the guard's full second again for the same mute thread.
      assert.ok(second.durationMs < 900, `the second iteration waits no guard: ${second.durationMs} ms`);
      assert.ok((second.faults.get("receive") ?? 0) >= 1, "the mute thread still counted");
      assert.equal(second.timedOut, false);
    } finally {
      engine.close();
    }
  });
});

describe("the receive barrier guards itself (Engine.flushReceivers)", () => {
  const receiveFaults = (engine: Engine) => engine.takeForeign().faults.get("receive") ?? 0;
  /** Asks for a barrier; resolves at its first done, with a count of every done so far and later. */
  const flushed = async (engine: Engine) => {
    const seen = { calls: 0 };
    await new Promise<void>((resolve) =>
      engine.flushReceivers(() => {
        seen.calls++;
        resolve();
      }),
    );
    return seen;
  };

  test("threads that never answer: done is called once, after the guard's second, with a receive fault", async () => {
    const { engine } = fakeEngine({}, (fake) => new Mute(fake));
    try {
      const t0 = performance.now();
      const seen = await flushed(engine);
      const ms = performance.now() - t0;
      assert.ok(ms >= 990 && ms < 1600, `done after the guard: ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.calls, 1, "done exactly once");
      assert.equal(receiveFaults(engine), 1);
    } finally {
      engine.close();
    }
  });

  test("threads that answer: done without a fault, and the guard does not fire later", async () => {
    const { engine } = fakeEngine({});
    try {
      const seen = await flushed(engine);
      await new Promise((r) => setTimeout(r, 1100));
      assert.deepEqual([seen.calls, receiveFaults(engine)], [1, 0]);
    } finally {
      engine.close();
    }
  });

  test("the engine closed while a barrier waits: its guard is dropped, done never called", async () => {
    const { engine } = fakeEngine({}, (fake) => new Mute(fake));
    let calls = 0;
    engine.flushReceivers(() => calls++);
    engine.close();
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(calls, 0);
  });
});
