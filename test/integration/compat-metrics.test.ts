// The series a migrating team's dashboards key on, as the original exported them (issue 13), from the
// real daemon (`netprobify CONFIG` in a subprocess) probing lab targets and scraped over HTTP with
// gzip: app_host_resolution_* for an IP literal, a subnet and this host's own address (status 1, one
// change), none for a target without a group; state="None" on every series with `state` (threshold
// too) when the target sets none; a target excluded from a group has no series there; prom-client's
// process_* and nodejs_* metrics, fresh between two scrapes of one unchanged probe rendering, and
// accepted by promtool; a reload that changes a target counts no resolution change and removes the
// series of the old state. Needs root (lab, raw sockets).
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";
import { until as untilScrape, value } from "./lib/scrape.js";

const PORT = 19171;
const NB = 3;
const T = (d: string) => `probe_name="lab",destination="${d}",address_family="ipv4"`;
const S = (d: string, state: string, group: string) => `${T(d)},state="${state}",group="${group}"`;

/** One scrape asking for gzip, as Prometheus does: the compressed answer, decompressed here. */
function scrapeGzip(): Promise<{ encoding?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: PORT, path: "/metrics", headers: { "accept-encoding": "gzip" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const encoding = res.headers["content-encoding"];
          resolve({ encoding, body: (encoding === "gzip" ? gunzipSync(raw) : raw).toString() });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const until = (what: string, pred: (body: string) => boolean) =>
  untilScrape(what, pred, { port: PORT, ms: 15_000 });

/** The sample lines of the scrape for one destination. */
const linesOf = (body: string, d: string) =>
  body.split("\n").filter((l) => !l.startsWith("#") && l.includes(`destination="${d}"`));

describe("the original's series from the real daemon (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let daemon: ChildProcess | undefined;

  before(async () => {
    lab = await createLab({
      targets: [
        { name: "a", tcpPorts: [443] },
        { name: "r", rangeSize: 4 },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), "npf-compat-metrics-"));
  });

  after(async () => {
    daemon?.kill("SIGKILL");
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("resolution series of every target, state None, process metrics fresh, a reload counts no change", async () => {
    const a = lab.target("a");
    const cidr = lab.target("r").range!.v4Cidr;
    // This namespace's own address on the link to a: the daemon runs here, so it is its own address.
    const own = networkInterfaces()[a.hostIf]?.find((x) => x.family === "IPv4")?.address;
    assert.ok(own, `an IPv4 address on ${a.hostIf}`);
    const file = join(dir, "netprobify.yaml");
    const write = (prodState: string, nb: number) =>
      writeFileSync(
        file,
        `global: {probe_name: lab, interval: 3600, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  g1: {src_port_a: 63200, src_port_z: 63209}
  g2: {src_port_a: 63210, src_port_z: 63219}
targets:
  literal: {type: TCPsyn, destination: "${a.v4}", dst_port: 443, nb_packets: ${nb}, threshold: {latency: 0.5}, alert_level: paging}
  prod: {type: TCPsyn, destination: "${a.v4}", dst_port: 443, nb_packets: ${NB}, state: ${prodState}, explicit_groups: {exclude_from: [g2]}}
  subnet: {type: ICMPping, destination: "${cidr}", is_subnet: true, nb_packets: 1}
  myself: {type: ICMPping, destination: "${own}", nb_packets: 1}
  lonely: {type: ICMPping, destination: "${a.v4}", auto_register_to_groups: false}
`,
      );
    write("in production", NB);
    // interval 3600: one iteration, then the probe series stay as rendered until the reload.
    daemon = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    daemon.stderr!.on("data", (d) => {
      stderr += String(d);
    });
    const exited = new Promise<number | null>((r) => daemon!.once("exit", (c) => r(c)));
    try {
      let body = await until(
        "first iteration",
        (x) => value(x, `netprobify_iterations_total{probe_name="lab"}`) === 1,
      );

      // 1. Resolution series: status 1 and one change for the IP literal, the subnet, our own address.
      for (const d of ["literal", "prod", "subnet", "myself"]) {
        assert.equal(value(body, `app_host_resolution_status{${T(d)}}`), 1, d);
        assert.equal(value(body, `app_host_resolution_change_total{${T(d)}}`), 1, d);
      }
      assert.deepEqual(linesOf(body, "lonely"), [], "a target without a group has no series");
      assert.equal(value(body, `netprobify_target_issue{${T("myself")},reason="self"}`), 1);
      assert.ok(value(body, `icmp_sent_total{${S("subnet", "None", "g1")}}`)! >= 4, "the subnet was probed");

      // 2. state="None" where the target sets none, on every series carrying state (threshold too).
      for (const g of ["g1", "g2"]) {
        assert.equal(value(body, `tcpsyn_sent_total{${S("literal", "None", g)}}`), NB);
        assert.equal(value(body, `tcpsyn_loss_total{${S("literal", "None", g)}}`), 0);
        assert.equal(value(body, `tcpsyn_loss_ratio{${S("literal", "None", g)}}`), 0);
        assert.ok(value(body, `tcpsyn_round_trip_seconds{${S("literal", "None", g)},percentile="95"}`)! > 0);
        assert.equal(
          value(
            body,
            `threshold{${T("literal")},type="latency",state="None",alert_level="paging",group="${g}"}`,
          ),
          0.5,
        );
      }
      const states = new Set(
        body
          .split("\n")
          .filter((l) => !l.startsWith("#"))
          .flatMap((l) => /state="([^"]*)"/.exec(l)?.[1] ?? []),
      );
      assert.deepEqual([...states].sort(), ["None", "in production"], "no empty state anywhere");
      // prod is excluded from g2: series in g1 only.
      assert.equal(value(body, `tcpsyn_sent_total{${S("prod", "in production", "g1")}}`), NB);
      assert.deepEqual(
        linesOf(body, "prod").filter((l) => l.includes('group="g2"')),
        [],
      );

      // 3. Process metrics, served with the probe series through gzip (one member, decoded whole).
      const s1 = await scrapeGzip();
      assert.equal(s1.encoding, "gzip");
      for (const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "nodejs_heap_size_used_bytes",
      ])
        assert.ok((value(s1.body, name) ?? 0) > 0, `${name} in ${s1.body.slice(-2000)}`);
      assert.match(s1.body, /\n# TYPE nodejs_gc_duration_seconds histogram\n/);
      assert.match(s1.body, /\nnetprobify_info\{version="[^"]+"\} 1\n/);
      assert.match(s1.body, /\ntcpsyn_sent_total\{/, "the probe part precedes them in the same answer");
      // promtool parses the whole exposition; its only remarks are on names kept as they are: the
      // original's three *_count gauges and prom-client's three nodejs_active_*_total gauges.
      let remarks = "";
      try {
        execFileSync("promtool", ["check", "metrics"], { input: s1.body, stdio: "pipe" });
      } catch (err) {
        const e = err as { stdout?: Buffer; stderr?: Buffer };
        remarks = `${e.stdout ?? ""}${e.stderr ?? ""}`;
      }
      const KEPT =
        /^(nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix|(tcpsyn_match_ack_fail|tcpsyn_port_mismatch)_count non-histogram and non-summary metrics should not have "_count" suffix)$/;
      for (const l of remarks.split("\n").filter((x) => x.trim() !== "")) assert.match(l, KEPT);

      // Fresh at scrape time: a second later, the same probe rendering, newer process values.
      await new Promise((r) => setTimeout(r, 1100));
      const s2 = await scrapeGzip();
      assert.equal(
        value(s2.body, `netprobify_iterations_total{probe_name="lab"}`),
        1,
        "no iteration in between",
      );
      assert.ok(
        value(s2.body, "process_cpu_seconds_total")! > value(s1.body, "process_cpu_seconds_total")!,
        "CPU seconds moved: the process metrics were read again for this scrape",
      );

      // 4. A reload that changes literal (resolved again, same address) and prod's state.
      write("validation", NB + 1);
      daemon.kill("SIGHUP");
      body = await until(
        "reload applied and probed",
        (x) => value(x, `tcpsyn_sent_total{${S("prod", "validation", "g1")}}`) === NB,
      );
      for (const d of ["literal", "prod", "subnet", "myself"])
        assert.equal(
          value(body, `app_host_resolution_change_total{${T(d)}}`),
          1,
          `${d}: a reload is no change`,
        );
      assert.equal(
        value(body, `tcpsyn_sent_total{${S("literal", "None", "g1")}}`),
        NB + NB + 1,
        "kept counters",
      );
      assert.deepEqual(
        linesOf(body, "prod").filter((l) => l.includes('state="in production"')),
        [],
        "the old state's series are gone",
      );

      daemon.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
    } finally {
      daemon.kill("SIGKILL");
    }
  });
});
