// V8's background threads before the first iteration (src/engine/settle.ts): the wait for them to go
// idle, and their lower priority. Needs no privileges (raising a nice value never does).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  lowerBackgroundThreads,
  SETTLE_ENV,
  settle,
  type ThreadTable,
  V8_NICE,
  V8_NICE_ENV,
  v8Nice,
} from "../../src/engine/settle.js";

/** A fake clock and CPU counter: each wait advances the clock by its length and the CPU by busy[k] µs. */
function machine(busyMicros: number[]) {
  let t = 0;
  let cpu = 0;
  let k = 0;
  const waits: number[] = [];
  return {
    waits,
    opts: {
      now: () => t,
      cpuMicros: () => cpu,
      wait: async (ms: number) => {
        waits.push(ms);
        t += ms;
        cpu += busyMicros[Math.min(k++, busyMicros.length - 1)]!;
      },
    },
  };
}

describe("settle: waiting for V8's background threads", () => {
  test("returns at the first window in which the process used at most a tenth of a core", async () => {
    // 4 ms windows: 3.5 ms, 2 ms and 0.5 ms of CPU are busy; 0.3 ms (7.5 %) is idle
    const m = machine([3500, 2000, 500, 300, 4000]);
    const r = await settle({ ...m.opts, windowMs: 4 });
    assert.deepEqual(m.waits, [4, 4, 4, 4]);
    assert.deepEqual(r, { ms: 16, idle: true, busyMs: 6.3 });
  });

  test("gives up after maxMs when the background never goes idle", async () => {
    const m = machine([4000]);
    const r = await settle({ ...m.opts, windowMs: 5, maxMs: 30 });
    assert.equal(r.idle, false);
    assert.equal(r.ms, 30);
    assert.equal(m.waits.length, 6);
  });

  test("an idle process returns after one window", async () => {
    const m = machine([0]);
    const r = await settle({ ...m.opts, windowMs: 4 });
    assert.deepEqual(r, { ms: 4, idle: true, busyMs: 0 });
  });
});

describe("lowerBackgroundThreads", () => {
  test("renices every thread but the main one and the addon's npf-* threads; vanished ones are skipped", () => {
    const names = new Map([
      [100, "node"],
      [101, "node"],
      [102, "npf-send"],
      [103, "npf-recv"],
      [104, "node"],
      [105, "gone"],
    ]);
    const set: [number, number][] = [];
    const table: ThreadTable = {
      ids: () => [...names.keys()],
      name: (tid) => {
        if (tid === 105) throw new Error("ENOENT");
        return names.get(tid)!;
      },
      setNice: (tid, nice) => {
        set.push([tid, nice]);
      },
    };
    assert.equal(lowerBackgroundThreads(10, table, 100), 2);
    assert.deepEqual(set, [
      [101, 10],
      [104, 10],
    ]);
  });

  test("a thread that refuses is left alone and not counted", () => {
    const table: ThreadTable = {
      ids: () => [1, 2, 3],
      name: () => "node",
      setNice: (tid) => {
        if (tid === 2) throw new Error("EPERM");
      },
    };
    assert.equal(lowerBackgroundThreads(5, table, 1), 1);
  });

  test("in a real node process: V8's threads get the nice value, the main thread keeps 0", () => {
    const settleJs = fileURLToPath(new URL("../../src/engine/settle.js", import.meta.url));
    const code = `
      import { readdirSync, readFileSync } from "node:fs";
      const { lowerBackgroundThreads } = await import(${JSON.stringify(settleJs)});
      const changed = lowerBackgroundThreads(7);
      const nice = {};
      for (const tid of readdirSync("/proc/self/task")) {
        const stat = readFileSync("/proc/self/task/" + tid + "/stat", "utf8");
        nice[tid] = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      }
      console.log(JSON.stringify({ pid: process.pid, changed, nice }));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { pid: number; changed: number; nice: Record<string, number> };
    const others = Object.entries(out.nice).filter(([tid]) => Number(tid) !== out.pid);
    assert.ok(others.length >= 4, `V8's worker threads: ${JSON.stringify(out.nice)}`);
    assert.equal(out.changed, others.length);
    assert.equal(out.nice[out.pid], 0);
    for (const [tid, nice] of others) assert.equal(nice, 7, `thread ${tid}`);
  });
});

describe("v8Nice", () => {
  test("NETPROBIFY_V8_NICE sets it within [0, 19]; anything else gives the default", () => {
    assert.equal(v8Nice({}), V8_NICE);
    assert.equal(v8Nice({ [V8_NICE_ENV]: "0" }), 0);
    assert.equal(v8Nice({ [V8_NICE_ENV]: "19" }), 19);
    for (const bad of ["", "20", "-1", "2.5", "x"])
      assert.equal(v8Nice({ [V8_NICE_ENV]: bad }), V8_NICE, bad);
    assert.equal(SETTLE_ENV, "NETPROBIFY_SETTLE");
  });
});
