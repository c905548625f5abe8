// bench/lib/timeline.ts: a probe log read back as a timeline (start → first TX, tenths, pauses, tail).
import assert from "node:assert/strict";
import { test } from "node:test";
import { timeline } from "../../bench/lib/timeline.js";

test("timeline: first TX, tenths, the longest pause and the tail, from a probe log", () => {
  const start = 1_700_000_000_000; // ms
  const ns = (ms: number) => (BigInt(start) * 1_000_000n + BigInt(Math.round(ms * 1e6))).toString();
  // 20 probes: the first at 2 ms, one every 0.1 ms, except a 3 ms pause before probe 10; answers 0.05 ms later
  const lines = ["index,target,group,type,dst,src,src_port,key,state,tx_ns,rx_ns,rtt_ns"];
  for (let i = 0; i < 20; i++) {
    const tx = 2 + i * 0.1 + (i >= 10 ? 3 : 0);
    lines.push(`${i},t,g,TCPsyn,a,b,1,${i},answered,${ns(tx)},${ns(tx + 0.05)},50000`);
  }
  const t = timeline(`${lines.join("\n")}\n`, start);
  assert.ok(Math.abs(t.startToFirstTxMs - 2) < 1e-6);
  assert.equal(t.tenthsMs.length, 10);
  assert.ok(Math.abs(t.tenthsMs[9]! - 4.9) < 1e-6, `all left 4.9 ms after the first: ${t.tenthsMs[9]}`);
  assert.deepEqual(t.topGaps[0]!.at, 10);
  assert.ok(Math.abs(t.topGaps[0]!.ms - 3.1) < 1e-6);
  assert.equal(t.gapsOver500us, 1);
  assert.ok(Math.abs(t.lastTxToLastRxMs - 0.05) < 1e-6);
  assert.ok(Math.abs(t.tenthRates[0]! - 2 / 0.1e-3) < 1e-3, `${t.tenthRates[0]}`);
});
