// Modules that attack the daemon's resources, each run by the inventory host in real child
// processes (no root needed): memory (Buffers, heap), CPU, giant and rapid lists, output floods,
// SIGTERM ignored with a forked child, fd leaks, fork sprees. The host (here: this test's process,
// standing for the daemon) must stay small, count and log each, and leave no process behind.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { InventoryHost, type InventoryHostOptions, LIMITS } from "../../src/inventory/host.js";
import { failedLogs, type HostRun, moduleTree, standInDaemon, startHost } from "../support/inventory-host.js";
import { alive, liveProcesses } from "../support/processes.js";
import { until } from "../support/until.js";

const MB = 2 ** 20;
const root = mkdtempSync(join(tmpdir(), "npf-hostile-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A host running the given fixture modules of hostile/ (a directory of their own). */
function run(modules: string[], o: Partial<InventoryHostOptions> = {}): HostRun {
  const base = join(root, `${modules.join("-")}-${Math.random().toString(36).slice(2)}`);
  return startHost(
    base,
    modules.map((m) => `hostile/${m}.mjs`),
    { host: o },
  );
}

const rss = () => process.memoryUsage().rss;

describe("hostile inventory modules (real child processes)", () => {
  for (const [module, how] of [
    ["hoard", "16 MB Buffers"],
    ["heap", "a growing JavaScript heap"],
  ] as const) {
    test(`a module hoarding memory (${how}) is killed by its limit and counted as a crash; the host's RSS stays small`, async () => {
      const base = rss();
      const r = run([module], { memoryBytes: 256 * MB });
      const bounded = () =>
        assert.ok(rss() - base < 200 * MB, `host RSS grew by ${((rss() - base) / MB).toFixed(0)} MB`);
      try {
        await until(() => r.failures.length >= 2, "two crashes", 30_000, bounded);
        assert.deepEqual(r.failures[0], [module, "crash"]);
        const why = failedLogs(r)[0]!;
        assert.match(String(why[2].reason), /^memory limit reached \(256 MB\)/, String(why[2].reason));
        assert.deepEqual(r.host.published.get(module), [
          { hostname: module === "hoard" ? "198.18.0.20" : "198.18.0.21", type: "ICMPping" },
        ]);
      } finally {
        await r.host.stop();
      }
    });
  }

  test("a spinning module shows about one CPU second per second, and its resident memory", async () => {
    const { dir, configFile } = moduleTree(join(root, "spin"), ["loops.mjs"]);
    const usage: [string, number, number][] = [];
    const host = new InventoryHost({
      dir,
      configFile,
      loggingLevel: "INFO",
      log: () => {},
      sampleMs: 200,
      onUsage: (m, u) => usage.push([m, u.cpuSeconds, u.residentBytes]),
    });
    host.start();
    try {
      await until(() => (host.usage("loops")?.cpuSeconds ?? 0) > 0.2, "CPU seen");
      const c0 = host.usage("loops")!.cpuSeconds;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const c1 = host.usage("loops")!.cpuSeconds;
      const perSecond = (c1 - c0) / ((performance.now() - t0) / 1000);
      // One core spinning (about 1 on an idle machine); the machine's other load can only take some
      // of it away, so the bound is loose: this is about the metric, not the scheduler.
      assert.ok(perSecond > 0.2 && perSecond < 1.3, `CPU seconds per second: ${perSecond.toFixed(2)}`);
      const u = host.usage("loops")!;
      assert.ok(u.residentBytes > 10 * MB && u.residentBytes < 256 * MB, `resident ${u.residentBytes}`);
      assert.equal(u.processes, 1);
      assert.ok(
        usage.some(([m, c]) => m === "loops" && c > 0),
        "reported through onUsage",
      );
    } finally {
      await host.stop();
    }
  });

  test("a giant list (too many entries, too many bytes) is dropped and counted; the last list stays", async () => {
    const base = rss();
    const r = run(["giant"]);
    try {
      await until(() => r.host.dropped.get("giant")?.get("too_large") === 1, "9 MB list dropped", 20_000);
      assert.equal(r.host.dropped.get("giant")?.get("too_many_entries"), 1);
      assert.deepEqual(r.published, [["giant", [{ hostname: "198.18.0.22", type: "ICMPping" }]]]);
      assert.ok(rss() - base < 150 * MB, `host RSS grew by ${((rss() - base) / MB).toFixed(0)} MB`);
      assert.ok(r.logs.some(([l, m]) => l === "warn" && m.includes("over 50000 entries")));
      assert.equal(r.failures.length, 0);
    } finally {
      await r.host.stop();
    }
  });

  test("lists published in a tight loop are processed at most once per interval; the newest wins", async () => {
    const r = run(["flood-publish"], { publishIntervalMs: 500 });
    const t0 = performance.now();
    try {
      const last = [{ hostname: "198.18.78.31", type: "ICMPping" }]; // i = 19,999
      await until(
        () => JSON.stringify(r.host.published.get("flood-publish")) === JSON.stringify(last),
        "the newest list processed",
      );
      const seconds = (performance.now() - t0) / 1000;
      assert.ok(
        r.published.length <= 2 + seconds * 2,
        `${r.published.length} lists in ${seconds.toFixed(1)} s`,
      );
      const superseded = r.host.dropped.get("flood-publish")?.get("superseded") ?? 0;
      assert.equal(superseded + r.published.length, 20_000, "every list either processed or superseded");
    } finally {
      await r.host.stop();
    }
  });

  test("lines on its channel that are not JSON objects are dropped and counted; the module goes on", async () => {
    const r = run(["garbage"]);
    try {
      await until(() => r.published.length === 1, "published");
      assert.equal(r.host.dropped.get("garbage")?.get("malformed"), 3);
      assert.equal(r.failures.length, 0);
    } finally {
      await r.host.stop();
    }
  });

  test("megabytes of stdout and stderr are read at a bounded rate, logged at a bounded rate, and counted", async () => {
    const base = rss();
    const r = run(["flood-output"]);
    try {
      const dropped = () => r.host.dropped.get("flood-output")?.get("log") ?? 0;
      const logged = () => r.logs.filter(([, , f]) => f.stream !== undefined).length;
      await until(() => logged() + dropped() >= 32_769, "every line read", 30_000);
      await until(() => r.published.length === 1, "published after its output", 30_000);
      assert.ok(logged() <= LIMITS.logLinesPerSecond * 40, `${logged()} output lines logged`);
      assert.ok(dropped() > 30_000, `lines counted: ${dropped()}`);
      assert.ok(
        r.logs.every(([, m]) => m.length <= LIMITS.logLineChars),
        "no log line longer than the cap",
      );
      assert.ok(rss() - base < 150 * MB, `host RSS grew by ${((rss() - base) / MB).toFixed(0)} MB`);
    } finally {
      await r.host.stop();
    }
  });

  test("a module ignoring SIGTERM, with a child ignoring it too, is killed with its process group on stop", async () => {
    const r = run(["stubborn"]);
    await until(() => r.logs.some(([, m]) => m === "forked"), "forked");
    const pid = Number(r.logs.find(([, m]) => m === "forked")![2].pid);
    assert.ok(alive(pid));
    await new Promise((res) => setTimeout(res, 300)); // spinning now
    await r.host.stop();
    await until(() => !alive(pid), "the module's child killed", 3000);
    assert.equal(r.failures.length, 0, "a stop is not a crash");
  });

  test("a daemon killed with SIGKILL takes its modules' processes with it (pdeathsig)", async () => {
    // loops.mjs spins: it never sees its channel close.
    const { child: daemon, modulePid } = standInDaemon(moduleTree(join(root, "orphan"), ["loops.mjs"]));
    const pid = await modulePid;
    assert.ok(alive(pid), "module running (it published: now it spins)");
    daemon.kill("SIGKILL");
    await until(() => !alive(pid), "module process gone with the daemon", 5000);
  });

  test("a module leaking file descriptors exhausts its own limit, not the host's", async () => {
    const before = readdirSync("/proc/self/fd").length;
    const r = run(["fds"]);
    try {
      await until(() => r.logs.some(([, m]) => m === "opened"), "opened");
      const n = Number(r.logs.find(([, m]) => m === "opened")![2].n);
      assert.ok(n < LIMITS.openFiles, `opened ${n}`);
      assert.match(String(r.logs.find(([l]) => l === "warn")?.[1]), /EMFILE/);
      const now = readdirSync("/proc/self/fd").length;
      assert.ok(now - before < 50, `host fds ${before} -> ${now}`);
    } finally {
      await r.host.stop();
    }
  });

  test("a module forking more processes than allowed is killed with all of them and counted", async () => {
    const r = run(["forks"], { backoffMs: 60_000 });
    try {
      await until(() => r.failures.length === 1, "killed");
      const why = failedLogs(r)[0]!;
      assert.match(String(why[2].reason), /too many processes/);
      // Its process group (the module's first pid): none of the 100 children may be left in it.
      const pgid = String(r.logs.find(([, m]) => m === "dynamic inventory process started")![2].pid);
      const sleeping = () => liveProcesses((p) => String(p.pgid) === pgid);
      await until(() => sleeping().length === 0, "its children killed", 5000);
    } finally {
      await r.host.stop();
    }
  });
});
