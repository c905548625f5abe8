// The original's Python modules run by the inventory host in real python3 child processes (no root
// needed): the example of the original's documentation, verbatim, publishes the list of its
// example.yaml (found where the original found it: in netprobify's working directory, beside the
// configuration), then dies of its NameError: its list stays, the crash is counted and the module
// restarted with doubling delays. Its logging reaches the host's log. A spinning module, a memory
// hog, a module without start(), a missing interpreter and a daemon killed with SIGKILL are handled as
// for JavaScript modules.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { InventoryHostOptions } from "../../src/inventory/host.js";
import { failedLogs, type HostRun, moduleTree, standInDaemon, startHost } from "../support/inventory-host.js";
import { alive } from "../support/processes.js";
import { PYTHON } from "../support/python.js";
import { until } from "../support/until.js";

const MB = 2 ** 20;
const root = mkdtempSync(join(tmpdir(), "npf-python-inv-"));
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * A host running the given Python fixtures from <base>/dynamic_inventories, netprobify's
 * configuration being <base>/netprobify.yaml; files: more files to write into <base>.
 */
function run(
  modules: string[],
  files: Record<string, string> = {},
  o: Partial<InventoryHostOptions> = {},
): HostRun {
  const base = join(root, `${modules.join("-")}-${Math.random().toString(36).slice(2)}`);
  return startHost(
    base,
    modules.map((m) => `python/${m}.py`),
    { files, host: { python: PYTHON, ...o } },
  );
}

describe("the original's Python inventory modules (real python3 child processes)", () => {
  test("the documented example, verbatim: publishes its example.yaml's targets, dies of its NameError; the list stays, crashes are counted, restarts back off", async () => {
    const entry = {
      hostname: "web1",
      destination: "198.18.7.1",
      type: "TCPsyn",
      dst_port: 443,
      nb_packets: 10,
    };
    const r = run(["example"], {
      "example.yaml": `refresh_rate: 10\nadditional_targets:\n  - ${JSON.stringify(entry)}\n`,
    });
    try {
      await until(() => r.failures.length >= 3, "three crashes");
      assert.deepEqual(
        r.published,
        [["example", [entry]]],
        "published once: later runs repeat the same list",
      );
      assert.deepEqual(r.host.published.get("example"), [entry], "in force after the crashes");
      assert.deepEqual(r.failures.slice(0, 3), Array(3).fill(["example", "crash"]));
      const failed = failedLogs(r).slice(0, 3);
      assert.deepEqual(
        failed.map(([, , f]) => f.restartInMs),
        [100, 200, 400],
        "each failure soon after a start doubles the delay, though the module published",
      );
      assert.equal(failed[0]![2].reason, "exited with code 1: NameError: name 'sleep' is not defined");
      // The traceback goes to the log, at error, tagged with the module.
      const tb = r.logs.find(([l, m]) => l === "error" && m === "dynamic inventory module failed")!;
      assert.equal(tb[2].module, "example");
      assert.match(
        String(tb[2].exception),
        /line \d+, in start\n {4}sleep\(config\.get\('refresh_rate', 10\)\)/,
      );
    } finally {
      await r.host.stop();
    }
  });

  test("a process that ran healthyMs before failing starts the delays again", async () => {
    const r = run(["example"], { "example.yaml": "additional_targets: []\n" }, { healthyMs: 0 });
    try {
      await until(() => r.failures.length >= 3, "three crashes");
      assert.deepEqual(
        failedLogs(r)
          .slice(0, 3)
          .map(([, , f]) => f.restartInMs),
        [100, 100, 100],
      );
    } finally {
      await r.host.stop();
    }
  });

  test("the module's logging reaches the host's log: level, message, logger, traceback, tagged with the module", async () => {
    // No example.yaml: the example logs the exception and publishes an empty list.
    const r = run(["example"], {}, { backoffMs: 60_000 });
    try {
      await until(() => r.failures.length === 1, "crashed");
      const logged = r.logs.find(([, m]) => m === "Could not parse the configuration file");
      assert.ok(logged, JSON.stringify(r.logs));
      assert.equal(logged[0], "error");
      assert.equal(logged[2].module, "example");
      assert.equal(logged[2].logger, "example");
      assert.match(String(logged[2].exception), /FileNotFoundError: .*'example\.yaml'/);
      assert.deepEqual(r.host.published.get("example"), []);
    } finally {
      await r.host.stop();
    }
  });

  test("a spinning module shows its CPU, keeps its list, and is ended on stop with nothing left", async () => {
    const r = run(["spin"], { "spin.yaml": "address: 198.18.0.30\n" });
    try {
      await until(() => (r.host.usage("spin")?.cpuSeconds ?? 0) > 0.3, "CPU seen");
      assert.deepEqual(r.host.published.get("spin"), [
        { hostname: "198.18.0.30", type: "ICMPping", nb_packets: 2 },
      ]);
      assert.equal(r.failures.length, 0);
      const u = r.host.usage("spin")!;
      assert.equal(u.processes, 1);
      assert.ok(u.residentBytes > 1 * MB && u.residentBytes < 256 * MB, `resident ${u.residentBytes}`);
    } finally {
      await r.host.stop();
    }
    const pid = Number(r.logs.find(([, m]) => m === "dynamic inventory process started")![2].pid);
    await until(() => !alive(pid), "the spinning module ended", 3000);
    assert.equal(r.failures.length, 0, "a stop is not a crash");
  });

  test("a module hoarding memory is stopped by its limit (MemoryError) and counted as a crash", async () => {
    const base = process.memoryUsage().rss;
    const r = run(["hog"], {}, { memoryBytes: 128 * MB });
    try {
      await until(() => r.failures.length >= 2, "two crashes", 30_000);
      assert.deepEqual(r.failures[0], ["hog", "crash"]);
      assert.match(
        String(failedLogs(r)[0]![2].reason),
        /^memory limit reached \(128 MB\), exited with code 1: MemoryError/,
      );
      assert.ok(process.memoryUsage().rss - base < 100 * MB, "the host's memory is not the module's");
    } finally {
      await r.host.stop();
    }
  });

  test("a daemon killed with SIGKILL takes its Python modules with it (pdeathsig)", async () => {
    const tree = moduleTree(join(root, "killed"), ["python/spin.py"], {
      "spin.yaml": "address: 198.18.0.31\n",
    });
    // A stand-in daemon: prints the module's pid once the module has published (it spins from then).
    const { child: daemon, modulePid } = standInDaemon({ ...tree, python: PYTHON });
    const pid = await modulePid;
    assert.ok(alive(pid), "the module runs");
    daemon.kill("SIGKILL");
    await until(() => !alive(pid), "the module gone with its daemon", 5000);
  });

  test("a module whose start() returns (its thread publishing) ends without a crash; its list stays", async () => {
    const r = run(["returns"]);
    try {
      await until(() => r.logs.some(([, m]) => m === "dynamic inventory returned"), "returned");
      assert.deepEqual(r.host.published.get("returns"), [{ hostname: "198.18.0.32", type: "ICMPping" }]);
      assert.equal(r.failures.length, 0);
    } finally {
      await r.host.stop();
    }
  });

  test("a module without start(), and a missing interpreter: crashes saying why", async () => {
    const r = run(["nostart"], {}, { backoffMs: 60_000 });
    const missing = run(["spin"], {}, { backoffMs: 60_000, python: join(root, "no-such-python3") });
    try {
      await until(() => r.failures.length === 1 && missing.failures.length === 1, "both crashed");
      assert.match(
        String(failedLogs(r)[0]![2].reason),
        /^exited with code 1: TypeError: .*nostart\.py defines no start\(\) function$/,
      );
      assert.match(String(failedLogs(missing)[0]![2].reason), /no-such-python3: No such file or directory/);
    } finally {
      await r.host.stop();
      await missing.host.stop();
    }
  });
});
