// Both reloads as `netprobify run --web.config.file` wires them (src/cli/daemon-run.ts): the daemon
// (fake sockets) reports through DaemonReports, the web configuration through Reloads, and the one
// app_reload_conf_failed_status gauge is 1 while either file's last reload was refused, whichever
// reload came last. Also: what the status page's state hears, and that its failures cost the metrics
// nothing. The real path (raw sockets, TLS, Prometheus) is test/integration/prometheus-tls.test.ts.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DaemonReports } from "../../src/cli/daemon-reports.js";
import { Reloads } from "../../src/cli/web-reload.js";
import { Daemon } from "../../src/daemon/daemon.js";
import { Engine } from "../../src/engine/engine.js";
import { engineOptions } from "../../src/engine/from-config.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import type { WebConfig } from "../../src/server/web-config.js";
import { WebState } from "../../src/web/api.js";
import { capturedLogger } from "../support/log-capture.js";
import { until } from "../support/until.js";

const dir = mkdtempSync(join(tmpdir(), "npf-reloads-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0}
groups: {g: {src_ipv4: 198.18.0.2}}
targets:
  a: {type: ICMPping, destination: 198.18.1.1, timeout: 0.05}
`;
const GOOD_WEB =
  'basic_auth_users:\n  prom: "$2y$10$IP7YRvE95IgdZa9oZHmJLui0eFiZSFEA1z5M/ywTreEVWxtyIkosq"\n';
const BAD_WEB = "basic_auth_users:\n  prom: s3cret\n";

/** The daemon, its metrics, the status page's state and the reloads, wired as daemon-run.ts does. */
async function wired(name: string) {
  const configFile = join(dir, `${name}.yaml`);
  const webFile = join(dir, `${name}-web.yml`);
  writeFileSync(configFile, CONFIG);
  writeFileSync(webFile, GOOD_WEB);
  const { log, lines } = capturedLogger("INFO");
  const metrics = new Metrics({ version: "t", processMetrics: false });
  const page = new WebState("t");
  const pageErrors: unknown[] = [];
  const daemon = new Daemon({
    file: configFile,
    log,
    metrics: new DaemonReports(metrics, page, (err) => pageErrors.push(err)),
    openEngine: (c) => new Engine({ ...engineOptions(c), sockets: new RawSockets(new FakeBinding()) }),
  });
  await daemon.init();
  daemon.start();
  const applied: (WebConfig | undefined)[] = [];
  const server = { applyWeb: (w: WebConfig | undefined) => void applied.push(w) };
  const reloads = new Reloads(metrics, log, webFile);
  /** app_reload_conf_failed_status{probe_name="lab"} as a scrape would read it now. */
  const gauge = async () => {
    const m = /^app_reload_conf_failed_status\{probe_name="lab"\} (\S+)$/m.exec(await metrics.metricsText());
    return m ? Number(m[1]) : undefined;
  };
  return { configFile, webFile, metrics, page, pageErrors, daemon, server, applied, reloads, gauge, lines };
}

/** Runs `body` on a wired daemon, stopped afterwards whatever happens. */
async function withWired(name: string, body: (w: Awaited<ReturnType<typeof wired>>) => Promise<void>) {
  const w = await wired(name);
  try {
    await body(w);
  } finally {
    await w.daemon.stop();
  }
  await w.daemon.done;
}

describe("reloading both files (fake sockets)", () => {
  test("POST /-/reload: a refused web configuration keeps the gauge at 1 though the daemon's reload succeeds; both good clears it", async () => {
    await withWired("post", async (w) => {
      assert.equal(await w.gauge(), 0);
      writeFileSync(w.webFile, BAD_WEB);
      const refused = await w.reloads.reloadBoth(w.server, w.daemon);
      assert.equal(refused.ok, false);
      assert.match(
        refused.message,
        /^web configuration refused, the running one stays:\n.*expected a bcrypt hash/,
      );
      assert.doesNotMatch(refused.message, /configuration reload requested/, "the daemon answered");
      assert.deepEqual(w.applied, [], "the running web configuration stays");
      assert.equal(w.page.reloadFailed, false, "the daemon's own reload succeeded");
      assert.equal(await w.gauge(), 1, "web refused, daemon applied: failed");

      writeFileSync(w.webFile, GOOD_WEB);
      const done = await w.reloads.reloadBoth(w.server, w.daemon);
      assert.deepEqual(done, { ok: true, status: undefined, message: "configuration reloaded" });
      assert.equal(w.applied.length, 1);
      assert.equal(await w.gauge(), 0, "both applied");

      // The other way round: the daemon's file refused, the web one applied.
      writeFileSync(w.configFile, "global: [broken\n");
      const bad = await w.reloads.reloadBoth(w.server, w.daemon);
      assert.equal(bad.ok, false);
      assert.match(bad.message, /^configuration refused, the running one stays/);
      assert.equal(w.page.reloadFailed, true);
      assert.equal(await w.gauge(), 1, "daemon refused, web applied: failed");
      writeFileSync(w.configFile, CONFIG);
      assert.equal((await w.reloads.reloadBoth(w.server, w.daemon)).ok, true);
      assert.equal(await w.gauge(), 0);
      assert.equal(w.page.reloadFailed, false);
    });
  });

  test("SIGHUP: the web reload and the daemon's, in either order, combine into one gauge", async () => {
    await withWired("hup", async (w) => {
      // Web refused first, the daemon's good reload after it: still failed.
      writeFileSync(w.webFile, BAD_WEB);
      assert.equal((await w.reloads.reloadWeb(w.server))?.length, 1);
      assert.equal(await w.gauge(), 1);
      assert.equal(await w.daemon.reloadAndWait(), true);
      assert.equal(await w.gauge(), 1, "the daemon's success does not hide the web file's failure");

      // The daemon's file refused while the web one is fixed: still failed, until both are good.
      writeFileSync(w.configFile, "global: [broken\n");
      assert.equal(await w.daemon.reloadAndWait(), false);
      writeFileSync(w.webFile, GOOD_WEB);
      assert.equal(await w.reloads.reloadWeb(w.server), undefined);
      assert.equal(await w.gauge(), 1, "the web file's success does not hide the daemon's failure");
      writeFileSync(w.configFile, CONFIG);
      assert.equal(await w.daemon.reloadAndWait(), true);
      assert.equal(await w.gauge(), 0);
      assert.ok(w.lines.some((l) => l.includes("web configuration reload refused")));
    });
  });

  test("the status page hears configurations and iterations; its failures are reported and the metrics go on", async () => {
    await withWired("page", async (w) => {
      await until(() => w.page.iterations >= 1, "an iteration heard by the page");
      assert.deepEqual([...(w.page.config?.targets.keys() ?? [])], ["a"]);
      writeFileSync(w.configFile, CONFIG.replace("a: {", "b: {"));
      assert.equal(await w.daemon.reloadAndWait(), true);
      assert.deepEqual([...(w.page.config?.targets.keys() ?? [])], ["b"], "the page heard the reload");
      const broken = new Error("page broke");
      w.page.recordIteration = () => {
        throw broken;
      };
      await until(() => w.pageErrors.length > 0, "the page's failure reported");
      assert.deepEqual(w.pageErrors, [broken]);
      assert.match(
        await w.metrics.metricsText(),
        /^icmp_sent_total\{[^}]*destination="b"[^}]*\} [1-9]/m,
        "the metrics recorded the iteration the page failed on",
      );
    });
  });
});
