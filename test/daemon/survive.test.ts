// The loop survives whatever can throw inside it (issue 11): an iteration that rejects, metrics
// recording that throws, plan building, a background DNS resolution whose handler throws (a promise
// nobody awaits: unhandled, hence fatal, before), a reload. Each is logged, counted by where, and the
// next iteration runs. And a SIGHUP during a long iteration is validated at once, not at its end.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type Config, loadConfig } from "../../src/config/load.js";
import { Daemon, type DaemonMetrics, type DaemonOptions } from "../../src/daemon/daemon.js";
import { Engine, type IterationResult } from "../../src/engine/engine.js";
import { engineOptions } from "../../src/engine/from-config.js";
import type { ProbePlan } from "../../src/engine/plan.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import { capturedLogger } from "../support/log-capture.js";
import { FIXTURES } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-survive-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const yaml = (
  targets: string,
) => `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0}
groups: {g: {src_ipv4: 198.18.0.2}}
targets:
${targets}`;
const ICMP = "  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n";

/** A metrics recorder whose methods can be made to throw; counts internal errors by where. */
class Faulty implements DaemonMetrics {
  iterations = 0;
  errors: string[] = [];
  reloadFailed: boolean[] = [];
  throwIn = new Set<string>();
  private maybe(what: string) {
    if (this.throwIn.has(what)) throw new Error(`${what} failed (test)`);
  }
  applyConfig(_c: Config) {
    this.maybe("applyConfig");
  }
  applyPrepared() {
    this.maybe("applyPrepared");
  }
  recordIteration(_c: Config, _r: IterationResult) {
    this.iterations++;
    this.maybe("recordIteration");
  }
  setReloadConfFailed(f: boolean) {
    this.reloadFailed.push(f);
  }
  hostResolved() {
    this.maybe("hostResolved");
    return true;
  }
  countInternalError(where: string, n = 1) {
    for (let k = 0; k < n; k++) this.errors.push(where);
  }
}

function daemon(
  file: string,
  m: Faulty,
  run?: (real: Engine, plan: ProbePlan) => Promise<IterationResult>,
  extra: Partial<DaemonOptions> = {},
) {
  const { log, lines } = capturedLogger("INFO");
  const d = new Daemon({
    file,
    log,
    metrics: m,
    openEngine: (c) => {
      const e = new Engine({ ...engineOptions(c), sockets: new RawSockets(new FakeBinding()) });
      if (run) {
        const real = e.run.bind(e);
        e.run = (plan) => run({ run: real } as Engine, plan);
      }
      return e;
    },
    lookup: async () => ["198.18.1.9"],
    ...extra,
  });
  return { d, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > deadline) assert.fail("condition not met in time");
    await sleep(20);
  }
}

describe("the daemon loop survives throws (fake sockets)", () => {
  test("an iteration that rejects: logged, counted as iteration, the next one runs", async () => {
    const file = join(dir, "run.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    let calls = 0;
    const { d, lines } = daemon(file, m, (real, plan) => {
      calls++;
      if (calls === 1) return Promise.reject(new Error("engine exploded (test)"));
      return real.run(plan);
    });
    await d.init();
    d.start();
    try {
      await until(() => m.iterations >= 1);
      assert.deepEqual(m.errors, ["iteration"]);
      assert.ok(lines.some((l) => l.includes("engine exploded") && l.includes('"where":"iteration"')));
    } finally {
      await d.stop();
    }
    await d.done; // the loop ended normally, it did not reject
  });

  test("socket faults the engine survived are logged and counted by where", async () => {
    const file = join(dir, "faults.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    const { d, lines } = daemon(file, m, async (real, plan) => {
      const r = await real.run(plan);
      r.faults.set("receive", 3);
      return r;
    });
    await d.init();
    d.start();
    try {
      await until(() => m.iterations >= 1);
      assert.deepEqual(m.errors.slice(0, 3), ["receive", "receive", "receive"]);
      assert.ok(lines.some((l) => l.includes("socket fault survived") && l.includes('"count":3')));
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("recording an iteration throws: counted as metrics, iterations go on", async () => {
    const file = join(dir, "metrics.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    const { d } = daemon(file, m);
    await d.init();
    m.throwIn.add("recordIteration");
    d.start();
    try {
      await until(() => m.iterations >= 2);
      assert.deepEqual(m.errors, ["metrics", "metrics"]);
      assert.ok(d.iterations >= 2);
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("building the plan throws: counted as plan, the loop goes on and retries after a reload", async () => {
    const file = join(dir, "plan.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    const { d } = daemon(file, m);
    await d.init();
    m.throwIn.add("applyPrepared");
    d.start();
    try {
      await until(() => m.errors.includes("plan"));
      m.throwIn.delete("applyPrepared");
      d.requestReload();
      await until(() => m.iterations >= 1);
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("a background DNS re-resolution whose handler throws: counted as dns, no unhandled rejection", async () => {
    const file = join(dir, "dns.yaml");
    writeFileSync(
      file,
      yaml("  h: {type: ICMPping, destination: web.example, timeout: 0.05, dns_update_interval: 1}\n"),
    );
    const m = new Faulty();
    const { d } = daemon(file, m);
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    await d.init();
    m.throwIn.add("hostResolved");
    d.start();
    try {
      await until(() => m.errors.includes("dns"));
      await until(() => m.iterations >= 2);
      assert.deepEqual(unhandled, []);
    } finally {
      await d.stop();
      process.off("unhandledRejection", onUnhandled);
    }
    await d.done;
  });

  test("a reload that throws something other than a configuration error: counted as reload, probing goes on", async () => {
    const file = join(dir, "reload.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    const { d } = daemon(file, m);
    await d.init();
    d.start();
    try {
      await until(() => m.iterations >= 1);
      writeFileSync(file, yaml("  b: {type: ICMPping, destination: 198.18.1.2, timeout: 0.05}\n"));
      m.throwIn.add("applyConfig");
      d.requestReload();
      await until(() => m.errors.includes("reload"));
      const before = m.iterations;
      m.throwIn.delete("applyConfig");
      await until(() => m.iterations > before);
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("folding inventory targets in throws: counted as inventory, probing goes on", async () => {
    const base = join(dir, "inv");
    mkdirSync(join(base, "dynamic_inventories"), { recursive: true });
    copyFileSync(`${FIXTURES}inventories/good.mjs`, join(base, "dynamic_inventories", "good.mjs"));
    const file = join(base, "netprobify.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    const { d } = daemon(file, m);
    await d.init();
    m.throwIn.add("applyConfig"); // the inventory's targets cannot be applied
    d.startInventories();
    d.start();
    try {
      await until(() => m.errors.includes("inventory"));
      const before = m.iterations;
      await until(() => m.iterations > before);
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("a SIGHUP with a bad file during a long iteration is refused at once, not at the iteration's end", async () => {
    const file = join(dir, "early.yaml");
    writeFileSync(file, yaml(ICMP));
    const m = new Faulty();
    let release: (() => void) | undefined;
    let started = 0;
    const { d } = daemon(file, m, async (real, plan) => {
      started++;
      if (started === 2) await new Promise<void>((r) => (release = r)); // a stretched iteration
      return real.run(plan);
    });
    await d.init();
    d.start();
    try {
      await until(() => release !== undefined);
      writeFileSync(file, "global: [broken\n");
      d.requestReload();
      await until(() => m.reloadFailed.includes(true), 2000);
      assert.equal(m.iterations, 1, "the second iteration is still running");
    } finally {
      release?.();
      await d.stop();
    }
    await d.done;
  });

  test("a good file validated during an iteration is applied at its end without reading it again, unless it changed", async () => {
    for (const changedAfter of [false, true]) {
      const file = join(dir, `early-good-${changedAfter}.yaml`);
      writeFileSync(file, yaml(ICMP));
      const m = new Faulty();
      let release: (() => void) | undefined;
      let started = 0;
      let loads = 0;
      const { d } = daemon(
        file,
        m,
        async (real, plan) => {
          started++;
          if (started === 2) await new Promise<void>((r) => (release = r)); // a stretched iteration
          return real.run(plan);
        },
        {
          loadConfig: (f) => {
            loads++;
            return loadConfig(f);
          },
        },
      );
      await d.init();
      d.start();
      try {
        await until(() => release !== undefined);
        writeFileSync(file, yaml("  b: {type: ICMPping, destination: 198.18.1.2, timeout: 0.05}\n"));
        d.requestReload();
        await until(() => loads === 2); // init, then the early validation
        await sleep(20);
        if (changedAfter)
          writeFileSync(file, yaml("  c: {type: ICMPping, destination: 198.18.1.3, timeout: 0.05}\n"));
        release!();
        const want = changedAfter ? "c" : "b";
        await until(() => d.config.targets.has(want));
        assert.equal(loads, changedAfter ? 3 : 2);
      } finally {
        release?.();
        await d.stop();
      }
      await d.done;
    }
  });
});
