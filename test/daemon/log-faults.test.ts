// Logging must never stop probing (issue 11, item 4). The real daemon, in the lab, with its standard
// error on a tiny tmpfs (mounted in the lab's private mount namespace) that is then filled: it used
// to exit 1 a few seconds later. Now it keeps iterating and serving, counts the lines it drops, and
// writes again once there is room. Same with its standard error and output pipes closed by the reader
// (`netprobify ... 2>&1 | head -1`: EPIPE). Needs root (lab, mount, raw sockets).
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";
import { PYTHON } from "../support/python.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scrape(port: number): Promise<string | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    return r.status === 200 ? await r.text() : undefined;
  } catch {
    return undefined;
  }
}

function value(body: string | undefined, series: string): number {
  const line = body?.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

const ITERATIONS = 'netprobify_iterations_total{probe_name="lab"}';
const DROPPED = 'netprobify_log_lines_dropped_total{probe_name="lab"}';

/** Polls /metrics until pred holds; fails with the exit code if the daemon died meanwhile. */
async function until(
  port: number,
  child: ChildProcess,
  pred: (body: string) => boolean,
  what: string,
  ms = 15_000,
): Promise<string> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      assert.fail(`the daemon exited (${child.exitCode ?? child.signalCode}) while waiting for: ${what}`);
    const body = await scrape(port);
    if (body !== undefined && pred(body)) return body;
    await sleep(100);
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

describe("logging faults do not stop the daemon (needs root)", () => {
  let lab: Lab;
  let dir: string;
  before(async () => {
    lab = await createLab({ targets: [{ name: "web" }] });
    dir = mkdtempSync(join(tmpdir(), "npf-logfaults-"));
  });
  after(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  // verbose + DEBUG: every iteration and every scrape writes a line, so the log keeps trying.
  const cfg = (
    port: number,
  ) => `global: {probe_name: lab, interval: 1, nb_proc: 1, verbose: 1, logging_level: DEBUG, prometheus_port: ${port}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  standard: {src_port_a: 63100, src_port_z: 63109}
targets:
  ping: {type: ICMPping, destination: "${lab.target("web").v4}", nb_packets: 2, timeout: 0.2}
`;

  test("standard error on a full file system: probing and /metrics go on, dropped lines counted, writes resume", async () => {
    const mnt = join(dir, "tiny");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=128k", "npf-tiny", mnt]);
    const port = 19151;
    const file = join(dir, "full.yaml");
    writeFileSync(file, cfg(port));
    const logPath = join(mnt, "netprobify.log");
    const logFd = openSync(logPath, "a");
    const child = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "ignore", logFd] });
    closeSync(logFd);
    const exit = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    try {
      await until(port, child, (b) => value(b, ITERATIONS) >= 1, "a first iteration");
      // Fill the file system to the last byte.
      const filler = openSync(join(mnt, "filler"), "w");
      const block = Buffer.alloc(4096, 120);
      try {
        for (;;) writeSync(filler, block);
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
      }
      for (;;) {
        try {
          writeSync(filler, block.subarray(0, 1));
        } catch {
          break;
        }
      }
      closeSync(filler);
      const full = await until(port, child, (b) => value(b, DROPPED) > 0, "dropped lines counted");
      const it = value(full, ITERATIONS);
      const dropped = value(full, DROPPED);
      const later = await until(
        port,
        child,
        (b) => value(b, ITERATIONS) >= it + 3 && value(b, DROPPED) > dropped,
        "three more iterations while the disk is full, and more lines dropped",
      );
      assert.ok(value(later, DROPPED) > dropped);

      // Room again: the log is written again.
      const size = statSync(logPath).size;
      rmSync(join(mnt, "filler"));
      const deadline = Date.now() + 10_000;
      while (statSync(logPath).size <= size && Date.now() < deadline) await sleep(100);
      assert.ok(statSync(logPath).size > size, "lines are written again once there is room");

      child.kill("SIGTERM");
      assert.equal(await exit, 0);
    } finally {
      child.kill("SIGKILL");
      await exit;
      execFileSync("umount", [mnt]);
    }
  });

  test("a file system full before start-up under everything the daemon touches (log, configuration, inventory modules in JavaScript and Python, working and temporary directories): it starts, probes their targets, serves, and stops with 0", async () => {
    const mnt = join(dir, "full-start");
    mkdirSync(mnt);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "npf-full-start", mnt]);
    const port = 19153;
    const web = lab.target("web").v4;
    const file = join(mnt, "netprobify.yaml");
    writeFileSync(
      file,
      cfg(port).replace(
        "dns_update_interval: 0",
        `dns_update_interval: 0, dynamic_inventories_python: ${PYTHON}`,
      ),
    );
    mkdirSync(join(mnt, "dynamic_inventories"));
    writeFileSync(
      join(mnt, "dynamic_inventories", "fulljs.mjs"),
      `export async function start({ publish, signal }) {
  publish([{ hostname: "${web}", type: "ICMPping", nb_packets: 2, timeout: 0.2 }]);
  await new Promise((r) => signal.addEventListener("abort", r));
}
`,
    );
    writeFileSync(
      join(mnt, "dynamic_inventories", "fullpy.py"),
      `import time


def start(targets, module_name, logging_level, config_file):
    targets[module_name] = [{"hostname": "${web}", "type": "ICMPping", "nb_packets": 2, "timeout": 0.2}]
    while True:
        time.sleep(3600)
`,
    );
    const logFd = openSync(join(mnt, "netprobify.log"), "a");
    // Full to the last byte before the daemon starts.
    const filler = openSync(join(mnt, "filler"), "w");
    const block = Buffer.alloc(4096, 120);
    for (const size of [block.length, 1]) {
      try {
        for (;;) writeSync(filler, block.subarray(0, size));
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
      }
    }
    closeSync(filler);
    const child = spawn(process.execPath, [BIN, file], {
      cwd: mnt,
      env: { ...process.env, TMPDIR: mnt, HOME: mnt },
      stdio: ["ignore", logFd, logFd],
    });
    closeSync(logFd);
    const exit = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    try {
      const body = await until(
        port,
        child,
        (b) => value(b, ITERATIONS) >= 2 && b.includes("fulljs_") && b.includes("fullpy_"),
        "two iterations with both modules' targets",
        30_000,
      );
      assert.ok(value(body, DROPPED) > 0, "lines were dropped, not written");
      for (const module of ["fulljs", "fullpy"]) {
        const line = body
          .split("\n")
          .find((l) => l.startsWith("icmp_sent_total{") && l.includes(`"${module}_`));
        assert.ok(line && Number(line.split(" ").at(-1)) >= 2, `${module}'s target probed: ${line}`);
      }
      child.kill("SIGTERM");
      assert.equal(await exit, 0, "a clean stop while the disk is still full");
    } finally {
      child.kill("SIGKILL");
      await exit;
      execFileSync("umount", [mnt]);
    }
  });

  test("standard output and error closed by the reader (EPIPE, `2>&1 | head -1`): probing and /metrics go on", async () => {
    const port = 19152;
    const file = join(dir, "pipe.yaml");
    writeFileSync(file, cfg(port));
    const child = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "pipe", "pipe"] });
    const exit = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    try {
      // Read the first line, then hang up both pipes, as `head -1` does.
      await new Promise((r) => child.stderr!.once("data", r));
      child.stderr!.destroy();
      child.stdout!.destroy();
      const first = await until(port, child, (b) => value(b, DROPPED) > 0, "dropped lines counted");
      const it = value(first, ITERATIONS);
      await until(port, child, (b) => value(b, ITERATIONS) >= it + 3, "three more iterations");
      child.kill("SIGTERM");
      assert.equal(await exit, 0);
    } finally {
      child.kill("SIGKILL");
      await exit;
    }
  });
});
