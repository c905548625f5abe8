// The original's Python dynamic inventories end to end (needs root: lab, raw sockets): `netprobify
// CONFIG` in a subprocess, its dynamic_inventories/ holding the example of the original's
// documentation verbatim (its example.yaml pointing at a lab target), a module that spins forever and
// one that hoards memory. The example's target is probed and answered; the example dies of its
// NameError after publishing, again and again: its list stays in force (still probed), each crash is
// counted and it is restarted. The spinner's target is probed, its CPU shown; the hog is stopped by
// its memory limit and counted. After SIGTERM no module process is left.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN, FIXTURES } from "../support/paths.js";
import { PYTHON } from "../support/python.js";
import { until as untilScrape, value } from "./lib/scrape.js";

const PORT = 19147;

let daemonLog = "";

const until = (pred: (body: string) => boolean, what: string, ms = 30_000) =>
  untilScrape(what, pred, {
    port: PORT,
    ms,
    relevant: /_sent|_loss_total|inventory/,
    context: () => `log:\n${daemonLog.slice(-4000)}`,
  });

/** A target's series of a metric (whatever its other labels), summed; 0 when it has none. */
function series(body: string, metric: string, destination: string): number {
  let sum = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith(`${metric}{`) && line.includes(`destination="${destination}"`))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

const inv = (metric: string, name: string, extra = "") =>
  `netprobify_inventory_${metric}{probe_name="lab",inventory="${name}"${extra}}`;
const crashes = (b: string, m: string) => value(b, inv("errors_total", m, ',reason="crash"')) ?? 0;

/** Live processes running the Python shim. */
function shims(): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const zombie = /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${p}/stat`, "latin1"));
        return !zombie && readFileSync(`/proc/${p}/cmdline`, "latin1").includes("python_shim.py");
      } catch {
        return false;
      }
    });
}

describe("the original's Python dynamic inventories in the lab (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let child: ChildProcess | undefined;

  before(async () => {
    lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
    dir = mkdtempSync(join(tmpdir(), "npf-pyinv-lab-"));
  });
  after(async () => {
    child?.kill("SIGKILL");
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the documented example runs unchanged: its target probed and answered, its crashes survived with the list kept; a spinner and a hog handled like JS modules", async () => {
    const web = lab.target("web").v4;
    const mods = join(dir, "dynamic_inventories");
    mkdirSync(mods);
    for (const m of ["example", "spin", "hog"])
      copyFileSync(`${FIXTURES}inventories/python/${m}.py`, join(mods, `${m}.py`));
    // The example's configuration, as its header documents it, pointing at the lab.
    writeFileSync(
      join(dir, "example.yaml"),
      `refresh_rate: 10
additional_targets:
  - hostname: web1              # the target is named example_web1
    destination: ${web}
    type: TCPsyn
    dst_port: 443
    nb_packets: 10
`,
    );
    writeFileSync(join(dir, "spin.yaml"), `address: ${web}\n`);
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, dynamic_inventories_python: ${PYTHON}, dynamic_inventories_memory_mb: 128}
groups:
  standard: {src_port_a: 63200, src_port_z: 63209}
targets:
  static: {type: ICMPping, destination: "${web}", nb_packets: 2}
`,
    );
    // From another directory: the example finds example.yaml beside the configuration.
    child = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "pipe", "pipe"], cwd: tmpdir() });
    daemonLog = "";
    const collect = (b: Buffer) => {
      daemonLog = (daemonLog + String(b)).slice(-200_000);
    };
    child.stderr!.on("data", collect);
    child.stdout!.on("data", collect);
    const exit = new Promise<number | null>((res) => child!.once("exit", (code) => res(code)));

    const spinTarget = `spin_${web}`;
    const body = await until(
      (b) =>
        series(b, "tcpsyn_sent_total", "example_web1") >= 20 &&
        series(b, "icmp_sent_total", spinTarget) >= 4 &&
        crashes(b, "example") >= 2 &&
        crashes(b, "hog") >= 2,
      "the example's and the spinner's targets probed; the example and the hog crashed twice",
      60_000,
    );
    assert.equal(
      series(body, "tcpsyn_sent_total", "example_web1") % 10,
      0,
      "nb_packets: 10 from example.yaml",
    );
    assert.equal(series(body, "tcpsyn_loss_total", "example_web1"), 0, "answered in the lab");
    assert.equal(series(body, "icmp_loss_total", spinTarget), 0);
    assert.equal(value(body, inv("targets", "example")), 1);
    assert.equal(crashes(body, "spin"), 0);
    assert.match(
      daemonLog,
      /"module":"example","reason":"exited with code 1: NameError: name 'sleep' is not defined","restartInMs":\d+/,
    );
    assert.match(
      daemonLog,
      /"module":"hog","reason":"memory limit reached \(128 MB\), exited with code 1: MemoryError/,
    );
    assert.match(
      daemonLog,
      /"module":"example","pid":\d+,"memoryLimitMb":128,"msg":"dynamic inventory process started"/,
    );

    // The example keeps crashing and being restarted; its list stays in force, probed all along.
    const later = await until(
      (b) =>
        crashes(b, "example") > crashes(body, "example") &&
        series(b, "tcpsyn_sent_total", "example_web1") >=
          series(body, "tcpsyn_sent_total", "example_web1") + 20,
      "the example restarted again, its target still probed",
      60_000,
    );
    assert.equal(series(later, "tcpsyn_loss_total", "example_web1"), 0);
    assert.ok((value(later, inv("cpu_seconds_total", "spin")) ?? 0) > 0.5, "the spinner's CPU shown");
    assert.equal(series(later, "icmp_loss_total", "static"), 0, "probing goes on");

    child.kill("SIGTERM");
    assert.equal(await exit, 0, daemonLog.slice(-2000));
    assert.deepEqual(shims(), [], "no module process left");
  });
});
