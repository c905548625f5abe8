// Modules that attack the daemon's resources, each run by the inventory host in real child
// processes (no root needed): memory (Buffers, heap), CPU, giant and rapid lists, output floods,
// SIGTERM ignored with a forked child, fd leaks, fork sprees. The host (here: this test's process,
// standing for the daemon) must stay small, count and log each, and leave no process behind.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { InventoryHost, type InventoryHostOptions, LIMITS } from "../../src/inventory/host.js";
import { FIXTURES } from "../support/paths.js";

const MB = 2 ** 20;
const root = mkdtempSync(join(tmpdir(), "npf-hostile-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  host: InventoryHost;
  logs: [string, string, Record<string, unknown>][];
  published: [string, unknown][];
  failures: [string, string][];
}

/** A host running the given fixture modules of hostile/ (a directory of their own). */
function run(modules: string[], o: Partial<InventoryHostOptions> = {}): Run {
  const dir = join(root, `${modules.join("-")}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  for (const m of modules) copyFileSync(`${FIXTURES}inventories/hostile/${m}.mjs`, join(dir, `${m}.mjs`));
  const r: Run = { host: undefined as unknown as InventoryHost, logs: [], published: [], failures: [] };
  r.host = new InventoryHost({
    dir,
    configFile: join(dir, "netprobify.yaml"),
    loggingLevel: "INFO",
    log: (level, msg, fields) => r.logs.push([level, msg, fields]),
    onPublish: (m, t) => r.published.push([m, t]),
    onFailure: (m, reason) => r.failures.push([m, reason]),
    backoffMs: 100,
    stopGraceMs: 300,
    sampleMs: 200,
    ...o,
  });
  assert.deepEqual(r.host.start(), modules);
  return r;
}

const rss = () => process.memoryUsage().rss;

/** Polls pred every 50 ms for up to ms; check() runs at each poll (e.g. an RSS bound). */
async function until(pred: () => boolean, what: string, ms = 20_000, check?: () => void): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    check?.();
    assert.ok(performance.now() < end, `timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  check?.();
}

/** Whether a pid is a live process (a zombie is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return false;
  }
}

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
        const why = r.logs.find(([l, m]) => l === "error" && m.startsWith("dynamic inventory failed"))!;
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
    const dir = join(root, "spin");
    mkdirSync(dir);
    copyFileSync(`${FIXTURES}inventories/loops.mjs`, join(dir, "loops.mjs"));
    const usage: [string, number, number][] = [];
    const host = new InventoryHost({
      dir,
      configFile: join(dir, "netprobify.yaml"),
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
    const dir = join(root, "orphan");
    mkdirSync(dir);
    copyFileSync(`${FIXTURES}inventories/loops.mjs`, join(dir, "loops.mjs")); // spins: never sees its channel close
    const host = new URL("../../src/inventory/host.js", import.meta.url).href;
    const script = `import { InventoryHost } from ${JSON.stringify(host)};
      let pid;
      new InventoryHost({ dir: ${JSON.stringify(dir)}, configFile: ${JSON.stringify(join(dir, "x.yaml"))},
        loggingLevel: "INFO", log: (l, m, f) => { if (m === "dynamic inventory process started") pid = f.pid; },
        onPublish: () => console.log(pid) }).start();
      setInterval(() => {}, 1000);`;
    const daemon = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pid = await new Promise<number>((res) =>
      daemon.stdout!.once("data", (b) => res(Number(String(b).trim()))),
    );
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
      const why = r.logs.find(([l, m]) => l === "error" && m.startsWith("dynamic inventory failed"))!;
      assert.match(String(why[2].reason), /too many processes/);
      // Its process group (the module's first pid): none of the 100 children may be left in it.
      const pgid = String(r.logs.find(([, m]) => m === "dynamic inventory process started")![2].pid);
      const sleeping = () =>
        readdirSync("/proc")
          .filter((p) => /^\d+$/.test(p))
          .filter((p) => {
            try {
              const stat = readFileSync(`/proc/${p}/stat`, "latin1");
              return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2] === pgid && alive(Number(p));
            } catch {
              return false;
            }
          });
      await until(() => sleeping().length === 0, "its children killed", 5000);
    } finally {
      await r.host.stop();
    }
  });
});
