// The per-flow ledger and ECMP anomaly detection end to end (issue 15): the real daemon probes a lab
// target from 16 source ports while nftables drops every probe from two of them; those two flows are
// flagged (netprobify_path_anomaly = 2, their loss 1; IPv4 and IPv6) and no other, a target losing everything on
// every flow is no anomaly, per-flow series appear only for the target with path_metrics: true,
// never beyond global.path_metrics_max_flows (worst first), and go when a reload turns it off.
// Needs root (lab, raw sockets).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";
import { until as untilScrape, value } from "./lib/scrape.js";

const PORT = 19157;
const PORT_A = 30000;
const FLOWS = 16;
const LOSSY = [30003, 30011];
const CAP = 4;
const P = (d: string) => `probe_name="lab",destination="${d}",group="g"`;

const flowLines = (body: string, d: string) =>
  body
    .split("\n")
    .filter((l) => l.startsWith("netprobify_path_flow_sent_total{") && l.includes(`destination="${d}"`));

describe("per-flow ledger and ECMP anomalies from the real daemon (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let daemon: ChildProcess | undefined;

  before(async () => {
    lab = await createLab({ targets: [{ name: "a" }, { name: "u" }] });
    dir = mkdtempSync(join(tmpdir(), "npf-paths-"));
  });

  after(async () => {
    daemon?.kill("SIGKILL");
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("lossy source ports flagged, uniform loss not, flow series opt-in and capped", async () => {
    await lab.setLoss("a", 100, "to", LOSSY);
    await lab.setLoss("u", 100, "to");
    const file = join(dir, "netprobify.yaml");
    const write = (pathMetrics: boolean) =>
      writeFileSync(
        file,
        `global: {probe_name: lab, interval: 0, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, path_metrics_max_flows: ${CAP}}
groups:
  g: {src_port_a: ${PORT_A}, src_port_z: ${PORT_A + FLOWS - 1}}
targets:
  a: {type: TCPsyn, destination: "${lab.target("a").v4}", dst_port: 443, nb_packets: 64, timeout: 0.2, path_metrics: ${pathMetrics}}
  b: {type: TCPsyn, destination: "${lab.target("a").v4}", dst_port: 444, nb_packets: 64, timeout: 0.2}
  u: {type: TCPsyn, destination: "${lab.target("u").v4}", dst_port: 443, nb_packets: 64, timeout: 0.2}
  a6: {type: TCPsyn, destination: "${lab.target("a").v6}", dst_port: 443, nb_packets: 64, timeout: 0.2, path_metrics: true}
`,
      );
    write(true);
    daemon = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    daemon.stderr!.on("data", (d) => {
      stderr += String(d);
    });
    let maxFlows = 0;
    const until = (what: string, pred: (body: string) => boolean) =>
      untilScrape(
        what,
        (body) => {
          maxFlows = Math.max(maxFlows, flowLines(body, "a").length, flowLines(body, "a6").length);
          return pred(body);
        },
        { port: PORT, ms: 20_000, relevant: /netprobify_path|iterations/, context: () => stderr },
      );

    const body = await until(
      "two flagged flows on a and b",
      (x) =>
        value(x, `netprobify_path_anomaly{${P("a")}}`) === 2 &&
        value(x, `netprobify_path_anomaly{${P("b")}}`) === 2 &&
        value(x, `netprobify_path_anomaly{${P("a6")}}`) === 2 &&
        (value(x, `netprobify_iterations_total{probe_name="lab"}`) ?? 0) >= 3,
    );
    assert.equal(value(body, `netprobify_path_anomaly_loss_ratio{${P("a")}}`), 1);
    assert.equal(value(body, `netprobify_path_flows{${P("a")}}`), FLOWS);
    assert.equal(value(body, `netprobify_path_anomaly{${P("u")}}`), 0, "loss on every flow: no anomaly");
    assert.equal(value(body, `netprobify_path_anomaly_loss_ratio{${P("u")}}`), 0);
    assert.ok(
      (value(
        body,
        `tcpsyn_loss_ratio{probe_name="lab",destination="u",address_family="ipv4",state="None",group="g"}`,
      ) ?? 0) === 1,
    );

    // Flow series: a only (opted in), exactly CAP flows, the lossy ones first.
    const lines = flowLines(body, "a");
    assert.equal(lines.length, CAP);
    assert.deepEqual(flowLines(body, "b"), [], "no path_metrics on b");
    assert.deepEqual(flowLines(body, "u"), []);
    const ports = lines.map((l) => Number(/src_port="(\d+)"/.exec(l)![1]));
    for (const p of LOSSY) assert.ok(ports.includes(p), `lossy port ${p} exported (worst first): ${ports}`);
    const flow = (port: number) => {
      const l = lines.find((x) => x.includes(`src_port="${port}"`))!;
      return l.slice(l.indexOf("{"), l.indexOf("}") + 1);
    };
    for (const p of LOSSY) {
      assert.equal(value(body, `netprobify_path_flow_loss_ratio${flow(p)}`), 1);
      assert.equal(
        value(body, `netprobify_path_flow_lost_total${flow(p)}`),
        value(body, `netprobify_path_flow_sent_total${flow(p)}`),
      );
      assert.equal(
        value(body, `netprobify_path_flow_rtt_seconds${flow(p).replace("}", ',stat="p50"}')}`),
        undefined,
      );
    }
    // IPv6: the same two source ports flagged; each flow carries its own stable flow label.
    const lines6 = flowLines(body, "a6");
    assert.equal(lines6.length, CAP);
    const labels6 = lines6.map((l) => Number(/flow_label="(\d+)"/.exec(l)![1]));
    assert.ok(
      labels6.every((l) => l > 0 && l < 2 ** 20),
      `20-bit labels: ${labels6}`,
    );
    assert.equal(new Set(labels6).size, CAP);
    for (const p of LOSSY)
      assert.ok(
        lines6.some((l) => l.includes(`src_port="${p}"`)),
        `IPv6 lossy port ${p}`,
      );
    const healthy = ports.find((p) => !LOSSY.includes(p))!;
    assert.equal(value(body, `netprobify_path_flow_loss_ratio${flow(healthy)}`), 0);
    assert.equal(
      value(body, `netprobify_path_flow_reply_ttl${flow(healthy)}`),
      64,
      "the target's TTL, one hop",
    );
    assert.ok(
      value(body, `netprobify_path_flow_rtt_seconds${flow(healthy).replace("}", ',stat="p50"}')}`)! > 0,
    );

    // A reload that turns path_metrics off removes the flow series; the anomaly gauges stay.
    write(false);
    daemon.kill("SIGHUP");
    const reloaded = await until(
      "flow series gone",
      (x) => flowLines(x, "a").length === 0 && flowLines(x, "a6").length === CAP,
    );
    assert.equal(value(reloaded, `netprobify_path_anomaly{${P("a")}}`), 2);
    assert.ok(maxFlows <= CAP, `never more than ${CAP} flows exported (saw ${maxFlows})`);
  });
});
