// netprobify runs as a non-root user holding only CAP_NET_RAW (ambient capability, as systemd's
// AmbientCapabilities gives it), and without it fails with exit 77 and a message saying what to grant.
// Needs root (to create the lab and switch user). The checkout must be readable by that user: when
// it sits in a 0700 directory (CI clones into mktemp -d), the test opens the path with o+x for its
// duration and restores every mode afterwards.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN, REPO } from "../support/paths.js";

const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"];

describe("privileges: CAP_NET_RAW is enough, and its absence is explained (needs root)", () => {
  let lab: Lab;
  let dir: string;
  const restore: [string, number][] = [];
  before(async () => {
    lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
    dir = mkdtempSync(join(tmpdir(), "npf-priv-"));
    chmodSync(dir, 0o755);
    for (let p = REPO.replace(/\/$/, ""); p !== "/"; p = dirname(p)) {
      const mode = statSync(p).mode & 0o7777;
      if ((mode & 0o001) === 0) {
        restore.push([p, mode]);
        chmodSync(p, mode | 0o001);
      }
    }
  });
  after(async () => {
    for (const [p, mode] of restore) chmodSync(p, mode);
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  function config(): string {
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 19120, dns_update_interval: 0}
groups: {standard: {src_port_a: 64100, src_port_z: 64109}}
targets:
  https: {type: TCPsyn, destination: "${lab.target("web").v4}", dst_port: 443, nb_packets: 10}
  ping6: {type: ICMPping, destination: "${lab.target("web").v6}", nb_packets: 10}
`,
    );
    chmodSync(file, 0o644);
    return file;
  }

  test("as nobody with only CAP_NET_RAW (ambient): probes and measures", () => {
    const r = spawnSync(
      "setpriv",
      [
        ...NOBODY,
        "--inh-caps=-all,+net_raw",
        "--ambient-caps=-all,+net_raw",
        "--bounding-set=-all,+net_raw",
        process.execPath,
        BIN,
        "run",
        "--once",
        config(),
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.split("\n").filter((l) => /^(https|ping6)\s/.test(l));
    assert.equal(rows.length, 2, r.stdout);
    for (const row of rows) assert.deepEqual(row.split(/\s+/).slice(2, 5), ["10", "0", "0.00"], row);
  });

  test("as nobody without CAP_NET_RAW: exit 77, NPF_NO_CAP_NET_RAW, and how to grant it", () => {
    const r = spawnSync(
      "setpriv",
      [...NOBODY, "--inh-caps=-all", "--bounding-set=-all", process.execPath, BIN, "run", "--once", config()],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    assert.equal(r.status, 77, r.stderr);
    assert.match(r.stderr, /CAP_NET_RAW/);
    assert.match(r.stderr, /setcap cap_net_raw\+ep/);
    assert.match(r.stderr, /NPF_NO_CAP_NET_RAW/);
  });

  test("--user nobody: root is dropped once the sockets and the port are held; probing and scraping go on", async () => {
    const file = config();
    const d = spawn(process.execPath, [BIN, "--user", "nobody", file], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    d.stderr!.on("data", (b) => {
      err += String(b);
    });
    try {
      const sent = `tcpsyn_sent_total{probe_name="lab",destination="https",address_family="ipv4",state="",group="standard"}`;
      let body = "";
      for (let k = 0; k < 80 && !body.includes(`${sent} 10`); k++) {
        await new Promise((r) => setTimeout(r, 100));
        body = await fetch("http://127.0.0.1:19120/metrics").then(
          (r) => r.text(),
          () => "",
        );
      }
      assert.ok(body.includes(`${sent} 10`), `probed after dropping root; stderr: ${err}`);
      const status = readFileSync(`/proc/${d.pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      assert.match(status, /^CapEff:\s+0+$/m, "no capability left");
      d.kill("SIGTERM");
      assert.equal(await new Promise((r) => d.once("exit", r)), 0);
    } finally {
      d.kill("SIGKILL");
    }
  });
});
