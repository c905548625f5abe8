// ICMP echo over the lab's 4-way leaf–spine fabric (issue 15). Linux hashes an echo on its addresses
// (policy 1: no identifier), so one prober address is one path: the daemon's group takes a source
// subnet instead (the fabric's `sources`, local to the prober), and its echoes spread over every spine
// by source address, each source keeping its spine (counted with tcpdump on each spine). IPv6 flow
// labels spread one source's echoes only where routers hash the label. Then a blackholed member link
// on the way to ICMP targets of both families: the real daemon flags the sources behind it, traces
// them from those sources, and names the link; and the same for ICMPv6 over routers hashing the flow
// label, from one source whose labels are the flows. Needs root (fabric, raw sockets, tcpdump).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { run as runCmd } from "../../src/lab/exec.js";
import { createFabric, type Fabric, type FabricSpec } from "../../src/lab/fabric.js";
import type { PcapRecord } from "../../src/lab/pcap.js";
import { BIN } from "../support/paths.js";
import { until, value } from "./lib/scrape.js";

const PORT = 19173;
const P = (d: string) => `probe_name="lab",destination="${d}",group="gi"`;
/** 8 source addresses per way: a /27 (30 IPv4 hosts) and a /123 (31 IPv6 hosts) on 4 ways. */
const SOURCES = 32;

interface Run {
  fabric: Fabric;
  daemon?: ChildProcess;
  log: () => string;
}
const runs: Run[] = [];
let dir: string | undefined;

async function fabric(spec: Partial<FabricSpec>): Promise<Run> {
  const f = await createFabric({ ways: 4, targets: 2, sources: SOURCES, ...spec });
  const run: Run = { fabric: f, log: () => "" };
  runs.push(run);
  return run;
}

/** Starts the daemon on two ICMP targets (IPv4, IPv6) through group `gi` with these group keys. */
function daemon(run: Run, group: string, nbPackets: number, interval: number): void {
  dir ??= mkdtempSync(join(tmpdir(), "npf-icmp-"));
  const file = join(dir, `netprobify-${runs.indexOf(run)}.yaml`);
  const t = run.fabric.targets;
  writeFileSync(
    file,
    `global: {probe_name: lab, interval: ${interval}, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, path_tracing_packets_per_second: 4000}
groups:
  gi: {${group}}
targets:
  i4: {type: ICMPping, destination: "${t.v4(0)}", nb_packets: ${nbPackets}, timeout: 0.3}
  i6: {type: ICMPping, destination: "${t.v6(1)}", nb_packets: ${nbPackets}, timeout: 0.3}
`,
  );
  const proc = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => {
    out += String(d);
  });
  proc.stderr!.on("data", (d) => {
    out += String(d);
  });
  run.daemon = proc;
  run.log = () => out;
}

async function stop(run: Run): Promise<void> {
  run.daemon?.kill("SIGKILL");
  await run.fabric.destroy();
  runs.splice(runs.indexOf(run), 1);
}

const subnetKeys = (f: Fabric, ports = "src_port_a: 30000, src_port_z: 30000") =>
  `${ports}, src_subnet_ipv4: "${f.sources!.v4Cidr}", src_subnet_ipv6: "${f.sources!.v6Cidr}"`;

/** An echo request seen on a spine: its source and (IPv6) flow label. */
interface Echo {
  v6: boolean;
  src: string;
  label: number;
}

function echoes(records: readonly PcapRecord[]): Echo[] {
  const out: Echo[] = [];
  for (const { data: d } of records) {
    const etype = d.readUInt16BE(12);
    if (etype === 0x0800 && d[23] === 1 && d[14 + ((d[14] ?? 0) & 15) * 4] === 8)
      out.push({ v6: false, src: [...d.subarray(26, 30)].join("."), label: 0 });
    else if (etype === 0x86dd && d[20] === 58 && d[54] === 128) {
      const g: string[] = [];
      for (let i = 22; i < 38; i += 2) g.push(d.readUInt16BE(i).toString(16));
      const src = new URL(`http://[${g.join(":")}]/`).hostname.slice(1, -1);
      out.push({ v6: true, src, label: d.readUInt32BE(14) & 0xfffff });
    }
  }
  return out;
}

/** Runs the daemon for `iterations` while capturing echo requests on every spine's link from leaf1. */
async function perSpine(run: Run, group: string, nbPackets: number, iterations: number): Promise<Echo[][]> {
  const f = run.fabric;
  const spines = f.routers.filter((r) => r.name.startsWith("spine"));
  const caps = await Promise.all(
    spines.map((r) => f.lab.capture({ ns: r.ns, iface: "up", filter: "icmp or icmp6", bufferKiB: 4096 })),
  );
  daemon(run, group, nbPackets, 1);
  await until(
    `${iterations} iterations`,
    (b) => (value(b, `netprobify_iterations_total{probe_name="lab"}`) ?? 0) >= iterations,
    { port: PORT, ms: 60_000, relevant: /iterations/, context: run.log },
  );
  run.daemon!.kill("SIGKILL");
  return Promise.all(caps.map(async (c) => echoes((await c.stop()).records)));
}

describe("ICMP echo over the 4-way fabric (needs root)", () => {
  after(async () => {
    for (const r of [...runs]) await stop(r);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("echoes from a source subnet cover every spine, each source keeping its spine, IPv4 and IPv6 (needs root)", async () => {
    const run = await fabric({});
    const seen = await perSpine(run, subnetKeys(run.fabric), 62, 3);
    for (const v6 of [false, true]) {
      const sources = seen.map((s) => new Set(s.filter((e) => e.v6 === v6).map((e) => e.src)));
      const all = sources.flatMap((s) => [...s]);
      console.log(
        `# ${v6 ? "IPv6" : "IPv4"} policy 1: sources per spine ${sources.map((s) => s.size)}, echoes per spine ${seen.map((s) => s.filter((e) => e.v6 === v6).length)}`,
      );
      assert.equal(all.length, v6 ? 31 : 30, "every source seen once: on one spine only");
      assert.ok(
        sources.every((s) => s.size > 0),
        `every spine carries some sources: ${sources.map((s) => s.size)}`,
      );
    }
    const cidrs = [run.fabric.sources!.v4Cidr, run.fabric.sources!.v6Cidr];
    await stop(run);
    // The sources' local routes went with the prober's link: a next fabric can take them again.
    const local = (await runCmd("ip", ["route", "show", "table", "all", "type", "local"])).stdout;
    for (const c of cidrs) assert.ok(!local.includes(c.split("/")[0]!), `${c} left in:\n${local}`);
  });

  test("IPv6 flow labels spread one source's echoes only where routers hash the label (needs root)", async () => {
    // One prober address; 32 ports in the group give ICMPv6 echoes 32 flow labels (docs/paths.md).
    const spread: Record<string, number[]> = {};
    for (const [name, spec] of [
      ["policy 1", {}],
      ["policy 0 (Linux's default)", { hashPolicy: { ipv6: 0 as const } }],
      ["policy 3, fields + label", { hashPolicy: { ipv6: 3 as const }, hashFields: { ipv6: 0x0f } }],
    ] as const) {
      const run = await fabric({ ...spec, sources: 0 });
      const seen = await perSpine(run, "src_port_a: 30000, src_port_z: 30031", 64, 2);
      spread[name] = seen.map((s) => new Set(s.filter((e) => e.v6).map((e) => e.label)).size);
      await stop(run);
    }
    console.log(`# ICMPv6, one source, 32 labels: labels per spine ${JSON.stringify(spread)}`);
    assert.equal(Math.max(...spread["policy 1"]!), 32, "policy 1 hashes no label: one spine");
    for (const name of ["policy 0 (Linux's default)", "policy 3, fields + label"]) {
      assert.ok(
        spread[name]!.every((n) => n > 0),
        `${name}: every spine`,
      );
      assert.equal(
        spread[name]!.reduce((a, b) => a + b),
        32,
        `${name}: each label on one spine`,
      );
    }
  });

  test("a blackholed member link: the daemon names it for ICMP targets of both families (needs root)", async () => {
    const run = await fabric({});
    const f = run.fabric;
    daemon(run, subnetKeys(f), 64, 0);
    const flows = await namesBlackhole(run, ["i4", "i6"]);
    for (const d of ["i4", "i6"] as const) {
      // Flows differ by source address: one per source of the subnet.
      const hosts = d === "i4" ? f.sources!.all4() : f.sources!.all6();
      for (const fl of flows[d]!) assert.ok(hosts.includes(fl.src_addr), fl.src_addr);
      assert.equal(new Set(flows[d]!.map((x) => x.src_addr)).size, flows[d]!.length, "one flow per source");
    }
    await stop(run);
  });

  test("IPv6 routers hashing the flow label: one source's labels are the flows, and the link is named (needs root)", async () => {
    const run = await fabric({ hashPolicy: { ipv6: 3 }, hashFields: { ipv6: 0x0f }, sources: 0 });
    daemon(run, "src_port_a: 30000, src_port_z: 30031", 64, 0);
    const flows = await namesBlackhole(run, ["i6"]);
    const i6 = flows.i6!;
    assert.equal(new Set(i6.map((x) => x.src_addr)).size, 1, "one source");
    assert.equal(new Set(i6.map((x) => x.flow_label)).size, i6.length, "one flow per label");
    await stop(run);
  });
});

interface TracedFlow {
  src_addr: string;
  flow_label: number;
  flagged: boolean;
  hops: (string | null)[];
}

/**
 * Blackholes spine2-leaf2 toward the targets and waits for the daemon to name it for targets `ds`:
 * the blamed link starts at spine 2, every flagged flow crossed spine 2, a healthy one another
 * spine. Returns the traced flows per target, from /paths.
 */
async function namesBlackhole(run: Run, ds: ("i4" | "i6")[]): Promise<Record<string, TracedFlow[]>> {
  const f = run.fabric;
  const link = f.links.find((l) => l.id === "spine2-leaf2")!;
  await f.fault(link.id, { blackhole: true, direction: "forward" });
  const spine = { i4: link.from.v4, i6: link.from.v6 };
  const leaf2 = { i4: link.to.v4, i6: link.to.v6 };
  const named = (body: string, d: "i4" | "i6") =>
    body
      .split("\n")
      .filter((l) => l.startsWith(`netprobify_path_suspect_link{${P(d)}`))
      .map((l) => ({ from: /from="([^"]+)"/.exec(l)![1], to: /to="([^"]+)"/.exec(l)![1] }));
  const body = await until(`a suspect link for ${ds}`, (b) => ds.every((d) => named(b, d).length > 0), {
    port: PORT,
    ms: 120_000,
    relevant: /netprobify_path_(suspect|anomaly|incidents|trace)/,
    context: run.log,
  });
  const doc = (await (await fetch(`http://127.0.0.1:${PORT}/paths`)).json()) as {
    incidents: { destination: string; flows: TracedFlow[] }[];
  };
  const out: Record<string, TracedFlow[]> = {};
  for (const d of ds) {
    const [s] = named(body, d);
    assert.equal(s!.from, spine[d], `${d}: blamed ${JSON.stringify(s)}`);
    assert.ok(s!.to === "*" || s!.to === leaf2[d], `${d}: to ${s!.to}`);
    assert.ok((value(body, `netprobify_path_anomaly{${P(d)}}`) ?? 0) > 0);
    const flows = doc.incidents.find((i) => i.destination === d)!.flows;
    for (const fl of flows.filter((x) => x.flagged)) assert.equal(fl.hops[1], spine[d]);
    assert.ok(flows.some((x) => !x.flagged && x.hops[1] !== null && x.hops[1] !== spine[d]));
    out[d] = flows;
  }
  return out;
}
