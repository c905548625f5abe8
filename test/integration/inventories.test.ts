// Dynamic inventories end to end (needs root: lab, raw sockets): `netprobify CONFIG` in a subprocess
// with the example module, a module that throws, one that loops forever, one that publishes invalid
// entries, a disabled one, a built-in file inventory and a built-in http inventory served by this
// test on loopback. Every valid target they publish is probed in the lab (answers counted, no loss);
// the misbehaving ones are survived with probing going on, and counted; the file inventory picks up
// an edit (a target added, one removed with its series); the http one survives a 500 with its last
// list still probed; an expired entry is never probed. Then hostile modules (memory hoarded in
// Buffers and in the heap, under the default 256 MB limit; a spinning one, one ignoring SIGTERM with a forked child): killed by
// their memory limit and counted, the daemon's RSS bounded, probing going on, the spinner's CPU in
// its metric, and nothing left running after the daemon stops.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { spawnDaemon } from "../support/daemon-process.js";
import { FIXTURES, REPO } from "../support/paths.js";
import { liveProcesses } from "../support/processes.js";
import { scrape, value } from "./lib/scrape.js";

const PORT = 19131;

/** The daemon of a test, watched from outside (its log, its /metrics). */
const start = (file: string, o: { keepChars?: number; cwd?: string } = {}) =>
  spawnDaemon(file, {
    port: PORT,
    relevant: /icmp_sent|inventory|iterations/,
    ms: 15000,
    contextChars: 3000,
    ...o,
  });

const S = (dest: string) =>
  `probe_name="lab",destination="${dest}",address_family="ipv4",state="None",group="standard"`;
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
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, disable_dynamic_inventories: [disabled], dynamic_inventories_memory_mb: 300}
groups:
  standard: {src_port_a: 63100, src_port_z: 63109}
targets:
  static: {type: ICMPping, destination: "${a(7)}", nb_packets: 2}
inventories:
  lab: {type: file, path: lab-targets.yaml, interval: 1}
  api: {type: http, url: "${url}", interval: 0.5, timeout: 0.5}
`,
    );
    const daemon = start(file);
    child = daemon.child;

    const probed = [
      `example_${a(0)}`,
      `example_${a(1)}`,
      `invalid_${a(2)}`,
      `loops_${a(3)}`,
      `lab_${a(4)}`,
      `api_${a(6)}`,
    ];
    const body = await daemon.until(
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
    assert.match(daemon.log(), /"module":"disabled","msg":"dynamic inventory disabled by configuration"/);
    assert.match(
      daemon.log(),
      /"module":"example","pid":\d+,"memoryLimitMb":300,"msg":"dynamic inventory process started"/,
    );

    // Failures: counted, probing goes on.
    assert.ok((value(body, inv("errors_total", "throws", ',reason="crash"')) ?? 0) >= 1, "throws counted");
    assert.equal(value(body, inv("invalid_entries", "invalid")), 4);
    assert.equal(value(body, inv("targets", "invalid")), 1);
    assert.equal(value(body, inv("targets", "example")), 2);
    assert.equal(value(body, inv("targets", "lab")), 1, "the expired entry is not in force");
    assert.ok((value(body, inv("last_publish_timestamp_seconds", "api")) ?? 0) > Date.now() / 1000 - 60);
    assert.match(daemon.log(), /cmdb unreachable/);
    assert.match(daemon.log(), /inventory entry skipped/);

    // The file inventory picks up an edit: a(4) removed (series gone), a(8) added.
    writeFileSync(listFile, `- {hostname: "${a(8)}", type: ICMPping, nb_packets: 2}\n`);
    const edited = await daemon.until(
      (b) => sent(b, `lab_${a(8)}`) >= 2 && !b.includes(`destination="lab_${a(4)}"`),
      "file edit applied",
    );
    assert.equal(loss(edited, `lab_${a(8)}`), 0);

    // The http inventory fails (500): counted; its last list is still probed.
    httpReply = { status: 500, body: "down" };
    const failing = await daemon.until(
      (b) => (value(b, inv("errors_total", "api", ',reason="reported"')) ?? 0) >= 2,
      "http failures counted",
    );
    const before = sent(failing, `api_${a(6)}`);
    const later = await daemon.until((b) => sent(b, `api_${a(6)}`) >= before + 4, "api target still probed");
    const iterations = value(later, `netprobify_iterations_total{probe_name="lab"}`)!;
    assert.ok(iterations >= 4, `iterations go on: ${iterations}`);
    assert.ok(
      sent(later, `loops_${a(3)}`) > sent(body, `loops_${a(3)}`),
      "the looping module's target still probed",
    );

    daemon.child.kill("SIGTERM");
    assert.equal(await daemon.exit, 0, daemon.log().slice(-2000));
  });
  test("hostile modules: memory limits kill and count them, the daemon stays small and probes on, CPU shown, nothing left after stop", async (t) => {
    const r = lab.target("inv").range!;
    const a = (i: number) => r.v4(i);
    // Processes of earlier tests in this namespace (e.g. a sleep) are not this daemon's leftovers.
    const before = new Set(moduleLike(-1));
    const base = join(dir, "hostile");
    const mods = join(base, "dynamic_inventories");
    mkdirSync(mods, { recursive: true });
    for (const m of ["hoard", "heap", "stubborn"])
      copyFileSync(`${FIXTURES}inventories/hostile/${m}.mjs`, join(mods, `${m}.mjs`));
    copyFileSync(`${FIXTURES}inventories/lab/loops.mjs`, join(mods, "loops.mjs"));
    writeFileSync(join(base, "loops.yaml"), `address: "${a(9)}"\n`);
    const file = join(base, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  standard: {src_port_a: 63100, src_port_z: 63109}
targets:
  static: {type: ICMPping, destination: "${a(7)}", nb_packets: 2}
`,
    );
    const daemon = start(file, { keepChars: 200_000 });
    child = daemon.child;
    const pid = child.pid!;
    // The daemon's resident memory, watched all along; past 300 MB it is killed at once (on code
    // without a kernel limit the modules' memory is the daemon's: this keeps such a run safe).
    let maxRss = 0;
    let tooBig: (e: Error) => void = () => {};
    const rssExceeded = new Promise<never>((_, reject) => {
      tooBig = reject;
    });
    rssExceeded.catch(() => {});
    const watch = setInterval(() => {
      try {
        const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1]);
        maxRss = Math.max(maxRss, kb * 1024);
        if (maxRss > 300 * 2 ** 20) {
          daemon.child.kill("SIGKILL");
          tooBig(new Error(`daemon RSS reached ${(maxRss / 2 ** 20).toFixed(0)} MB: killed`));
        }
      } catch {
        // gone
      }
    }, 50);
    try {
      const crash = (b: string, m: string) => value(b, inv("errors_total", m, ',reason="crash"')) ?? 0;
      const killed = await Promise.race([
        rssExceeded,
        daemon.until(
          (b) => crash(b, "hoard") >= 2 && crash(b, "heap") >= 2,
          "both hoarders killed twice",
          60_000,
        ),
      ]);
      assert.ok(maxRss < 300 * 2 ** 20, `daemon RSS reached ${(maxRss / 2 ** 20).toFixed(0)} MB`);
      assert.match(daemon.log(), /"module":"hoard","reason":"memory limit reached \(256 MB\)/);
      assert.match(daemon.log(), /"module":"heap","reason":"memory limit reached \(256 MB\)/);

      // Probing goes on, the spinner's target included; its CPU shows about 1 s per second.
      const cpu = (b: string) => value(b, inv("cpu_seconds_total", "loops")) ?? 0;
      const t0 = Date.now();
      const later = await daemon.until(
        (b) =>
          sent(b, "static") >= sent(killed, "static") + 4 &&
          sent(b, `loops_${a(9)}`) >= 4 &&
          Date.now() - t0 >= 3000,
        "probing goes on",
        30_000,
      );
      const perSecond = (cpu(later) - cpu(killed)) / ((Date.now() - t0) / 1000);
      // It gets what the two shared cores leave it (about 1 on an idle machine): the metric must
      // show a busy module, and agree with what the kernel says of its process (sampled each second).
      assert.ok(perSecond > 0.2 && perSecond < 1.3, `spinner CPU s/s ${perSecond.toFixed(2)}`);
      const spinner = Number(/"module":"loops","pid":(\d+)/.exec(daemon.log())?.[1]);
      const stat = readFileSync(`/proc/${spinner}/stat`, "latin1");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const kernel = (Number(f[11]) + Number(f[12])) / 100;
      const shown = cpu(await scrape(PORT));
      t.diagnostic(
        `daemon RSS max ${(maxRss / 2 ** 20).toFixed(0)} MB; spinner ${perSecond.toFixed(2)} CPU s/s; metric ${shown} s, kernel ${kernel} s`,
      );
      assert.ok(shown <= kernel + 0.05 && shown > kernel - 2, `metric ${shown} s, kernel ${kernel} s`);
      assert.ok((value(later, inv("resident_memory_bytes", "loops")) ?? 0) > 10 * 2 ** 20);
      assert.equal(loss(later, "static"), 0);
      assert.ok(maxRss < 300 * 2 ** 20, `daemon RSS reached ${(maxRss / 2 ** 20).toFixed(0)} MB`);

      // Stopping the daemon ends every module's process group, the SIGTERM-proof child included.
      const forked = Number(/"pid":(\d+)[^\n]*"msg":"forked"/.exec(daemon.log())?.[1]);
      assert.ok(forked > 0, "the stubborn module forked");
      daemon.child.kill("SIGTERM");
      assert.equal(await daemon.exit, 0, daemon.log().slice(-2000));
      // The process groups are killed as the daemon stops; a killed process may still be exiting for
      // a moment on a loaded machine: wait (bounded) for the list to empty.
      const leftover = () => moduleLike(forked).filter((p) => !before.has(p));
      let left = leftover();
      for (const until = Date.now() + 10_000; left.length > 0 && Date.now() < until; left = leftover())
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(left, [], "no module process left");
    } finally {
      clearInterval(watch);
    }
  });
});

/** Live processes that look like a module's (a forked child, a module bootstrap, a sleep). */
const moduleLike = (forked: number): number[] =>
  liveProcesses(
    (p) => p.pid === forked || p.cmdline.includes("bootstrap.js") || p.cmdline.startsWith("sleep"),
  );
