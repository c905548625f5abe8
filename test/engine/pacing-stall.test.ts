// interval_packets per target when the JS thread stalls in the middle of a round larger than one send
// batch (src/engine/pacer.ts, the plan's lanes): the round's later batch is released late, and its
// targets' next packets must still wait an interval after it, not an interval after the round began.
// Fake sockets: the JS thread busy-waits 15 ms before submitting the second batch.
import assert from "node:assert/strict";
import { test } from "node:test";
import { answerEverySend } from "../../src/engine/fake-answers.js";
import { buildPlan } from "../../src/engine/plan.js";
import type { FakeBinding } from "../../src/native/fake.js";
import { type Family, type OpenOptions, type RawSocket, RawSockets } from "../../src/native/rawsock.js";
import { fakeEngine } from "../support/fake-engine.js";

/**
 * TX sockets whose second submission holds the JS thread 15 ms before it goes (a long GC while the
 * batch was built): the pacer released it on time, it reaches the send thread late.
 */
class StallSecondSubmit extends RawSockets {
  override openTx(family: Family, options: Partial<OpenOptions> = {}): RawSocket {
    const s = super.openTx(family, options);
    const submit = s.submit.bind(s);
    let calls = 0;
    s.submit = (...args: Parameters<RawSocket["submit"]>) => {
      if (++calls === 2) {
        const until = performance.now() + 15;
        while (performance.now() < until);
      }
      return submit(...args);
    };
    return s;
  }
}

test("a round of two batches whose second is released late: each address's next packet waits an interval after its own", async () => {
  const interval = 20;
  const { fake, engine } = fakeEngine(
    { intervalPacketsMs: interval, families: [4] },
    (f: FakeBinding) => new StallSecondSubmit(f),
  );
  const net = answerEverySend(fake, 20_000n);
  try {
    // 100 addresses: a round is 100 packets, two batches of at most 64.
    const plan = buildPlan(
      [
        {
          name: "subnet",
          type: "ICMPping",
          family: "ipv4",
          addresses: Array.from({ length: 100 }, (_, i) => `198.18.2.${i + 1}`),
          nbPackets: 3,
          dontFragment: true,
          timeout: 0.2,
          groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65009, dscp: 0, src: "198.18.0.2" }],
        },
      ],
      () => assert.fail("the source is fixed"),
    );
    const r = await engine.run(plan);
    assert.equal(r.series[0]!.sent, 300);
    const byDst = new Map<number, number[]>();
    for (let i = 0; i < plan.count; i++) {
      const d = plan.dst[i]!;
      if (!byDst.has(d)) byDst.set(d, []);
      byDst.get(d)!.push(r.inflight.sentAt(i));
    }
    const gaps = [...byDst.values()].flatMap((at) => at.slice(1).map((t, k) => t - at[k]!));
    assert.equal(gaps.length, 200);
    // Before: the addresses of round 0's late batch had ~5 ms to their next packet.
    const shortest = Math.min(...gaps);
    assert.ok(shortest >= interval - 1e-3, `shortest gap ${shortest.toFixed(3)} ms`);
  } finally {
    net.stop();
    engine.close();
  }
});
