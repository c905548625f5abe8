// A real Prometheus server (Debian's package) scrapes the daemon in the lab with basic auth and
// evaluates the shipped alert rules (prometheus/alerts.yml, without their `for:` so that they act
// within seconds): they fire for the faulty targets (injected loss, delay, a router's host
// unreachable, a firewall refusing the probes) and stay silent for the healthy ones; a refused reload
// and the daemon's death fire theirs. The rules users of the original already run (docs/migration.md) are evaluated verbatim
// too. Then every query of the shipped Grafana dashboard (grafana/netprobify.json), variables
// substituted as Grafana does, must return data. Needs root (lab, raw sockets) and the prometheus
// package (.ci/run installs it).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { allValues, loadDashboard, queriesOf, substitute, variableQuery } from "../dashboard/dashboard.js";
import { REPO } from "../support/paths.js";
import { type Prometheus, rulesWithoutFor, startDaemon, startPrometheus, waitFor } from "./lib/promlab.js";

const DAEMON_PORT = 19111;
const PROM_PORT = 19190;

/** The rules users of the original run (docs/migration.md), verbatim, and the destinations each selects here. */
const USERS_RULES: [string, string[]][] = [
  ['tcpsyn_loss_ratio{probe_name="lab"} * 100 > 0.1', ["lossy", "unreach"]],
  ['tcpsyn_round_trip_seconds{probe_name="lab",percentile="95"} * 1000 > 100', ["slow"]],
  ['app_iteration_time_seconds{probe_name="lab"} > 90', []],
  ['sum by(probe_name) (increase(tcpsyn_sent_total{probe_name="lab"}[10m])) == 0', []],
  ['app_reload_conf_failed_status{probe_name="lab"} > 0', []],
  [
    'tcpsyn_round_trip_seconds{probe_name="lab",percentile="95"} * 1000 > on(destination, probe_name) threshold{alert_level="paging",type="latency"} * 1000',
    ["slow"],
  ],
];

/** What fires while the daemon runs: alertname/destination ("-" for the probe-wide ones). */
const FAULTS = [
  "NetprobifyLatency/slow",
  "NetprobifyLatencyOverThreshold/slow",
  "NetprobifyLoss/lossy",
  "NetprobifyLoss/unreach",
  "NetprobifySendFailures/-",
];

describe("a real Prometheus scrapes the daemon: shipped alert rules and dashboard (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let prom: Prometheus;
  let daemon: ReturnType<typeof startDaemon>;
  let config: string;
  let blockedAddr: string;

  before(async () => {
    lab = await createLab({
      router: true,
      targets: [
        { name: "clean", tcpPorts: [443], rangeSize: 4 },
        { name: "lossy", tcpPorts: [443] },
        { name: "slow", tcpPorts: [443], impair: { to: { delayMs: 60 }, from: { delayMs: 60 } } },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), "npf-prom-"));
    const clean = lab.target("clean");
    blockedAddr = clean.range!.v4(1);
    const tcp = (name: string, addr: string, extra = "") =>
      `  ${name}: {type: TCPsyn, destination: "${addr}", dst_port: 443, nb_packets: 20, timeout: 0.5${extra}}\n`;
    const paging = ", threshold: {latency: 0.05}, alert_level: paging";
    config = join(dir, "netprobify.yaml");
    writeFileSync(
      config,
      `global: {probe_name: lab, interval: 2, nb_proc: 1, logging_level: WARNING, prometheus_port: ${DAEMON_PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  standard: {src_port_a: 64000, src_port_z: 64019}
inventories:
  extra: {type: file, path: extra.yaml}
targets:
${tcp("clean", clean.v4, paging)}${tcp("lossy", lab.target("lossy").v4)}${tcp("slow", lab.target("slow").v4, paging)}${tcp("blocked", blockedAddr)}${tcp("unreach", lab.router!.unreachable.v4(1))}  ping: {type: ICMPping, destination: "${clean.v4}", nb_packets: 20, timeout: 0.5}
  udp: {type: UDPunreachable, destination: "${clean.v4}", dst_port: 33434, nb_packets: 20, timeout: 0.5}
`,
    );
    writeFileSync(
      join(dir, "extra.yaml"),
      `- {hostname: "${clean.range!.v4(2)}", type: TCPsyn, dst_port: 443, nb_packets: 20, timeout: 0.5}\n`,
    );
    await lab.setLoss("lossy", 50, "to");
    // The firewall of the probe host refuses every probe to `blocked`: EPERM, send failures.
    await lab.exec(undefined, "nft", ["-f", "-"], {
      input: `table inet npf_prom_block {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr ${blockedAddr} drop\n }\n}\n`,
    });

    daemon = startDaemon(config, { PROM_USER: "prom", PROM_PASSWORD: "s3cret" });
    prom = await startPrometheus(lab, dir, {
      port: PROM_PORT,
      targets: [`127.0.0.1:${DAEMON_PORT}`],
      ruleFiles: [rulesWithoutFor(`${REPO}prometheus/alerts.yml`, join(dir, "alerts.yml"))],
      basicAuth: { username: "prom", password: "s3cret" },
    });
  });

  after(async () => {
    daemon?.proc.kill("SIGKILL");
    await lab?.exec(undefined, "nft", ["delete", "table", "inet", "npf_prom_block"], { allowFail: true });
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the shipped alerts fire for the faulty targets only; the users' rules select the same", async () => {
    let firing: string[] = [];
    await waitFor(60_000, async () => {
      firing = await prom.firing();
      return FAULTS.every((f) => firing.includes(f));
    });
    const up = await prom.query('up{job="netprobify"}');
    assert.equal(
      up[0]?.value[1],
      "1",
      `Prometheus scrapes the daemon with basic auth (daemon log: ${daemon.log()})`,
    );
    assert.deepEqual(firing, FAULTS, `daemon log: ${daemon.log()}`);

    // Silent because healthy, not because absent: the healthy targets were measured.
    for (const [metric, dest] of [
      ["tcpsyn_sent_total", "clean"],
      ["icmp_sent_total", "ping"],
      ["udp_unreachable_sent_total", "udp"],
    ] as const) {
      const r = await prom.query(`${metric}{destination="${dest}"}`);
      assert.ok(Number(r[0]?.value[1]) >= 20, `${dest} was probed`);
    }
    const inv = await prom.query('tcpsyn_sent_total{destination=~"extra_.*"}');
    assert.ok(Number(inv[0]?.value[1]) >= 20, "the inventory's target was probed");
    const refused = await prom.query('netprobify_send_failures_total{errno="EPERM"}');
    assert.ok(Number(refused[0]?.value[1]) >= 20, "the firewall refused the probes to blocked");

    for (const [expr, want] of USERS_RULES) {
      const got = (await prom.query(expr)).map((s) => s.metric.destination ?? s.metric.probe_name).sort();
      assert.deepEqual(got, want, expr);
    }
  });

  test("every query of the Grafana dashboard returns data", async () => {
    const d = loadDashboard();
    const values = { ...allValues(d), probe_name: "lab" };
    const builtins = { __rate_interval: "1m", __interval: "2s", __range: "5m" };

    // Variables: label_values(match, label), as Grafana's Prometheus data source runs them.
    const labelValues = async (q: string, vals: Record<string, string>) => {
      const m = /^label_values\((.*),\s*(\w+)\)$/.exec(substitute(q, vals, builtins));
      assert.ok(m, q);
      return (await prom.labelValues(m[2]!, m[1]!)).sort();
    };
    const vars = new Map(d.templating.list.map((v) => [v.name, variableQuery(v)]));
    assert.deepEqual(await labelValues(vars.get("probe_name")!, values), ["lab"]);
    const dests = await labelValues(vars.get("destination")!, values);
    for (const n of ["blocked", "clean", "lossy", "ping", "slow", "udp", "unreach"])
      assert.ok(dests.includes(n), n);
    assert.ok(
      dests.some((n) => n.startsWith("extra_")),
      dests.join(),
    );
    assert.deepEqual(await labelValues(vars.get("destination")!, { ...values, type: "icmp" }), ["ping"]);

    const queries = queriesOf(d).map((q) => ({
      name: `${q.panel.title} ${q.target.refId}`,
      expr: substitute(q.target.expr, values, builtins),
    }));
    assert.ok(queries.length >= 25, `${queries.length} queries`);
    let empty: string[] = [];
    await waitFor(60_000, async () => {
      empty = [];
      for (const q of queries) {
        if ((await prom.query(q.expr)).length === 0) empty.push(`${q.name}: ${q.expr}`);
      }
      return empty.length === 0;
    });
    assert.deepEqual(empty, [], "queries without data");
  });

  test("a refused reload and the daemon's death fire their alerts", async () => {
    writeFileSync(config, "global: {probe_name: lab\n");
    daemon.proc.kill("SIGHUP");
    let firing = await prom.untilFiring("NetprobifyReloadFailed/-", 30_000);
    assert.ok(
      firing.includes("NetprobifyReloadFailed/-"),
      `${firing.join(", ")}; daemon log: ${daemon.log()}`,
    );
    assert.equal((await prom.query('app_reload_conf_failed_status{probe_name="lab"} > 0')).length, 1);

    daemon.proc.kill("SIGTERM");
    firing = await prom.untilFiring("NetprobifyExporterDown/-", 30_000);
    assert.ok(firing.includes("NetprobifyExporterDown/-"), firing.join(", "));
    assert.ok(!firing.includes("NetprobifyExporterAbsent/-"), "the target is down, not absent");
  });
});
