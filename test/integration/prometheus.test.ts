// A real Prometheus server (Debian's package) scrapes the daemon in the lab, with basic auth, and
// evaluates the alert rules users already run (compat.md), verbatim: they fire for the target behind
// injected loss or delay and stay silent for the clean one. promtool checks the rules first. Needs
// root (lab, raw sockets) and the prometheus package (.ci/run installs it).
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";

const RULES = `groups:
  - name: netprobify
    interval: 1s
    rules:
      - alert: TcpsynLoss
        expr: tcpsyn_loss_ratio{probe_name="lab"} * 100 > 0.1
      - alert: TcpsynLatency
        expr: tcpsyn_round_trip_seconds{probe_name="lab",percentile="95"} * 1000 > 100
      - alert: IterationTooLong
        expr: app_iteration_time_seconds{probe_name="lab"} > 90
      - alert: NothingSent
        expr: sum by(probe_name) (increase(tcpsyn_sent_total{probe_name="lab"}[10m])) == 0
      - alert: ReloadFailed
        expr: app_reload_conf_failed_status{probe_name="lab"} > 0
      - alert: LatencyOverThreshold
        expr: tcpsyn_round_trip_seconds{probe_name="lab",percentile="95"} * 1000 > on(destination, probe_name) threshold{alert_level="paging",type="latency"} * 1000
`;

interface Alert {
  labels: Record<string, string>;
  state: string;
}

describe("a real Prometheus scrapes the daemon and evaluates the users' alert rules (needs root)", () => {
  let lab: Lab;
  let dir: string;
  const procs: ChildProcess[] = [];
  before(async () => {
    lab = await createLab({
      targets: [
        { name: "clean", tcpPorts: [443] },
        { name: "lossy", tcpPorts: [443] },
        { name: "slow", tcpPorts: [443], impair: { to: { delayMs: 60 }, from: { delayMs: 60 } } },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), "npf-prom-"));
  });
  after(async () => {
    for (const p of procs) p.kill("SIGKILL");
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("alerts fire for injected loss and delay only", async () => {
    const daemonPort = 19111;
    const promPort = 19190;
    const target = (name: string, extra = "") =>
      `  ${name}: {type: TCPsyn, destination: "${lab.target(name).v4}", dst_port: 443, nb_packets: 20, timeout: 0.5${extra}}\n`;
    const config = join(dir, "netprobify.yaml");
    writeFileSync(
      config,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: WARNING, prometheus_port: ${daemonPort}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  standard: {src_port_a: 64000, src_port_z: 64019}
targets:
${target("clean", ", threshold: {latency: 0.05}, alert_level: paging")}${target("lossy")}${target("slow", ", threshold: {latency: 0.05}, alert_level: paging")}`,
    );
    await lab.setLoss("lossy", 50, "to");

    const rules = join(dir, "rules.yml");
    writeFileSync(rules, RULES);
    execFileSync("promtool", ["check", "rules", rules], { stdio: "pipe" });
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["${rules}"]
scrape_configs:
  - job_name: netprobify
    basic_auth: {username: prom, password: s3cret}
    static_configs: [{targets: ["127.0.0.1:${daemonPort}"]}]
`,
    );

    const daemon = spawn(process.execPath, [BIN, config], {
      env: { ...process.env, PROM_USER: "prom", PROM_PASSWORD: "s3cret" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    procs.push(daemon);
    let daemonErr = "";
    daemon.stderr!.on("data", (b) => {
      daemonErr += String(b);
    });
    const prom = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn",
      ],
      { stdio: "ignore" },
    );
    procs.push(prom);

    // Wait until Prometheus has scraped a few iterations and evaluated the rules.
    const deadline = Date.now() + 30_000;
    let alerts: Alert[] = [];
    let up = "";
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      try {
        const q = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=up`)).json()) as {
          data: { result: { value: [number, string] }[] };
        };
        up = q.data.result[0]?.value[1] ?? "";
        const a = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/alerts`)).json()) as {
          data: { alerts: Alert[] };
        };
        alerts = a.data.alerts;
        const names = new Set(alerts.map((x) => `${x.labels.alertname}/${x.labels.destination}`));
        if (
          names.has("TcpsynLoss/lossy") &&
          names.has("TcpsynLatency/slow") &&
          names.has("LatencyOverThreshold/slow")
        )
          break;
      } catch {
        // Prometheus not up yet
      }
    }
    assert.equal(up, "1", `Prometheus scrapes the daemon with basic auth (daemon stderr: ${daemonErr})`);
    const firing = alerts
      .filter((a) => a.state === "firing")
      .map((a) => `${a.labels.alertname}/${a.labels.destination ?? "-"}`)
      .sort();
    assert.deepEqual(firing, ["LatencyOverThreshold/slow", "TcpsynLatency/slow", "TcpsynLoss/lossy"]);

    // The clean target was measured too (silent because healthy, not because absent).
    const clean = (await (
      await fetch(
        `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('tcpsyn_sent_total{destination="clean"}')}`,
      )
    ).json()) as { data: { result: { value: [number, string] }[] } };
    assert.ok(Number(clean.data.result[0]?.value[1]) >= 20, "the clean target was probed");
    daemon.kill("SIGTERM");
  });
});
