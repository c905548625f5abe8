// Every answered probe has its TX timestamp, on the real path (raw sockets, the send threads, kernel
// timestamps): the daemon's ICMP row (2 × 500 × 20 per iteration) over several iterations. A reply can
// be read before its probe's TX timestamp: the send thread reports (results, then the error queue)
// after its sends, and the receive thread may be quicker. Iterations that ended at their last result
// summarized the last submission's answers as untimed (52 or 104 per run in the daemon bench); the
// test-only OPEN_SLOW_SEND_REPORT makes the send threads report 5 ms late, as if preempted, so that
// order happens at every iteration's end. Needs root; runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { EngineOptions } from "../../src/engine/engine.js";
import { ProbeState } from "../../src/engine/inflight.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import {
  type Family,
  OPEN_SLOW_SEND_REPORT,
  type OpenOptions,
  type RawSocket,
  RawSockets,
} from "../../src/native/rawsock.js";
import { kernelSources } from "../../src/targets/source.js";
import { buildPlan, labEngine, type PlanTargetInput, warmUp } from "./support.js";

/** TX sockets whose send threads report each batch 5 ms after sending it. */
class SlowReports extends RawSockets {
  override openTx(family: Family, options: Partial<OpenOptions> = {}): RawSocket {
    return super.openTx(family, {
      ...options,
      extraFlags: (options.extraFlags ?? 0) | OPEN_SLOW_SEND_REPORT,
    });
  }
}

describe("TX timestamps of answered probes, daemon-sized iterations (needs root)", () => {
  let lab: Lab;
  let targets: PlanTargetInput[];
  before(async () => {
    lab = await createLab({ targets: [{ name: "many", rangeSize: 512 }] });
    const r = lab.target("many").range!;
    const v4 = r.all4(500);
    const v6 = r.all6(500);
    const src = await kernelSources([
      [v4[0]!, "ipv4"],
      [v6[0]!, "ipv6"],
    ]);
    targets = (["ipv4", "ipv6"] as const).map((family) => ({
      name: `ping-${family}`,
      type: "ICMPping",
      family,
      addresses: family === "ipv4" ? v4 : v6,
      nbPackets: 20,
      dontFragment: true,
      timeout: 1,
      groups: [
        {
          name: "g",
          srcPortA: 61000,
          srcPortZ: 61015,
          dscp: 0,
          src: src.get(family === "ipv4" ? v4[0]! : v6[0]!)!,
        },
      ],
    }));
  });
  after(async () => {
    await lab?.destroy();
  });

  async function iterations(n: number, o: Partial<EngineOptions>): Promise<void> {
    const engine = labEngine(targets, o);
    try {
      await warmUp();
      const plan = buildPlan(targets, () => assert.fail("sources are fixed"));
      for (let k = 0; k < n; k++) {
        const r = await engine.run(plan);
        const f = r.inflight;
        const untimed: number[] = [];
        for (let i = 0; i < f.count; i++)
          if (f.state[i] === ProbeState.Answered && Number.isNaN(f.txAt(i))) untimed.push(i);
        assert.deepEqual(untimed, [], `iteration ${k + 1}: answered probes without a TX timestamp`);
        for (const s of r.series) {
          assert.deepEqual(
            [s.sent, s.lost, s.failed, s.untimed],
            [10_000, 0, 0, 0],
            `${s.target}, iteration ${k + 1}`,
          );
          assert.equal(s.rtts.length, 10_000, `${s.target}, iteration ${k + 1}`);
        }
        assert.equal(r.socketDrops, 0);
      }
    } finally {
      engine.close();
    }
  }

  test("send threads that report late (as if preempted): every answered probe has its TX timestamp", async () => {
    await iterations(3, { sockets: new SlowReports() });
  });

  test("nb_proc 2, six iterations of 20,000 probes: every answered probe has its TX timestamp", async () => {
    await iterations(6, { sendThreads: 2 });
  });
});
