// The daemon loop with fake sockets: iterations start to start, reload good and bad, stop. The real
// path (raw sockets, HTTP, Prometheus) is covered by the lab tests.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Config } from "../../src/config/load.js";
import { Daemon, type DaemonMetrics } from "../../src/daemon/daemon.js";
import { Engine, type IterationResult } from "../../src/engine/engine.js";
import { engineOptions } from "../../src/engine/from-config.js";
import type { TargetIssue } from "../../src/engine/prober.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import {
  holdYoungGeneration,
  releaseYoungGeneration,
  youngGenerationHeld,
} from "../../src/young-generation.js";
import { capturedLogger } from "../support/log-capture.js";
import { FIXTURES } from "../support/paths.js";
import { until } from "../support/until.js";

const dir = mkdtempSync(join(tmpdir(), "npf-daemon-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = (
  targets: string,
) => `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: DEBUG, prometheus_port: 9100, dns_update_interval: 0}
groups: {g: {src_ipv4: 198.18.0.2, src_ipv6: "fd18::2"}}
targets:
${targets}`;

class Recorder implements DaemonMetrics {
  applied: string[][] = [];
  iterations: IterationResult[] = [];
  reloadFailed: boolean[] = [];
  resolutions: [string, readonly string[] | undefined][] = [];
  excluded: TargetIssue[][] = [];
  applyConfig(c: Config) {
    this.applied.push([...c.targets.keys()]);
  }
  applyPrepared(p: { issues: readonly TargetIssue[] }) {
    this.excluded.push([...p.issues]);
  }
  recordIteration(_c: Config, r: IterationResult) {
    this.iterations.push(r);
  }
  setReloadConfFailed(f: boolean) {
    this.reloadFailed.push(f);
  }
  hostResolved(name: string, addresses: readonly string[] | undefined) {
    this.resolutions.push([name, addresses]);
    return true;
  }
}

function daemon(
  file: string,
  metrics: Recorder,
  lookup?: (n: string) => Promise<string[]>,
  now?: () => number,
) {
  const { log, lines } = capturedLogger("DEBUG");
  const fake = new FakeBinding();
  const d = new Daemon({
    file,
    log,
    metrics,
    openEngine: (c) => new Engine({ ...engineOptions(c), sockets: new RawSockets(fake) }),
    lookup: lookup ? (n) => lookup(n) : undefined,
    now,
  });
  return { d, lines, fake };
}

describe("daemon (fake sockets)", () => {
  test("iterations start every interval; a bad reload keeps the running configuration; a good one applies", async () => {
    const file = join(dir, "a.yaml");
    writeFileSync(file, config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n"));
    const m = new Recorder();
    const { d, lines } = daemon(file, m);
    await d.init();
    d.start();
    try {
      await new Promise((r) => setTimeout(r, 1300));
      assert.equal(d.iterations, 2, "one at once, one a second later");
      assert.equal(m.iterations[0]!.series[0]!.target, "a");

      writeFileSync(file, "global: [broken\n");
      assert.equal(await d.reload(), false);
      assert.deepEqual(m.reloadFailed, [false, true]);
      assert.deepEqual([...d.config.targets.keys()], ["a"], "the running configuration stays");
      assert.ok(lines.some((l) => l.includes("reload refused")));

      writeFileSync(
        file,
        config("  b: {type: TCPsyn, destination: 198.18.1.2, dst_port: 80, timeout: 0.05}\n"),
      );
      d.requestReload();
      await new Promise((r) => setTimeout(r, 1200));
      assert.deepEqual(m.applied, [["a"], ["b"]]);
      assert.equal(m.reloadFailed.at(-1), false);
      assert.equal(m.iterations.at(-1)!.series[0]!.target, "b");
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("reloadAndWait resolves with the outcome of the reload it asked for (POST /-/reload)", async () => {
    const file = join(dir, "w.yaml");
    writeFileSync(file, config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n"));
    const m = new Recorder();
    const { d } = daemon(file, m);
    await d.init();
    d.start();
    try {
      writeFileSync(file, "global: [broken\n");
      assert.equal(await d.reloadAndWait(), false);
      assert.deepEqual([...d.config.targets.keys()], ["a"]);
      writeFileSync(file, config("  b: {type: ICMPping, destination: 198.18.1.2, timeout: 0.05}\n"));
      assert.deepEqual(await Promise.all([d.reloadAndWait(), d.reloadAndWait()]), [true, true]);
      assert.deepEqual([...d.config.targets.keys()], ["b"]);
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("a hostname that stops resolving is reported and left out; stop is prompt", async () => {
    const file = join(dir, "b.yaml");
    writeFileSync(
      file,
      config(
        "  h: {type: ICMPping, destination: web.example, timeout: 0.05}\n  i: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n",
      ),
    );
    const m = new Recorder();
    const { d } = daemon(file, m, async () => Promise.reject(new Error("ENOTFOUND")));
    await d.init();
    d.start();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await d.stop();
    await d.done;
    assert.ok(performance.now() - t0 < 200, "stops promptly");
    // Every target's resolution reaches the metrics, the IP literal's too (the original's status 1).
    assert.deepEqual(
      m.resolutions.sort((a, b) => a[0].localeCompare(b[0])),
      [
        ["h", undefined],
        ["i", ["198.18.1.1"]],
      ],
    );
    assert.equal(m.excluded[0]![0]!.kind, "unresolved");
    assert.deepEqual(
      m.iterations[0]!.series.map((s) => s.target),
      ["i"],
    );
  });

  test("targets published by an inventory module are probed; the shard keeps its share", async () => {
    const base = join(dir, "inv");
    mkdirSync(join(base, "dynamic_inventories"), { recursive: true });
    copyFileSync(`${FIXTURES}inventories/good.mjs`, join(base, "dynamic_inventories", "good.mjs"));
    const file = join(base, "netprobify.yaml");
    writeFileSync(file, config("  static: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n"));
    const m = new Recorder();
    const { d } = daemon(file, m);
    await d.init();
    assert.deepEqual(d.startInventories(), ["good"]);
    d.start();
    try {
      for (let k = 0; k < 40 && !d.config.targets.has("good_198.18.0.7"); k++)
        await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 1200));
      const probed = new Set(m.iterations.at(-1)!.series.map((s) => s.target));
      assert.deepEqual([...probed].sort(), ["good_198.18.0.7", "good_198.18.0.8", "static"]);
      assert.equal(d.config.targets.get("good_198.18.0.8")!.description, "from_good");
      assert.deepEqual(m.applied.at(-1)!.sort(), ["good_198.18.0.7", "good_198.18.0.8", "static"]);
    } finally {
      await d.stop();
    }
    await d.done;
  });
  test("interval 0: iterations run back to back, and timers, scrapes and stop still get their turn", {
    timeout: 30_000,
  }, async () => {
    const file = join(dir, "zero.yaml");
    // Both the disabled target (nothing to probe: an iteration is all promises) and a probed one.
    writeFileSync(
      file,
      config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n").replace(
        "interval: 1,",
        "interval: 0,",
      ),
    );
    const ends: number[] = [];
    const m = new Recorder();
    const record = m.recordIteration.bind(m);
    m.recordIteration = (c, r) => {
      ends.push(performance.now());
      record(c, r);
    };
    const { d } = daemon(file, m);
    await d.init();
    d.start();
    try {
      // A timer fires while the loop runs (an event loop starved by the loop would never get here).
      while (m.iterations.length < 6) await new Promise((r) => setTimeout(r, 20));
      // Between the end of one iteration and the end of the next: that iteration's own time only.
      const gaps = m.iterations.slice(1, 6).map((r, i) => ends[i + 1]! - ends[i]! - r.durationMs);
      assert.ok(Math.min(...gaps) < 500, `iterations wait between them: ${gaps.join(", ")} ms`);
    } finally {
      await d.stop();
    }
    await d.done;

    writeFileSync(
      file,
      config(
        "  a: {type: ICMPping, destination: 198.18.1.1, explicit_groups: {exclude_from: [g]}}\n",
      ).replace("interval: 1,", "interval: 0,"),
    );
    const idle = daemon(file, new Recorder()).d;
    await idle.init();
    idle.start();
    const before = idle.iterations;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(idle.iterations > before + 1, "empty iterations go on, back to back");
    await idle.stop();
    await idle.done;
  });
  test("a reload refused for want of sockets changes nothing: the refused file is not applied later without a reload", async () => {
    const file = join(dir, "refused.yaml");
    writeFileSync(file, config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n"));
    const m = new Recorder();
    let clock = 0;
    const { d, lines, fake } = daemon(file, m, undefined, () => clock);
    await d.init();
    d.start();
    try {
      await until(() => d.iterations >= 1, "a first iteration");
      // As after --user dropped CAP_NET_RAW: an IPv6 target needs sockets the daemon cannot open.
      fake.hasCapNetRaw = false;
      writeFileSync(
        file,
        config(
          "  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n  b: {type: ICMPping, destination: fd18:1::1, timeout: 0.05}\n",
        ),
      );
      assert.equal(await d.reload(), false);
      assert.ok(lines.some((l) => l.includes("cannot open the sockets it needs")));
      assert.deepEqual([...d.config.targets.keys()], ["a"]);
      assert.equal(m.reloadFailed.at(-1), true);
      // The sockets can be opened again (a transient failure); the daemon's own minute-long
      // re-check of the inventories must not apply the file it refused: only a reload may.
      fake.hasCapNetRaw = true;
      clock += 61_000;
      const seen = d.iterations;
      await until(() => d.iterations >= seen + 2, "two more iterations");
      assert.deepEqual([...d.config.targets.keys()], ["a"], "the refused file stays refused");
      assert.deepEqual(m.applied, [["a"]]);
      assert.equal(m.reloadFailed.at(-1), true, "the gauge still says the file was refused");
      // A reload asked for now applies it.
      assert.equal(await d.reload(), true);
      assert.deepEqual([...d.config.targets.keys()], ["a", "b"]);
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("a reload that drops a built-in inventory drops its targets; one refused for want of sockets keeps it running", async () => {
    const base = join(dir, "builtin");
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, "extra.yaml"), "- {hostname: 198.18.0.9, type: ICMPping, timeout: 0.05}\n");
    const file = join(base, "netprobify.yaml");
    const withExtra = config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n").replace(
      "targets:",
      "inventories: {extra: {type: file, path: extra.yaml}}\ntargets:",
    );
    writeFileSync(file, withExtra);
    const m = new Recorder();
    const { d, fake } = daemon(file, m);
    await d.init();
    d.startInventories();
    d.start();
    try {
      await until(() => d.config.targets.has("extra_198.18.0.9"), "the inventory's target");
      // Refused (an IPv6 target needs sockets that cannot be opened): the inventory stays.
      fake.hasCapNetRaw = false;
      writeFileSync(file, `${config("  b: {type: ICMPping, destination: fd18:1::1, timeout: 0.05}\n")}`);
      assert.equal(await d.reload(), false);
      assert.deepEqual([...d.config.targets.keys()], ["a", "extra_198.18.0.9"]);
      // ... and runs on: an edit of its file is probed.
      writeFileSync(
        join(base, "extra.yaml"),
        "- {hostname: 198.18.0.9, type: ICMPping, timeout: 0.05}\n- {hostname: 198.18.0.10, type: ICMPping, timeout: 0.05}\n",
      );
      await until(() => d.config.targets.has("extra_198.18.0.10"), "the inventory's edit");
      // Applied: without the inventory, its target goes too.
      fake.hasCapNetRaw = true;
      assert.equal(await d.reload(), true);
      assert.deepEqual([...d.config.targets.keys()], ["b"]);
      writeFileSync(file, withExtra);
      assert.equal(await d.reload(), true);
      await until(() => d.config.targets.has("extra_198.18.0.9"), "the inventory's target again");
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("an inventory entry whose creation_date is a map without a usable toString is refused alone: the others are probed, reloads work", async () => {
    const base = join(dir, "hostile-entry");
    mkdirSync(base, { recursive: true });
    writeFileSync(
      join(base, "extra.yaml"),
      "- {hostname: 198.18.0.9, type: ICMPping, timeout: 0.05, lifetime: 1d, creation_date: {toString: 1}}\n- {hostname: 198.18.0.10, type: ICMPping, timeout: 0.05}\n",
    );
    const file = join(base, "netprobify.yaml");
    writeFileSync(
      file,
      config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n").replace(
        "targets:",
        "inventories: {extra: {type: file, path: extra.yaml}}\ntargets:",
      ),
    );
    const m = new Recorder();
    const { d, lines } = daemon(file, m);
    await d.init();
    d.startInventories();
    d.start();
    try {
      await until(() => d.config.targets.has("extra_198.18.0.10"), "the good entry's target");
      assert.ok(!d.config.targets.has("extra_198.18.0.9"));
      assert.ok(lines.some((l) => l.includes("inventory entry skipped") && l.includes("creation_date")));
      assert.equal(await d.reload(), true);
      assert.ok(d.config.targets.has("extra_198.18.0.10"));
      assert.ok(!lines.some((l) => l.includes("internal error")), "no internal error");
    } finally {
      await d.stop();
    }
    await d.done;
  });

  test("a reload adding a hostname while the resolver hangs does not hold probing; the target joins once resolved", async () => {
    const file = join(dir, "slowdns.yaml");
    writeFileSync(file, config("  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n"));
    const m = new Recorder();
    let answer: ((a: string[]) => void) | undefined;
    const { d } = daemon(file, m, (name) =>
      name === "slow.example"
        ? new Promise<string[]>((r) => {
            answer = r;
          })
        : Promise.reject(new Error("ENOTFOUND")),
    );
    await d.init();
    d.start();
    try {
      await until(() => d.iterations >= 1, "a first iteration");
      writeFileSync(
        file,
        config(
          "  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n  s: {type: ICMPping, destination: slow.example, timeout: 0.05}\n",
        ),
      );
      const seen = d.iterations;
      const reloaded = d.reloadAndWait(); // applied by the loop, between iterations
      // Before, the reload (and the loop with it) waited for the resolver: no iteration, ever.
      await until(() => d.iterations >= seen + 2, "two iterations while the resolver hangs");
      assert.equal(await reloaded, true);
      assert.deepEqual(
        m.iterations.at(-1)!.series.map((x) => x.target),
        ["a"],
      );
      answer!(["198.18.1.9"]);
      await until(
        () => m.iterations.at(-1)!.series.some((x) => x.target === "s"),
        "the slow target probed once resolved",
      );
    } finally {
      answer?.([]);
      await d.stop();
    }
    await d.done;
  });

  test("start-up with a resolver that never answers: the daemon starts, probes the rest, and the name joins once resolved", async () => {
    const file = join(dir, "deaddns.yaml");
    writeFileSync(
      file,
      config(
        "  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}\n  s: {type: ICMPping, destination: dead.example, timeout: 0.05}\n",
      ),
    );
    const m = new Recorder();
    let answer: ((a: string[]) => void) | undefined;
    const { d } = daemon(
      file,
      m,
      () =>
        new Promise<string[]>((r) => {
          answer = r;
        }),
    );
    try {
      // Before, init() waited for every lookup: here, forever.
      let started = false;
      const init = d.init().then(() => {
        started = true;
      });
      await until(() => started, "init() returns while the lookup hangs");
      await init;
      d.start();
      await until(() => m.iterations.length >= 1, "an iteration of the other target");
      assert.deepEqual(
        m.iterations[0]!.series.map((x) => x.target),
        ["a"],
      );
      answer!(["198.18.1.9"]);
      await until(
        () => m.iterations.at(-1)!.series.some((x) => x.target === "s"),
        "the name probed once resolved",
      );
    } finally {
      answer?.([]);
      await d.stop();
    }
    await d.done;
  });

  test("the original's af_detect shape: a disabled target's fe80-sized subnet loads and is never expanded", async () => {
    const m = new Recorder();
    const { d, lines } = daemon(`${FIXTURES}config/adjusted/disabled-target-too-large.yaml`, m);
    await d.init();
    d.start();
    try {
      while (d.iterations < 1) await new Promise((r) => setTimeout(r, 10)); // the plan was built
      assert.deepEqual(m.iterations, [], "nothing probed");
      assert.ok(
        lines.some((l) => l.includes("[disabled-too-large]")),
        "the warning is logged with its rule",
      );
    } finally {
      await d.stop();
    }
    await d.done;
  });
});

describe("daemon warm-up (fake sockets)", () => {
  test("the engine warms up once, before the first iteration, without sending on the daemon's sockets", async () => {
    const file = join(dir, "warm.yaml");
    writeFileSync(
      file,
      config(
        "  a: {type: ICMPping, destination: 198.18.1.0/28, is_subnet: true, nb_packets: 2, timeout: 0.05}\n",
      ),
    );
    const m = new Recorder();
    const { d, lines, fake } = daemon(file, m);
    // As bin/netprobify.js does: V8's young generation held at its first size through start-up.
    assert.equal(holdYoungGeneration(false), true);
    await d.init();
    d.start();
    let heldInFirst = false;
    try {
      await until(() => lines.some((l) => l.includes("engine warmed up")), "the warm-up");
      heldInFirst = youngGenerationHeld();
      await new Promise((r) => setTimeout(r, 1300));
    } finally {
      await d.stop();
      releaseYoungGeneration();
    }
    await d.done;
    assert.ok(heldInFirst, "held through the warm-up");
    assert.equal(youngGenerationHeld(), false, "let grow once the first iteration was recorded");
    const warmed = lines.filter((l) => l.includes("engine warmed up"));
    assert.equal(warmed.length, 1, "once per process, not per iteration");
    const first = lines.findIndex((l) => l.includes("iteration done"));
    assert.ok(first > lines.indexOf(warmed[0]!), "before the first iteration");
    assert.match(warmed[0]!, /"answered":32/, "the sample was the whole 32-probe plan, all answered");
    assert.equal(d.iterations, 2);
    assert.equal(fake.sent.length, 2 * 32, "the daemon's sockets sent the iterations' probes only");
  });
});
