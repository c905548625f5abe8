// A probe answered in time is never counted lost because the JS thread, or the receive thread, was
// late. The expiry timer runs in the event loop's timer phase, before the poll phase that delivers the
// receive threads' wakes: a JS thread that wakes after a deadline (load, a long GC, a slow callback)
// used to expire probes whose replies were already in a receive ring, or still in the socket (the
// receive thread asleep or itself starved), and count them lost, then late (a CI run at load 11 read
// [sent 3, lost 2, late 3]). Here the JS thread busy-waits past the deadline right after sending, and
// the test-only OPEN_SLOW_RECEIVE starves the receive threads, with replies back well within the
// timeout (checked on the wire). Needs root; runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Engine, IterationResult } from "../../src/engine/engine.js";
import type { ProbePlan } from "../../src/engine/plan.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import {
  type Family,
  OPEN_SLOW_RECEIVE,
  type OpenOptions,
  type RawSocket,
  RawSockets,
} from "../../src/native/rawsock.js";
import {
  counts,
  FAMILIES,
  type Fam,
  KINDS,
  planAndEngine,
  series,
  seriesOf,
  sources,
  warmUp,
} from "./lib/labkit.js";
import { type PlanTargetInput, wireProbes } from "./support.js";

const TIMEOUT_S = 0.2;

/** RX sockets whose receive threads wait 2 s before reading a readable socket, unless asked for a barrier. */
class StarvedReceivers extends RawSockets {
  override openRx(family: Family, protocol: number, options: Partial<OpenOptions> = {}): RawSocket {
    return super.openRx(family, protocol, {
      ...options,
      extraFlags: (options.extraFlags ?? 0) | OPEN_SLOW_RECEIVE,
    });
  }
}

/** Busy-waits (the JS thread blocked, as under load) until `ms` after `from` (performance.now()). */
function blockUntil(from: number, ms: number): void {
  while (performance.now() - from < ms) {
    // spin
  }
}

/** Resolves once the iteration has submitted every probe and armed its expiry timer. */
async function expiryArmed(engine: Engine): Promise<void> {
  const it = () =>
    (engine as unknown as { current?: { next: number; timer?: unknown; inflight: { count: number } } })
      .current;
  for (;;) {
    const c = it();
    if (c !== undefined && c.next === c.inflight.count && c.timer !== undefined) return;
    await new Promise((r) => setImmediate(r));
  }
}

describe("probes answered in time while the JS or the receive thread is late (needs root)", () => {
  let lab: Lab;
  let src: Record<string, { ipv4: string; ipv6: string }>;
  before(async () => {
    lab = await createLab({ targets: [{ name: "slow", impair: true }, { name: "quick" }] });
    src = { slow: await sources(lab.target("slow")), quick: await sources(lab.target("quick")) };
  });
  after(async () => {
    await lab?.destroy();
  });

  function perKind(prefix: string, target: string): PlanTargetInput[] {
    const t = lab.target(target);
    return KINDS.flatMap((type) =>
      FAMILIES.map((f: Fam) =>
        series(`${prefix}-${type}-${f}`, type, f, f === "ipv4" ? t.v4 : t.v6, src[target]![f], {
          nbPackets: 3,
          timeout: TIMEOUT_S,
          payloadSize: type === "UDPunreachable" ? 16 : undefined,
          ports: [61000, 61003],
        }),
      ),
    );
  }

  /** Every series answered 3 of 3, nothing late, and every probe's kernel RTT within the timeout. */
  function allAnswered(r: IterationResult, targets: PlanTargetInput[], plan: ProbePlan): void {
    for (const s of targets) assert.deepEqual(counts(seriesOf(r, s.name)), [3, 0, 0, 0, 0], s.name);
    assert.equal(r.faults.get("receive") ?? 0, 0, "the receive barrier was answered");
    assert.equal(r.socketDrops, 0);
    for (let i = 0; i < plan.count; i++) assert.ok(r.inflight.rttNs(i) <= TIMEOUT_S * 1e9, `probe ${i}`);
  }

  test("the JS thread blocked past the deadline right after sending, replies read by the receive threads: all answered", async () => {
    const t = lab.target("slow");
    // Replies 20 ms after each probe: the expiry timer is armed long before they come back.
    await lab.setImpairment("slow", "from", { delayMs: 20 });
    const targets = perKind("js", "slow");
    const { plan, engine } = planAndEngine(targets);
    try {
      await warmUp();
      const cap = await lab.capture({ iface: t.hostIf });
      const t0 = performance.now();
      const ran = engine.run(plan);
      await expiryArmed(engine);
      blockUntil(t0, 2 * TIMEOUT_S * 1000);
      const r = await ran;
      const wire = wireProbes((await cap.stop(50)).records);
      // The wire: every probe answered once, well within its timeout.
      for (let i = 0; i < plan.count; i++) {
        const w = wire.get(r.inflight.keyOf(i));
        assert.ok(w?.rxNs !== undefined, `probe ${i} answered on the wire`);
        assert.ok(w.rxNs - w.txNs < BigInt(TIMEOUT_S * 1e9), `probe ${i}: answer within the timeout`);
      }
      allAnswered(r, targets, plan);
    } finally {
      engine.close();
      await lab.setImpairment("slow", "from", {});
    }
  });

  test("the receive threads starved past the deadline (replies still in the sockets): the expiry's barrier reads them, all answered", async () => {
    const targets = perKind("rx", "quick");
    const { plan, engine } = planAndEngine(targets, { sockets: new StarvedReceivers() });
    try {
      await warmUp();
      const r = await engine.run(plan);
      allAnswered(r, targets, plan);
    } finally {
      engine.close();
    }
  });

  test("the JS thread blocked and the receive threads starved: all answered", async () => {
    const targets = perKind("both", "quick");
    const { plan, engine } = planAndEngine(targets, { sockets: new StarvedReceivers() });
    try {
      await warmUp();
      const t0 = performance.now();
      const ran = engine.run(plan);
      await expiryArmed(engine);
      blockUntil(t0, 2 * TIMEOUT_S * 1000);
      allAnswered(await ran, targets, plan);
    } finally {
      engine.close();
    }
  });
});
