// `netprobify run --once --json` and `--probe-log FILE` as a script (or the benchmark) uses them:
// the JSON totals agree with the per-series rows, and the probe log has one line per probe whose
// states, keys and timestamps agree with the JSON. The lab part needs root; the usage errors do not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { PROBE_LOG_HEADER } from "../../src/cli/once.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN, FIXTURES } from "../support/paths.js";

const run = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });

describe("run --once --json / --probe-log: usage", () => {
  test("--probe-log and --json without --once are usage errors (64)", () => {
    const cfg = `${FIXTURES}config/valid/seed-example.yaml`;
    for (const args of [
      ["run", "--probe-log", "x.csv", cfg],
      ["run", "--json", cfg],
      ["check", "--probe-log", "x", cfg],
    ]) {
      const r = run(args);
      assert.equal(r.status, 64, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /apply to/);
    }
  });
});

describe("run --once --json --probe-log in the lab (needs root)", () => {
  let lab: Lab;
  let dir: string;
  before(async () => {
    lab = await createLab({ targets: [{ name: "web", rangeSize: 16 }] });
    dir = mkdtempSync(join(tmpdir(), "npf-once-json-"));
  });
  after(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("JSON totals and series, one probe-log line per probe, lost exactly where the loss was", async () => {
    const t = lab.target("web");
    const [net] = t.range!.v4Cidr.split("/");
    // Every probe to one address is dropped by the target: those, and only those, are lost.
    await lab.exec(t.ns, "nft", ["-f", "-"], {
      input: `table inet dropone {\n  chain pre {\n    type filter hook prerouting priority -300; policy accept;\n    ip daddr ${t.range!.v4(3)} drop\n  }\n}\n`,
    });
    const file = join(dir, "netprobify.yaml");
    const log = join(dir, "probes.csv");
    writeFileSync(
      file,
      `
global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0, percentile: [50, 95]}
groups:
  g: {src_port_a: 62000, src_port_z: 62003}
targets:
  syn: {type: TCPsyn, destination: "${net}/30", is_subnet: true, dst_port: 81, nb_packets: 5, timeout: 0.3}
  ping6: {type: ICMPping, destination: "${t.v6}", nb_packets: 7}
  udp: {type: UDPunreachable, destination: "${t.range!.v6(5)}", dst_port: 33434, nb_packets: 3}
`,
    );
    const r = run(["run", "--once", "--json", "--probe-log", log, file]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.probes, 4 * 5 + 7 + 3);
    assert.equal(j.sent, j.probes);
    assert.equal(j.lost, 5, "the 5 probes to the dropped address");
    assert.equal(j.socketDrops, 0);
    assert.deepEqual(j.sendErrors, {});
    assert.ok(j.durationMs >= 300, `an iteration with loss waits one timeout, took ${j.durationMs} ms`);
    assert.ok(j.sendMs >= 0 && j.sendMs <= j.activeMs && j.activeMs < j.durationMs - 250, JSON.stringify(j));
    const syn = j.series.find((s: { target: string }) => s.target === "syn");
    assert.deepEqual([syn.sent, syn.lost, syn.rttSamples], [20, 5, 15]);
    assert.ok(syn.rttMs.p50 > 0 && syn.rttMs.p50 <= syn.rttMs.p99 && syn.rttMs.p99 <= syn.rttMs.max);
    const udp = j.series.find((s: { target: string }) => s.target === "udp");
    assert.deepEqual(udp.icmpErrors, { "1/4": 3 });
    assert.ok(j.process.maxRssKiB > 0 && j.process.cpuUserMs > 0 && j.process.iterationCpuMs > 0);
    assert.ok(j.process.iterationStartedAtMs <= j.process.iterationEndedAtMs);

    const lines = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(lines[0], PROBE_LOG_HEADER);
    const col = Object.fromEntries(lines[0]!.split(",").map((c, i) => [c, i]));
    const rows = lines.slice(1).map((l) => l.split(","));
    assert.equal(rows.length, j.probes);
    const lost = rows.filter((c) => c[col.state!] === "lost");
    assert.equal(lost.length, 5);
    assert.ok(
      lost.every((c) => c[col.dst!] === t.range!.v4(3) && c[col.rx_ns!] === "" && c[col.rtt_ns!] === ""),
    );
    const keys = new Set(rows.map((c) => c[col.key!]));
    assert.equal(keys.size, rows.length, "every probe has its own key");
    const startNs = BigInt(j.process.iterationStartedAtMs - 1) * 1_000_000n;
    const endNs = BigInt(j.process.iterationEndedAtMs + 1) * 1_000_000n;
    for (const c of rows.filter((x) => x[col.state!] === "answered")) {
      const tx = BigInt(c[col.tx_ns!]!);
      const rx = BigInt(c[col.rx_ns!]!);
      assert.ok(tx >= startNs && rx <= endNs, "CLOCK_REALTIME ns within the iteration");
      assert.equal(BigInt(c[col.rtt_ns!]!), rx - tx);
    }
    // RTT samples in the JSON are the log's RTTs: same median for the TCP series.
    const synRtts = rows
      .filter((c) => c[col.target!] === "syn" && c[col.rtt_ns!] !== "")
      .map((c) => Number(c[col.rtt_ns!]) / 1e6)
      .sort((a, b) => a - b);
    // 15 samples: p50 is the 8th, one of them. Compared to well under a nanosecond, not with ===: the
    // JSON's ms come from seconds × 1000, the log's from ns ÷ 1e6 (3175 ns: 0.0031750000000000003 vs 0.003175).
    assert.ok(
      synRtts.some((x) => Math.abs(x - syn.rttMs.p50) < 1e-9),
      `p50 ${syn.rttMs.p50} ms is one of the logged RTTs`,
    );
  });
});
