// Reloads of files the YAML libraries used to throw on (unresolved alias, merge on a non-map, alias
// bomb, deep nesting) and of plans over the ceiling: the daemon keeps its running configuration and
// sets the failure gauge, whatever the error. Inventory targets that would take the plan over the
// ceiling are left out, the file's targets keep probing. Fake sockets, no packets.
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Daemon, type DaemonMetrics } from "../../src/daemon/daemon.js";
import { Engine } from "../../src/engine/engine.js";
import { engineOptions } from "../../src/engine/from-config.js";
import { ConfigError } from "../../src/errors.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import { capturedLogger } from "../support/log-capture.js";
import { FIXTURES } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-reload-limits-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0, max_probes_per_iteration: 100}
groups: {g: {src_ipv4: 198.18.0.2}}
targets:
  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05, nb_packets: 30}
`;

class Recorder implements DaemonMetrics {
  reloadFailed: boolean[] = [];
  inventories = new Map<string, { targets?: number; invalid?: number; overCeiling?: number }>();
  applyConfig() {}
  applyPrepared() {}
  recordIteration() {}
  setReloadConfFailed(f: boolean) {
    this.reloadFailed.push(f);
  }
  hostResolved() {
    return true;
  }
  setInventory(name: string, s: { targets?: number; overCeiling?: number }) {
    this.inventories.set(name, { ...this.inventories.get(name), ...s });
  }
}

function daemon(file: string, extra: Partial<ConstructorParameters<typeof Daemon>[0]> = {}) {
  const { log, lines } = capturedLogger("INFO");
  const metrics = new Recorder();
  const fake = new FakeBinding();
  const d = new Daemon({
    file,
    log,
    metrics,
    openEngine: (c) => new Engine({ ...engineOptions(c), sockets: new RawSockets(fake) }),
    ...extra,
  });
  return { d, lines, metrics };
}

const BAD = [
  ["yaml-unresolved-alias", ":14:9 unresolved alias *defualts"],
  ["yaml-merge-non-map", ":11:9 merge key <<"],
  ["yaml-alias-bomb", ":16:9 aliases expand the document"],
  ["yaml-deep-nesting", ":15:115 nesting deeper than 100 levels"],
  ["yaml-deep-block-nesting", ":12:201 nesting deeper than 100 levels"],
  ["plan-ceiling", ":21:17 targets.subnet.nb_packets: the plan holds 51,200,002,000 probes"],
  ["timer-overflow", ":4:13 global.interval"],
] as const;

describe("reload with files the parsers used to throw on", () => {
  for (const [name, expected] of BAD) {
    test(`${name}: start-up refuses it; on reload the running configuration stays, the failure gauge is 1, the log names file and line`, async () => {
      // Start-up with the file: a configuration error (exit 65 in runDaemon), no sockets opened.
      const bad = daemon(`${FIXTURES}config/invalid/${name}.yaml`);
      await assert.rejects(bad.d.init(), (e: unknown) => e instanceof ConfigError && e.exitCode === 65);
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, GOOD);
      const { d, lines, metrics } = daemon(file);
      await d.init();
      try {
        copyFileSync(`${FIXTURES}config/invalid/${name}.yaml`, file);
        assert.equal(await d.reload(), false);
        assert.deepEqual(metrics.reloadFailed, [false, true]);
        assert.deepEqual([...d.config.targets.keys()], ["a"]);
        assert.ok(
          lines.some((l) => l.includes(`${file}${expected}`)),
          `no log line with ${file}${expected}:\n${lines.join("")}`,
        );
        writeFileSync(file, GOOD); // and the next good reload applies
        assert.equal(await d.reload(), true);
        assert.equal(metrics.reloadFailed.at(-1), false);
      } finally {
        await d.stop();
      }
    });
  }

  test("any error while loading, not only a ConfigError, refuses the reload", async () => {
    const file = join(dir, "throws.yaml");
    writeFileSync(file, GOOD);
    let fail = false;
    const { loadConfig } = await import("../../src/config/load.js");
    const { d, lines, metrics } = daemon(file, {
      loadConfig: async (f) => {
        if (fail) throw new RangeError("Maximum call stack size exceeded");
        return loadConfig(f);
      },
    });
    await d.init();
    try {
      fail = true;
      assert.equal(await d.reload(), false);
      assert.deepEqual(metrics.reloadFailed, [false, true]);
      assert.deepEqual([...d.config.targets.keys()], ["a"]);
      assert.ok(lines.some((l) => l.includes("reload refused") || l.includes("reload failed")));
    } finally {
      await d.stop();
    }
  });
});

describe("inventory targets and the plan ceiling", () => {
  test("targets that would take the plan over the ceiling are left out and counted; the file's keep probing", async () => {
    const file = join(dir, "inv.yaml");
    const list = join(dir, "inv-list.yaml");
    // The file plans 30 probes of 100; the inventory offers 60 + 60 + 5: the second 60 does not fit.
    writeFileSync(
      list,
      "- {hostname: 198.18.2.1, type: ICMPping, nb_packets: 60}\n- {hostname: 198.18.2.2, type: ICMPping, nb_packets: 60}\n- {hostname: 198.18.2.3, type: ICMPping, nb_packets: 5}\n",
    );
    writeFileSync(file, `${GOOD}inventories:\n  extra: {type: file, path: inv-list.yaml}\n`);
    const { d, lines, metrics } = daemon(file);
    await d.init();
    d.startInventories();
    d.start();
    try {
      for (let k = 0; k < 100 && !d.config.targets.has("extra_198.18.2.3"); k++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual([...d.config.targets.keys()].sort(), ["a", "extra_198.18.2.1", "extra_198.18.2.3"]);
      const { targets, invalid, overCeiling } = metrics.inventories.get("extra") as Record<string, unknown>;
      assert.deepEqual({ targets, invalid, overCeiling }, { targets: 2, invalid: 0, overCeiling: 1 });
      assert.ok(lines.some((l) => l.includes("inventory targets refused") && l.includes('"refused":1')));
      // One entry alone over the ceiling is left out the same way.
      writeFileSync(list, "- {hostname: 198.18.2.9, type: ICMPping, nb_packets: 1000000000}\n");
      for (let k = 0; k < 100 && d.config.targets.has("extra_198.18.2.1"); k++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual([...d.config.targets.keys()], ["a"]);
      assert.equal(metrics.inventories.get("extra")!.overCeiling, 1);
    } finally {
      await d.stop();
    }
    await d.done;
  });
});
