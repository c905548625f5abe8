// deploy/systemd/netprobify.service, checked by systemd's own tools and then run by systemd: verify
// (in an install root holding the unit's commands), the offline security exposure score against a
// documented ceiling, and the unit itself, unchanged, started by systemd 252 (Debian's, from the
// cached debootstrap root file system) booted as PID 1 of a podman container on the lab's network,
// since the machine's own PID 1 is not systemd: its sandbox, probing, reload, restart and stop.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { REPO } from "../support/paths.js";
import { openPathForOthers } from "../support/readable.js";
import { addedProbed, inventoryProbed, probesAnswered, writeConfigDir } from "./lib.js";
import { baseTarball, Podman } from "./podman.js";

const UNIT = join(REPO, "deploy/systemd/netprobify.service");
/** The ceiling for `systemd-analyze security` (0 = fully sandboxed, 10 = none); docs/deployment.md. */
const MAX_EXPOSURE = 2.0;
const PORT = 19133;

/** The [Service] settings of the unit: key -> every value given (in order). */
function service(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const raw of readFileSync(UNIT, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) section = line;
    else if (section === "[Service]") {
      const eq = line.indexOf("=");
      const k = line.slice(0, eq);
      out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1)]);
    }
  }
  return out;
}

const one = (s: Map<string, string[]>, key: string) => {
  const v = s.get(key);
  assert.equal(v?.length, 1, `${key}= set once in the unit`);
  return v[0]!;
};

/** A root directory holding the unit, systemd's own units and the commands the unit runs. */
function installRoot(unitText: string): string {
  const root = mkdtempSync(join(tmpdir(), "npf-unit-"));
  mkdirSync(join(root, "usr/lib/systemd"), { recursive: true });
  cpSync("/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true });
  for (const d of ["etc/systemd/system", "usr/local/bin", "usr/bin"])
    mkdirSync(join(root, d), { recursive: true });
  symlinkSync("usr/bin", join(root, "bin"));
  copyFileSync("/usr/bin/kill", join(root, "usr/bin/kill"));
  writeFileSync(join(root, "usr/local/bin/netprobify"), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(root, "etc/systemd/system/netprobify.service"), unitText);
  return root;
}

function verify(unitText: string): string {
  const root = installRoot(unitText);
  try {
    const r = spawnSync("systemd-analyze", ["verify", `--root=${root}`, "netprobify.service"], {
      encoding: "utf8",
    });
    return `${r.status === 0 ? "" : `exit ${r.status}\n`}${r.stdout}${r.stderr}`;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe("systemd unit: verified, scored, and run by systemd, probing the lab (needs root)", () => {
  test("systemd-analyze verify: no error, no warning (and it does warn on a broken copy)", () => {
    const text = readFileSync(UNIT, "utf8");
    assert.equal(verify(text), "");
    const broken = text.replace(
      "RestartSec=10s",
      "RestartSec=10s\nRestartSteps=5\nRestrictAddressFamilies=AF_BOGUS",
    );
    assert.match(verify(broken), /Unknown key 'RestartSteps'[\s\S]*AF_BOGUS/);
  });

  test(`systemd-analyze security --offline: exposure at most ${MAX_EXPOSURE}`, (t) => {
    const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", UNIT], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const m = /Overall exposure level for netprobify\.service: (\d+\.\d)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    t.diagnostic(`exposure ${m[1]} (ceiling ${MAX_EXPOSURE}); open items:`);
    for (const l of r.stdout.split("\n").filter((x) => x.startsWith("✗")))
      t.diagnostic(l.replace(/\s{2,}/g, "  "));
    assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]}`);
  });

  test("the unit grants CAP_NET_RAW and nothing else, to a user of its own, and no way back", () => {
    const s = service();
    assert.equal(one(s, "AmbientCapabilities"), "CAP_NET_RAW");
    assert.equal(one(s, "CapabilityBoundingSet"), "CAP_NET_RAW");
    assert.equal(one(s, "DynamicUser"), "yes");
    assert.equal(one(s, "NoNewPrivileges"), "yes");
    assert.equal(one(s, "ProtectSystem"), "strict");
    assert.equal(one(s, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert.equal(one(s, "Restart"), "on-failure");
    assert.match(one(s, "ExecStart"), / \/etc\/netprobify\/netprobify\.yaml$/);
    assert.equal(s.get("MemoryDenyWriteExecute"), undefined, "V8's JIT needs W+X memory");
  });

  describe("the unit run by systemd 252, booted in a container on the lab's network", () => {
    const podman = new Podman();
    let lab: Lab;
    let dir: string;
    let restore = () => {};
    const sd = (...args: string[]) => podman.ok(["exec", "npf-systemd", ...args]);
    const journal = () =>
      podman.sync(["exec", "npf-systemd", "journalctl", "-u", "netprobify", "--no-pager"]);
    const show = async (prop: string) => (await sd("systemctl", "show", "-P", prop, "netprobify")).trim();
    const status = async () => sd("cat", `/proc/${await show("MainPID")}/status`);

    before(async () => {
      const base = baseTarball("systemd");
      await podman.start();
      lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
      dir = join(podman.dir, "unit"); // removed with podman's directory, even after a killed run
      mkdirSync(dir);
      writeConfigDir(join(dir, "etc"), lab, PORT);
      // ExecStart's /usr/local/bin/netprobify: this checkout on this machine's Node, mounted read-only.
      writeFileSync(
        join(dir, "netprobify"),
        '#!/bin/sh\nexec /usr/local/bin/node /opt/netprobify/bin/netprobify.js "$@"\n',
        {
          mode: 0o755,
        },
      );
      restore = openPathForOthers(REPO);
      await podman.ok(["import", "--quiet", base, "localhost/netprobify-test/systemd"]);
      await podman.ok([
        "run",
        "--detach",
        "--name=npf-systemd",
        "--pull=never",
        "--network=host",
        // systemd sets up the unit's namespaces, seccomp filter and dynamic user: it needs the
        // privileges of a real PID 1 (the container still lives in the lab's network namespace).
        "--privileged",
        "--systemd=always",
        `--cgroup-parent=${podman.cgroupParent}`,
        `--volume=${realpathSync(process.execPath)}:/usr/local/bin/node:ro`,
        `--volume=${REPO}:/opt/netprobify:ro`,
        `--volume=${join(dir, "netprobify")}:/usr/local/bin/netprobify:ro`,
        `--volume=${UNIT}:/etc/systemd/system/netprobify.service:ro`,
        `--volume=${join(dir, "etc")}:/etc/netprobify:ro`,
        "localhost/netprobify-test/systemd",
        "/lib/systemd/systemd",
      ]);
      // Until systemd listens, systemctl cannot connect; then --wait returns once the boot is done.
      const deadline = Date.now() + 60_000;
      let booted = await podman.run(["exec", "npf-systemd", "systemctl", "is-system-running", "--wait"]);
      while (/Failed to connect/.test(booted.out) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        booted = await podman.run(["exec", "npf-systemd", "systemctl", "is-system-running", "--wait"]);
      }
      assert.match(booted.out, /^(running|degraded)$/m, booted.out);
    });
    after(async () => {
      await podman.destroy();
      restore();
      await lab?.destroy();
    });

    test("systemctl start: a dynamic user holding CAP_NET_RAW alone, no_new_privs, seccomp; probes answered, an inventory too", async () => {
      const started = await podman.run(["exec", "npf-systemd", "systemctl", "start", "netprobify"]);
      assert.equal(started.code, 0, `${started.out}${journal()}`);
      await probesAnswered(PORT, journal);
      await inventoryProbed(PORT, journal);
      const st = await status();
      const uid = /^Uid:\s+(\d+)\s+\1\s+\1\s+\1$/m.exec(st);
      assert.ok(uid && Number(uid[1]) >= 61184 && Number(uid[1]) <= 65519, `a DynamicUser= uid: ${st}`);
      assert.match(st, /^NoNewPrivs:\s+1$/m);
      assert.match(st, /^Seccomp:\s+2$/m, "SystemCallFilter= in force");
      for (const set of ["CapEff", "CapPrm", "CapAmb", "CapBnd"])
        assert.match(st, new RegExp(`^${set}:\\s+0+2000$`, "m"), `${set}: CAP_NET_RAW (bit 13) alone`);
      const mounts = await sd("cat", `/proc/${await show("MainPID")}/mountinfo`);
      assert.match(mounts, /^\S+ \S+ \S+ \S+ \/ ro[ ,]/m, "ProtectSystem=strict: / read-only");
    });

    test("systemctl reload (ExecReload, SIGHUP): a target added to the file is probed", async () => {
      writeConfigDir(join(dir, "etc"), lab, PORT, true);
      const pid = await show("MainPID");
      await sd("systemctl", "reload", "netprobify");
      await addedProbed(PORT, journal);
      assert.equal(await show("MainPID"), pid, "reloaded in place, not restarted");
    });

    test("killed: Restart=on-failure starts it again after RestartSec=; systemctl stop: exit 0", async () => {
      const pid = await show("MainPID");
      await sd("systemctl", "kill", "--signal=KILL", "netprobify");
      const deadline = Date.now() + 60_000;
      while ((await show("NRestarts")) !== "1" || (await show("ActiveState")) !== "active") {
        assert.ok(Date.now() < deadline, `not restarted: ${journal()}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.notEqual(await show("MainPID"), pid);
      await probesAnswered(PORT, journal);
      await sd("systemctl", "stop", "netprobify");
      assert.equal(await show("ActiveState"), "inactive");
      assert.equal(await show("ExecMainStatus"), "0", journal());
    });
  });
});
