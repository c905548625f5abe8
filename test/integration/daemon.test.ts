// The daemon as deployed: `netprobify CONFIG` in a subprocess, probing lab targets, scraped over
// HTTP with basic auth; SIGHUP with a good file (target added/removed, series gone) and a bad one
// (old configuration still probing, failed status 1); the metrics port already in use (exit 69,
// nothing probed); SIGTERM (exit 0); interval 0 (back to back, scrapes and reloads still served).
// Needs root (lab, raw sockets).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";

const AUTH = { PROM_USER: "prom", PROM_PASSWORD: "s3cret" };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

function start(
  file: string,
  env: Record<string, string> = {},
): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, file], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (b) => {
    err += String(b);
  });
  child.stdout!.resume();
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, exit, stderr: () => err };
}

async function scrape(
  port: number,
  auth?: string,
): Promise<{ status: number; body: string; www?: string | null }> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: auth ? { authorization: auth } : {} });
  return { status: r.status, body: await r.text(), www: r.headers.get("www-authenticate") };
}

/** Polls until `pred` holds on a scrape (or fails after `ms`). */
async function until(port: number, pred: (body: string) => boolean, ms = 8000): Promise<string> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      last = (await scrape(port, basic(AUTH.PROM_USER, AUTH.PROM_PASSWORD))).body;
      if (pred(last)) return last;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(
    `condition not met within ${ms} ms; last scrape:\n${last
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .join("\n")}`,
  );
}

function value(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("the daemon in the lab (needs root)", () => {
  let lab: Lab;
  let dir: string;
  before(async () => {
    lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
    dir = mkdtempSync(join(tmpdir(), "npf-daemon-"));
  });
  after(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const cfg = (
    port: number,
    targets: string,
  ) => `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${port}, prometheus_address: 127.0.0.1, dns_update_interval: 0, percentile: [95, 50]}
groups:
  standard: {src_port_a: 63000, src_port_z: 63009}
targets:
${targets}`;

  test("scrape with auth, reload good and bad, SIGTERM", async () => {
    const t = lab.target("web");
    const port = 19101;
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      cfg(
        port,
        `  https: {type: TCPsyn, destination: "${t.v4}", dst_port: 443, nb_packets: 10, threshold: {latency: 0.1}, alert_level: paging}\n`,
      ),
    );
    const d = start(file, AUTH);
    try {
      const L = `probe_name="lab",destination="https",address_family="ipv4",state="None",group="standard"`;
      const body = await until(port, (b) => (value(b, `tcpsyn_sent_total{${L}}`) ?? 0) >= 20);
      assert.equal(value(body, `tcpsyn_loss_ratio{${L}}`), 0);
      assert.ok((value(body, `tcpsyn_round_trip_seconds{${L},percentile="95"}`) ?? 1) < 0.05);
      assert.match(
        body,
        /threshold\{[^}]*alert_level="paging"[^}]*type="latency"|threshold\{[^}]*type="latency"[^}]*alert_level="paging"/,
      );
      assert.equal(value(body, `app_reload_conf_failed_status{probe_name="lab"}`), 0);

      // Auth: none, wrong, right.
      const none = await scrape(port);
      assert.equal(none.status, 401);
      assert.match(none.www ?? "", /^Basic realm="netprobify"/);
      assert.equal((await scrape(port, basic("prom", "wrong"))).status, 401);
      assert.equal((await scrape(port, basic("prom", "s3cret"))).status, 200);

      // Bad reload: the running configuration goes on, the failure is visible.
      writeFileSync(file, "global: [broken\n");
      d.child.kill("SIGHUP");
      const failed = await until(
        port,
        (b) => value(b, `app_reload_conf_failed_status{probe_name="lab"}`) === 1,
      );
      const before = value(failed, `tcpsyn_sent_total{${L}}`)!;
      await until(port, (b) => value(b, `tcpsyn_sent_total{${L}}`)! > before);

      // Good reload: the target is replaced, its series disappear, the new one appears.
      writeFileSync(file, cfg(port, `  ping: {type: ICMPping, destination: "${t.v6}", nb_packets: 5}\n`));
      d.child.kill("SIGHUP");
      const P = `probe_name="lab",destination="ping",address_family="ipv6",state="None",group="standard"`;
      const after = await until(port, (b) => (value(b, `icmp_sent_total{${P}}`) ?? 0) >= 5);
      assert.equal(value(after, `app_reload_conf_failed_status{probe_name="lab"}`), 0);
      assert.doesNotMatch(after, /destination="https"/);

      d.child.kill("SIGTERM");
      assert.equal(await d.exit, 0, d.stderr());
    } finally {
      d.child.kill("SIGKILL");
    }
  });

  test("the metrics port already in use: exit 69 with a clear message, nothing probed", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(19102, "127.0.0.1", r));
    try {
      const file = join(dir, "busy.yaml");
      writeFileSync(
        file,
        cfg(19102, `  https: {type: TCPsyn, destination: "${lab.target("web").v4}", dst_port: 443}\n`),
      );
      const d = start(file);
      assert.equal(await d.exit, 69);
      assert.match(d.stderr(), /127\.0\.0\.1:19102.*(in use|NPF_PORT_IN_USE)|NPF_PORT_IN_USE/s);
      assert.doesNotMatch(d.stderr(), /netprobify started/, "probing never started");
    } finally {
      taken.close();
    }
  });
  test("interval 0: iterations back to back, /metrics answers and a reload applies meanwhile", async () => {
    const port = 19103;
    const file = join(dir, "zero.yaml");
    const zero = (targets: string) => cfg(port, targets).replace("interval: 1,", "interval: 0,");
    writeFileSync(file, zero(`  ping: {type: ICMPping, destination: "${lab.target("web").v4}"}\n`));
    const d = start(file, AUTH);
    try {
      const I = `netprobify_iterations_total{probe_name="lab"}`;
      const first = await until(port, (b) => (value(b, I) ?? 0) >= 1);
      const t0 = Date.now();
      const n0 = value(first, I)!;
      // 30 more iterations: with interval 1 they would take 30 s; every poll is also a scrape answered.
      const later = await until(port, (b) => value(b, I)! >= n0 + 30, 25_000);
      const seconds = (Date.now() - t0) / 1000;
      assert.ok(
        value(later, I)! - n0 >= 30 && seconds < 30,
        `${value(later, I)! - n0} iterations in ${seconds} s`,
      );
      const P = `probe_name="lab",destination="ping",address_family="ipv4",state="None",group="standard"`;
      assert.equal(value(later, `icmp_loss_ratio{${P}}`), 0);

      writeFileSync(file, zero(`  pong: {type: ICMPping, destination: "${lab.target("web").v6}"}\n`));
      d.child.kill("SIGHUP");
      await until(
        port,
        (b) => (value(b, `icmp_sent_total{${P.replace("ping", "pong").replace("ipv4", "ipv6")}}`) ?? 0) >= 1,
      );
      d.child.kill("SIGTERM");
      assert.equal(await d.exit, 0, d.stderr());
    } finally {
      d.child.kill("SIGKILL");
    }
  });
});
