// Proves the lab leaves nothing behind: destroy() (twice), the process-exit hook when the owner
// exits without destroy(), and the kernel's own teardown when a whole enter.sh namespace is killed
// with SIGKILL while a lab with an impairment stage, a responder and tcpdump runs inside it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../src/lab/exec.js";
import { createLab } from "../../src/lab/lab.js";
import { repoRoot } from "../../src/lab/native.js";

async function netnsList(): Promise<string[]> {
  return (await run("ip", ["netns", "list"])).stdout
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);
}

async function vethNames(): Promise<string[]> {
  const links = JSON.parse((await run("ip", ["-j", "link", "show", "type", "veth"])).stdout || "[]");
  return (links as { ifname: string }[]).map((l) => l.ifname);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Every process whose parent chain leads to `root` (the root included). */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(d), ppid);
    } catch {
      // gone meanwhile
    }
  }
  const out = [root];
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (out.includes(ppid) && !out.includes(pid)) {
        out.push(pid);
        grew = true;
      }
    }
  }
  return out;
}

async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(20);
  }
  return cond();
}

describe("lab cleanup (needs root)", () => {
  test("destroy() removes namespaces, veths and helper processes, and is idempotent (needs root)", async () => {
    const lab = await createLab({
      router: true,
      targets: [
        { name: "a", impair: true, tcpPorts: [80], rangeSize: 64 },
        { name: "b", behindRouter: true },
      ],
    });
    await lab.capture({ iface: lab.target("a").hostIf });
    const pids = lab.procs.pids();
    assert.ok(pids.length >= 3, `helpers: ${pids}`);
    const ns = [...lab.namespaces];
    assert.ok(ns.every((n) => n.startsWith(`nl${lab.slot}p${process.pid}-`)));
    assert.deepEqual((await netnsList()).filter((n) => ns.includes(n)).sort(), [...ns].sort());
    assert.ok(lab.hostIfs.every((i) => i.startsWith(`nl${lab.slot}-`)));
    await lab.destroy();
    await lab.destroy();
    assert.deepEqual(
      (await netnsList()).filter((n) => ns.includes(n)),
      [],
    );
    assert.ok(await until(async () => (await vethNames()).every((v) => !lab.hostIfs.includes(v)), 2000));
    assert.deepEqual(
      pids.filter((p) => alive(p)),
      [],
    );
    const routes =
      (await run("ip", ["route", "show"])).stdout + (await run("ip", ["-6", "route", "show"])).stdout;
    assert.doesNotMatch(routes, /198\.18|fd18/);
    // The slot is free again.
    const again = await createLab({});
    assert.equal(again.slot, lab.slot);
    await again.destroy();
  });

  test("a process that exits without destroy() still cleans up through the exit hook (needs root)", async () => {
    const child = join(repoRoot(), "dist/test/lab/lab-child.js");
    const r = await run("node", [child, "exit"], { timeoutMs: 30_000 });
    const info = JSON.parse(r.stdout) as { namespaces: string[]; hostIfs: string[]; pids: number[] };
    assert.ok(info.namespaces.length >= 2 && info.pids.length >= 3, r.stdout);
    assert.deepEqual(
      (await netnsList()).filter((n) => info.namespaces.includes(n)),
      [],
    );
    assert.ok(await until(async () => (await vethNames()).every((v) => !info.hostIfs.includes(v)), 2000));
    assert.deepEqual(
      info.pids.filter((p) => alive(p)),
      [],
    );
  });

  test("SIGKILL of a whole enter.sh run removes its processes, namespaces and veths (needs root)", async () => {
    const root = repoRoot();
    // Our namespace, bind-mounted where the nested lab can find it to plant a veth here.
    const dir = mkdtempSync(join(tmpdir(), "netprobify-crash-"));
    const nsFile = join(dir, "parent-net");
    writeFileSync(nsFile, "");
    await run("mount", ["--bind", `/proc/${process.pid}/ns/net`, nsFile]);
    const proc = spawn(
      "sh",
      [join(root, "src/lab/enter.sh"), "node", join(root, "dist/test/lab/lab-child.js"), "crash", nsFile],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    try {
      let out = "";
      let err = "";
      proc.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      proc.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      assert.ok(await until(() => out.includes("READY"), 20_000), `nested lab never ready: ${err}`);
      // proc.pid is enter.sh's outer shell; unshare and the whole nested run are below it.
      const tree = descendants(proc.pid!);
      assert.ok(tree.length >= 6, `nested processes: ${tree}`);
      const nestedNets = new Set(
        tree.flatMap((p) => {
          try {
            return [readlinkSync(`/proc/${p}/ns/net`)];
          } catch {
            return [];
          }
        }),
      );
      assert.ok(nestedNets.size >= 3, `namespaces seen: ${[...nestedNets]}`);
      assert.ok((await vethNames()).includes("nl99-1"), "the nested lab's veth reaches this namespace");

      // The harshest case: the outer shell dies by SIGKILL (as a CI timeout would do). setpriv's
      // parent-death signal kills unshare, --kill-child kills the namespace's PID 1, and the
      // kernel kills everything else in it.
      proc.kill("SIGKILL");
      // What the kernel cannot remove: the killed lab's capture file in the host's /tmp.
      const captureDir = /READY (\S+)/.exec(out)?.[1];
      if (captureDir?.includes("netprobify-pcap-")) rmSync(captureDir, { recursive: true, force: true });

      assert.ok(await until(() => tree.every((p) => !alive(p)), 5000), `left: ${tree.filter(alive)}`);
      // The veth's far end was in a nested namespace: it vanishes only when the kernel frees it.
      assert.ok(await until(async () => !(await vethNames()).includes("nl99-1"), 5000), "veth left behind");
      const ownNet = readlinkSync(`/proc/${process.pid}/ns/net`);
      const stillUsed = readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .flatMap((d) => {
          try {
            return [readlinkSync(`/proc/${d}/ns/net`)];
          } catch {
            return [];
          }
        })
        .filter((n) => n !== ownNet && nestedNets.has(n));
      assert.deepEqual(stillUsed, []);
    } finally {
      proc.kill("SIGKILL");
      await run("umount", [nsFile], { allowFail: true });
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(existsSync(dir), false);
  });
});
