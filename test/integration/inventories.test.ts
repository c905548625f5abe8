// Dynamic inventories end to end (needs root: lab, raw sockets): `netprobify CONFIG` in a subprocess
// with the example module, a module that throws, one that loops forever, one that publishes invalid
// entries, a disabled one, a built-in file inventory and a built-in http inventory served by this
// test on loopback. Every valid target they publish is probed in the lab (answers counted, no loss);
// the misbehaving ones are survived with probing going on, and counted; the file inventory picks up
// an edit (a target added, one removed with its series); the http one survives a 500 with its last
// list still probed; an expired entry is never probed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../lab/lab.js";
import { BIN, FIXTURES, REPO } from "../support/paths.js";
import { until as untilScrape, value } from "./lib/scrape.js";

const PORT = 19131;

let daemonLog = "";

const until = (pred: (body: string) => boolean, what: string, ms = 15000) =>
  untilScrape(what, pred, {
    port: PORT,
    ms,
    relevant: /icmp_sent|inventory|iterations/,
    context: () => `log:\n${daemonLog.slice(-3000)}`,
  });

const S = (dest: string) =>
  `probe_name="lab",destination="${dest}",address_family="ipv4",state="",group="standard"`;
const sent = (b: string, dest: string) => value(b, `icmp_sent_total{${S(dest)}}`) ?? 0;
const loss = (b: string, dest: string) => value(b, `icmp_loss_total{${S(dest)}}`);
const inv = (metric: string, name: string, extra = "") =>
  `netprobify_inventory_${metric}{probe_name="lab",inventory="${name}"${extra}}`;

describe("dynamic inventories in the lab (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let http: Server;
  let httpReply: { status: number; body: string } = { status: 200, body: "[]" };
  let child: ChildProcess | undefined;

  before(async () => {
    lab = await createLab({ targets: [{ name: "inv", rangeSize: 16 }] });
    dir = mkdtempSync(join(tmpdir(), "npf-inv-lab-"));
    http = createServer((_req, res) => {
      res.writeHead(httpReply.status, { "content-type": "application/json" });
      res.end(httpReply.body);
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  });
  after(async () => {
    child?.kill("SIGKILL");
    http?.closeAllConnections();
    http?.close();
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("plugins and built-in inventories feed probing; failures are survived and counted", async () => {
    const r = lab.target("inv").range!;
    const a = (i: number) => r.v4(i);
    const mods = join(dir, "dynamic_inventories");
    mkdirSync(mods);
    copyFileSync(`${REPO}examples/dynamic_inventories/example.mjs`, join(mods, "example.mjs"));
    for (const m of ["invalid", "loops", "throws", "disabled"])
      copyFileSync(`${FIXTURES}inventories/lab/${m}.mjs`, join(mods, `${m}.mjs`));
    writeFileSync(
      join(dir, "example.yaml"),
      `hosts: ["${a(0)}", "${a(1)}"]\ntype: ICMPping\nnb_packets: 3\nrefresh_seconds: 300\n`,
    );
    writeFileSync(join(dir, "invalid.yaml"), `address: "${a(2)}"\n`);
    writeFileSync(join(dir, "loops.yaml"), `address: "${a(3)}"\n`);
    const listFile = join(dir, "lab-targets.yaml");
    writeFileSync(
      listFile,
      `- {hostname: "${a(4)}", type: ICMPping, nb_packets: 2}\n` +
        `- {hostname: "${a(5)}", type: ICMPping, creation_date: "2020-01-01T00:00:00Z", lifetime: "1d"}\n`,
    );
    httpReply = { status: 200, body: JSON.stringify([{ hostname: a(6), type: "ICMPping", nb_packets: 2 }]) };
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/targets`;
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, disable_dynamic_inventories: [disabled]}
groups:
  standard: {src_port_a: 63100, src_port_z: 63109}
targets:
  static: {type: ICMPping, destination: "${a(7)}", nb_packets: 2}
inventories:
  lab: {type: file, path: lab-targets.yaml, interval: 1}
  api: {type: http, url: "${url}", interval: 0.5, timeout: 0.5}
`,
    );
    child = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "pipe", "pipe"] });
    daemonLog = "";
    child.stderr!.on("data", (b) => {
      daemonLog += String(b);
    });
    child.stdout!.on("data", (b) => {
      daemonLog += String(b);
    });
    const exit = new Promise<number | null>((res) => child!.once("exit", (code) => res(code)));

    const probed = [
      `example_${a(0)}`,
      `example_${a(1)}`,
      `invalid_${a(2)}`,
      `loops_${a(3)}`,
      `lab_${a(4)}`,
      `api_${a(6)}`,
    ];
    const body = await until(
      (b) => probed.every((d) => sent(b, d) >= 4) && sent(b, "static") >= 4,
      "every published target probed twice",
    );
    for (const d of probed) assert.equal(loss(body, d), 0, `${d}: answered in the lab`);
    assert.equal(sent(body, `example_${a(0)}`) % 3, 0, "nb_packets: 3 from example.yaml");
    assert.doesNotMatch(
      body,
      new RegExp(`destination="lab_${a(5).replaceAll(".", "\\.")}"`),
      "expired entry not probed",
    );
    assert.doesNotMatch(body, /destination="disabled_/, "disabled module not started");
    assert.match(daemonLog, /"module":"disabled","msg":"dynamic inventory disabled by configuration"/);

    // Failures: counted, probing goes on.
    assert.ok((value(body, inv("errors_total", "throws", ',reason="crash"')) ?? 0) >= 1, "throws counted");
    assert.equal(value(body, inv("invalid_entries", "invalid")), 4);
    assert.equal(value(body, inv("targets", "invalid")), 1);
    assert.equal(value(body, inv("targets", "example")), 2);
    assert.equal(value(body, inv("targets", "lab")), 1, "the expired entry is not in force");
    assert.ok((value(body, inv("last_publish_timestamp_seconds", "api")) ?? 0) > Date.now() / 1000 - 60);
    assert.match(daemonLog, /cmdb unreachable/);
    assert.match(daemonLog, /inventory entry skipped/);

    // The file inventory picks up an edit: a(4) removed (series gone), a(8) added.
    writeFileSync(listFile, `- {hostname: "${a(8)}", type: ICMPping, nb_packets: 2}\n`);
    const edited = await until(
      (b) => sent(b, `lab_${a(8)}`) >= 2 && !b.includes(`destination="lab_${a(4)}"`),
      "file edit applied",
    );
    assert.equal(loss(edited, `lab_${a(8)}`), 0);

    // The http inventory fails (500): counted; its last list is still probed.
    httpReply = { status: 500, body: "down" };
    const failing = await until(
      (b) => (value(b, inv("errors_total", "api", ',reason="reported"')) ?? 0) >= 2,
      "http failures counted",
    );
    const before = sent(failing, `api_${a(6)}`);
    const later = await until((b) => sent(b, `api_${a(6)}`) >= before + 4, "api target still probed");
    const iterations = value(later, `netprobify_iterations_total{probe_name="lab"}`)!;
    assert.ok(iterations >= 4, `iterations go on: ${iterations}`);
    assert.ok(
      sent(later, `loops_${a(3)}`) > sent(body, `loops_${a(3)}`),
      "the looping module's target still probed",
    );

    child.kill("SIGTERM");
    assert.equal(await exit, 0, daemonLog.slice(-2000));
  });
});
