// The original's Python dynamic inventories end to end (needs root: lab, raw sockets): `netprobify
// CONFIG` in a subprocess, its dynamic_inventories/ holding the example of the original's
// documentation verbatim (its example.yaml pointing at a lab target), a module that spins forever and
// one that hoards memory. The example's target is probed and answered; the example dies of its
// NameError after publishing, again and again: its list stays in force (still probed), each crash is
// counted and it is restarted. The spinner's target is probed, its CPU shown; the hog is stopped by
// its memory limit and counted. After SIGTERM no module process is left.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { FIXTURES } from "../support/paths.js";
import { liveProcesses } from "../support/processes.js";
import { PYTHON } from "../support/python.js";
import { value } from "./lib/scrape.js";

const PORT = 19147;

/** The daemon of a test, watched from outside (its log, its /metrics). */
const start = (file: string, o: { keepChars?: number; cwd?: string } = {}) =>
  spawnDaemon(file, {
    port: PORT,
    relevant: /_sent|_loss_total|inventory/,
    ms: 30_000,
    contextChars: 4000,
    ...o,
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
const shims = (): number[] => liveProcesses((p) => p.cmdline.includes("python_shim.py"));

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
    const daemon = start(file, { keepChars: 200_000, cwd: tmpdir() });
    child = daemon.child;

    const spinTarget = `spin_${web}`;
    const body = await daemon.until(
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
      daemon.log(),
      /"module":"example","reason":"exited with code 1: NameError: name 'sleep' is not defined","restartInMs":\d+/,
    );
    assert.match(
      daemon.log(),
      /"module":"hog","reason":"memory limit reached \(128 MB\), exited with code 1: MemoryError/,
    );
    assert.match(
      daemon.log(),
      /"module":"example","pid":\d+,"memoryLimitMb":128,"msg":"dynamic inventory process started"/,
    );

    // The example keeps crashing and being restarted; its list stays in force, probed all along.
    const later = await daemon.until(
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

    daemon.child.kill("SIGTERM");
    assert.equal(await daemon.exit, 0, daemon.log().slice(-2000));
    assert.deepEqual(shims(), [], "no module process left");
  });
});
