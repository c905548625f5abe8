// deploy/systemd/netprobify.service, checked by systemd's own tools and then run: systemd-analyze
// verify (in an install root holding the unit's commands), the offline security exposure score
// against a documented ceiling, and the unit's ExecStart run the way the unit runs it as far as
// possible without systemd as PID 1 (here PID 1 is not systemd, so systemd-run cannot start it):
// as an unprivileged user with exactly the unit's capability sets, no_new_privs, a read-only file
// system and WorkingDirectory=, probing lab targets; then ExecReload (SIGHUP) and stop (SIGTERM).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { until } from "../integration/lib/scrape.js";
import { BIN, REPO } from "../support/paths.js";
import { openPathForOthers } from "../support/readable.js";
import { labConfig, probesAnswered } from "./lib.js";

const UNIT = join(REPO, "deploy/systemd/netprobify.service");
/** The ceiling for `systemd-analyze security` (0 = fully sandboxed, 10 = none); docs/deployment.md. */
const MAX_EXPOSURE = 2.0;
const PORT = 19131;

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

describe("systemd unit: verified, scored, and its ExecStart probing in the unit's sandbox (needs root)", () => {
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

  describe("ExecStart as the unit runs it", () => {
    let lab: Lab;
    let dir: string;
    let restore = () => {};
    let daemon: ChildProcess | undefined;
    let log = "";
    before(async () => {
      lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
      dir = mkdtempSync(join(tmpdir(), "npf-unit-run-"));
      chmodSync(dir, 0o755);
      restore = openPathForOthers(REPO);
    });
    after(async () => {
      daemon?.kill("SIGKILL");
      restore();
      await lab?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    test("as nobody with the unit's capabilities, no_new_privs, read-only file system: probes, reloads, stops", async () => {
      const s = service();
      const caps = (key: string) =>
        `-all,${one(s, key)
          .split(/\s+/)
          .map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`)
          .join(",")}`;
      const config = join(dir, "netprobify.yaml");
      writeFileSync(config, labConfig(lab, PORT), { mode: 0o644 });
      // ExecStart's command is the installed netprobify: here the checkout's, on the same Node.
      const [cmd, ...args] = one(s, "ExecStart").split(" ");
      assert.equal(cmd, "/usr/local/bin/netprobify");
      const argv = [
        process.execPath,
        BIN,
        ...args.map((a) => (a === "/etc/netprobify/netprobify.yaml" ? config : a)),
      ];
      // ProtectSystem=strict: every mount read-only but the API file systems; then the user and caps.
      const readOnly =
        'awk \'{print $5}\' /proc/self/mountinfo | sort -u | while read -r m; do case "$m" in /proc*|/sys*|/dev*) ;; *) mount -o remount,bind,ro "$m" ;; esac; done; ' +
        'if touch "$0/written" 2>/dev/null; then echo "file system still writable" >&2; exit 99; fi; exec "$@"';
      daemon = spawn(
        "unshare",
        [
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          readOnly,
          dir,
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          `--inh-caps=${caps("AmbientCapabilities")}`,
          `--ambient-caps=${caps("AmbientCapabilities")}`,
          `--bounding-set=${caps("CapabilityBoundingSet")}`,
          "--no-new-privs",
          ...argv,
        ],
        { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
      );
      const d = daemon;
      d.stdout!.on("data", (b) => {
        log += String(b);
      });
      d.stderr!.on("data", (b) => {
        log += String(b);
      });
      const exited = new Promise<number | null>((r) => d.once("exit", (code) => r(code)));
      await probesAnswered(PORT, () => log);

      // The daemon is the last process of the exec chain: check what it holds.
      const status = readFileSync(`/proc/${d.pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      for (const set of ["CapEff", "CapPrm", "CapAmb", "CapBnd"])
        assert.match(status, new RegExp(`^${set}:\\s+0+2000$`, "m"), `${set}: CAP_NET_RAW (bit 13) alone`);

      // ExecReload: SIGHUP reads the changed file (from the read-only file system) and probes the new target.
      writeFileSync(
        config,
        labConfig(
          lab,
          PORT,
          `  added: {type: TCPsyn, destination: "${lab.target("web").v4}", dst_port: 443, nb_packets: 2}\n`,
        ),
      );
      d.kill("SIGHUP");
      await probesAnswered(PORT, () => log);
      await until(
        "the reloaded configuration's new target probed",
        (b) => /^tcpsyn_sent_total\{[^}]*destination="added"[^}]*\} [1-9]/m.test(b),
        {
          port: PORT,
          ms: 20_000,
          context: () => log,
        },
      );
      // Stop: SIGTERM, exit 0 (Restart=on-failure leaves it stopped).
      d.kill("SIGTERM");
      assert.equal(await exited, 0, log);
    });
  });
});
