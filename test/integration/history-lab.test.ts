// The distribution metrics and the status page's API, checked against the wire: `netprobify CONFIG`
// probes a lab target behind an impairment stage (5 ms ± 3 ms uniform jitter) with tcpdump capturing
// the echo requests and replies; after its one iteration, the netprobify_rtt_seconds buckets, the
// RTT min/max and IPDV gauges, and /api/v1/status, /history and /target are compared with what the
// capture shows. Wire and kernel timestamps are taken at nearby but different points, so a sample
// lying within TOLERANCE of a bucket bound may fall on either side: the bucket counts are checked to
// lie between the counts with such samples below and above the bound (everything else is exact).
// Then a SIGHUP adding a target: the unchanged target keeps its history, the new one starts with a gap.
// Needs root (lab, raw sockets, tcpdump).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { LINKTYPE_ETHERNET } from "../../src/lab/pcap.js";
import { BIN } from "../support/paths.js";

const AUTH = { PROM_USER: "prom", PROM_PASSWORD: "s3cret" };
const HEADERS = { authorization: `Basic ${Buffer.from("prom:s3cret").toString("base64")}` };
const PORT = 19161;
const PACKETS = 30;
const BOUNDS = [0.003, 0.005, 0.007];
/** Wire vs kernel timestamp difference allowed per RTT, in seconds. */
const TOLERANCE = 100e-6;

async function get(path: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${PORT}${path}`, { headers: HEADERS });
  return { status: r.status, text: await r.text() };
}

/** Echo requests and replies of the capture by (identifier, sequence): wire RTTs in send order. */
function wireRtts(records: { tsNs: bigint; data: Buffer }[], target: string): number[] {
  const sent = new Map<number, bigint>();
  const order: number[] = [];
  const got = new Map<number, bigint>();
  for (const r of records) {
    const ip = r.data.subarray(14);
    if (ip[0]! >> 4 !== 4 || ip[9] !== 1) continue;
    const icmp = ip.subarray((ip[0]! & 0xf) * 4);
    const key = icmp.readUInt32BE(4); // identifier << 16 | sequence
    const dst = [...ip.subarray(16, 20)].join(".");
    const src = [...ip.subarray(12, 16)].join(".");
    if (icmp[0] === 8 && dst === target && !sent.has(key)) {
      sent.set(key, r.tsNs);
      order.push(key);
    } else if (icmp[0] === 0 && src === target && !got.has(key)) got.set(key, r.tsNs);
  }
  return order.map((k) => Number(got.get(k)! - sent.get(k)!) / 1e9);
}

function metric(body: string, name: string, match: string[] = []): number | undefined {
  const line = body
    .split("\n")
    .find(
      (l) =>
        l.startsWith(`${name}{`) && match.every((m) => l.includes(m)) && l.includes('destination="ping"'),
    );
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("histogram, jitter and the API against the wire (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let child: ChildProcess | undefined;
  before(async () => {
    lab = await createLab({ targets: [{ name: "web", impair: { to: { delayMs: 5, jitterMs: 3 } } }] });
    dir = mkdtempSync(join(tmpdir(), "npf-history-"));
  });
  after(async () => {
    child?.kill("SIGKILL");
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("one iteration of 30 jittered pings: buckets, min/max, IPDV and the API match the capture", async (tc) => {
    const t = lab.target("web");
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 3600, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, interval_packets: 0.01, rtt_histogram: true, rtt_histogram_buckets: [${BOUNDS.join(", ")}]}
groups:
  standard: {}
targets:
  ping: {type: ICMPping, destination: "${t.v4}", nb_packets: ${PACKETS}, timeout: 1}
`,
    );
    const capture = await lab.capture({ iface: t.hostIf, filter: "icmp" });
    child = spawn(process.execPath, [BIN, file], {
      env: { ...process.env, ...AUTH },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (b) => {
      stderr += String(b);
    });
    let body = "";
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      body = await get("/metrics").then(
        (r) => r.text,
        () => "",
      );
      if (/netprobify_iterations_total\{probe_name="lab"\} 1/.test(body)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(body, /netprobify_iterations_total\{probe_name="lab"\} 1/, stderr);
    const pcap = await capture.stop();
    assert.equal(pcap.linkType, LINKTYPE_ETHERNET);
    const wire = wireRtts(pcap.records, t.v4);
    assert.equal(wire.length, PACKETS, "every probe and its reply are in the capture");
    assert.ok(
      wire.every((x) => x > 0.0015 && x < 0.0095),
      `wire RTTs ${wire.join(" ")}`,
    );

    // Buckets: exact but for samples within TOLERANCE of a bound.
    for (const le of BOUNDS) {
      const surely = wire.filter((x) => x <= le - TOLERANCE).length;
      const maybe = wire.filter((x) => x <= le + TOLERANCE).length;
      const got = metric(body, "netprobify_rtt_seconds_bucket", [`le="${le}"`, 'type="ICMPping"']);
      assert.ok(
        got !== undefined && got >= surely && got <= maybe,
        `le ${le}: ${got}, wire ${surely}..${maybe}`,
      );
    }
    assert.equal(metric(body, "netprobify_rtt_seconds_count"), PACKETS);
    const sum = wire.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(metric(body, "netprobify_rtt_seconds_sum")! - sum) < PACKETS * TOLERANCE);

    // Min/max and IPDV (one ICMP flow: consecutive probes in send order).
    const close = (name: string, want: number, tol: number) => {
      const got = metric(body, name);
      assert.ok(got !== undefined && Math.abs(got - want) < tol, `${name}: ${got} vs wire ${want}`);
    };
    close("netprobify_rtt_min_seconds", Math.min(...wire), TOLERANCE);
    close("netprobify_rtt_max_seconds", Math.max(...wire), TOLERANCE);
    const ipdv = wire.slice(1).map((x, i) => Math.abs(x - wire[i]!));
    close("netprobify_ipdv_mean_seconds", ipdv.reduce((a, b) => a + b, 0) / ipdv.length, 2 * TOLERANCE);
    close("netprobify_ipdv_max_seconds", Math.max(...ipdv), 2 * TOLERANCE);
    tc.diagnostic(
      `wire: min ${Math.min(...wire)} max ${Math.max(...wire)} ipdv mean ${ipdv.reduce((a, b) => a + b, 0) / ipdv.length} max ${Math.max(...ipdv)}; ` +
        `metrics: min ${metric(body, "netprobify_rtt_min_seconds")} max ${metric(body, "netprobify_rtt_max_seconds")} ipdv mean ${metric(body, "netprobify_ipdv_mean_seconds")} max ${metric(body, "netprobify_ipdv_max_seconds")}; ` +
        `buckets ${BOUNDS.map((le) => metric(body, "netprobify_rtt_seconds_bucket", [`le="${le}"`])).join("/")} wire ${BOUNDS.map((le) => wire.filter((x) => x <= le).length).join("/")}`,
    );
    // The jitter is real: the stage's ±3 ms shows, far above the tolerance.
    assert.ok(Math.max(...ipdv) > 0.001, `wire IPDV max ${Math.max(...ipdv)}`);

    // The API serves the daemon's history (401 without the credentials, as /metrics).
    assert.equal((await fetch(`http://127.0.0.1:${PORT}/api/v1/status`)).status, 401);
    const status = JSON.parse((await get("/api/v1/status")).text);
    assert.equal(status.iteration.count, 1);
    const entry = status.targets.find((x: { id: string }) => x.id === "ping/standard");
    assert.equal(entry.loss_ratio, 0);
    const sorted = [...wire].sort((a, b) => a - b);
    const p50 = (sorted[14]! + sorted[15]!) / 2;
    assert.ok(Math.abs(entry.rtt_p50 - p50) < TOLERANCE, `p50 ${entry.rtt_p50} vs wire ${p50}`);
    const h = JSON.parse((await get("/api/v1/history?ids=ping/standard")).text).series["ping/standard"];
    assert.deepEqual([h.sent, h.lost, h.errors], [[PACKETS], [0], [0]]);
    assert.ok(Math.abs(h.rtt.min[0] - sorted[0]!) < TOLERANCE + sorted[0]! * 3e-4);
    assert.ok(Math.abs(h.rtt.max[0] - sorted[PACKETS - 1]!) < TOLERANCE + sorted[PACKETS - 1]! * 3e-4);
    const detail = JSON.parse((await get("/api/v1/target?id=ping/standard")).text);
    assert.equal(detail.config.nb_packets, PACKETS);
    assert.deepEqual(detail.icmp_errors, {});
    // One ICMP flow (the address pair), from the per-flow ledger.
    assert.equal(detail.flows.length, 1);
    assert.deepEqual([detail.flows[0].src_port, detail.flows[0].sent, detail.flows[0].lost], [0, PACKETS, 0]);

    // A reload that adds a target keeps the unchanged one's history (and runs the next iteration).
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "targets:\n",
        `targets:\n  other: {type: ICMPping, destination: "${t.v4}", nb_packets: 2}\n`,
      ),
    );
    child.kill("SIGHUP");
    let after: { targets: { id: string }[]; iteration: { count: number } } | undefined;
    while (Date.now() < deadline + 15_000) {
      after = JSON.parse((await get("/api/v1/status")).text);
      if (after!.iteration.count >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(after!.targets.map((x) => x.id).sort(), ["other/standard", "ping/standard"], stderr);
    const kept = JSON.parse((await get("/api/v1/history?ids=ping/standard,other/standard")).text).series;
    assert.deepEqual(kept["ping/standard"].sent, [PACKETS, PACKETS]);
    assert.deepEqual(kept["other/standard"].sent, [0, 2], "a gap before the new target existed");

    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
    child = undefined;
  });
});
