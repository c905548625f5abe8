// An iteration ends only once its answered probes' TX timestamps are in, or known lost: a reply can be
// read before its probe's TX timestamp (the send thread reports after its sends; the receive thread may
// be quicker), and an iteration that ended at its last reply or result summarized those answers as
// untimed (docs/performance.md). The fake's send threads model the orders the real ones produce.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Engine } from "../../src/engine/engine.js";
import { answerEverySend } from "../../src/engine/fake-answers.js";
import type { InFlight } from "../../src/engine/inflight.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import type { FakeBinding } from "../../src/native/fake.js";
import { fakeEngine, twoAddressTarget } from "../support/fake-engine.js";

const targets: PlanTargetInput[] = (["ipv4", "ipv6"] as const).map((family) =>
  twoAddressTarget(`ping-${family}`, "ICMPping", family, { nbPackets: 50, timeout: 5 }),
);

async function run(
  setup: (fake: FakeBinding) => void,
  during?: (fake: FakeBinding, engine: Engine) => Promise<void>,
) {
  const { fake, engine } = fakeEngine({ iterationLimitMs: 60_000 });
  setup(fake);
  const net = answerEverySend(fake, 50_000n);
  try {
    const ran = engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
    await during?.(fake, engine);
    const r = await ran;
    const untimed = r.series.reduce((n, s) => n + s.untimed, 0);
    const answered = r.series.reduce((n, s) => n + s.sent - s.lost - s.unreachable, 0);
    return { r, untimed, answered };
  } finally {
    net.stop();
    engine.close();
  }
}

/** Resolves once the running iteration has every probe answered (its replies handled). */
async function allAnswered(engine: Engine): Promise<void> {
  const inflight = () => (engine as unknown as { current: { inflight: InFlight } }).current.inflight;
  while (inflight().answered < inflight().count) await new Promise((r) => setImmediate(r));
}

describe("TX timestamps at an iteration's end (fake sockets)", () => {
  test("replies read before the send threads' reports: the results and the timestamps after them all count", async () => {
    const { r, untimed, answered } = await run(
      (fake) => {
        fake.holdSendReports = true;
      },
      async (fake, engine) => {
        await allAnswered(engine);
        fake.releaseSendReports();
      },
    );
    assert.equal(answered, 200);
    assert.equal(untimed, 0, "every answered probe has its TX timestamp");
    assert.equal(
      r.series.reduce((n, s) => n + s.rtts.length, 0),
      200,
    );
  });

  test("timestamps still in the error queue after the results and the replies: the iteration waits for the send threads' flush", async () => {
    const { r, untimed, answered } = await run((fake) => {
      fake.deferTxTimestamps = true;
    });
    assert.equal(answered, 200);
    assert.equal(untimed, 0);
    for (let i = 0; i < r.inflight.count; i++)
      assert.ok(!Number.isNaN(r.inflight.txAt(i)), `probe ${i} timed`);
  });

  test("timestamps the kernel lost: the iteration still ends once flushed, each answer counted untimed", async () => {
    const { r, untimed, answered } = await run((fake) => {
      fake.deferTxTimestamps = true;
      fake.dropTxTimestamps = true;
    });
    assert.equal(answered, 200);
    assert.equal(untimed, 200);
    assert.equal(r.timedOut, false);
    for (const s of r.series)
      assert.equal(s.sent - s.lost - s.unreachable, s.rtts.length + s.untimed + s.negativeRtt);
  });
});
