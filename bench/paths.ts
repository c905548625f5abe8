// Trace-on-loss on the real lab fabric (issue 15's "Done when"): for 2-, 4-, 8- and 16-way fabrics and
// 1 %, 5 % and 100 % loss on one member link (leaf1 -> spine 2, toward the targets), the real daemon
// probes six targets at once (TCPsyn, UDPunreachable, ICMPping × IPv4, IPv6; ICMP from a source subnet
// of 8 addresses per way, since echo is hashed on its addresses only) and the bench prints per
// cell whether the right link was named, the time from the loss starting to the verdict, and the
// extra probes the incident used, and when its incident opened (the detector flagged its flows); then, for each width, a healthy fabric over the same time and the
// links it blamed (false positives). Not part of npm test.
//
// Run time is bounded: each faulty run stops CELL_SECONDS after the loss starts (default 60, the
// issue's limit) or when every target has a verdict; each healthy run lasts CELL_SECONDS. With every
// cell: 12 faulty runs + 4 healthy ones, at most 16 × (CELL_SECONDS + ~10 s of start-up) ≈ 19 min.
// Options: --ways 2,4,8,16 --loss 1,5,100 --seconds 60 --no-healthy; --per-flow N probes per flow
// and iteration (default 8); --any: global.trace_on_loss: any (an incident opens on any loss, without
// waiting for the detector to flag flows); --uniform: the loss on every leaf1 -> spine link instead of
// one (uniform loss, no ECMP anomaly: a cell runs its full time and is right when no verdict in it
// blames a link; the verdict it shows is the first link blamed, else the first verdict).
// Run: npm run bench:paths (builds, then runs inside the lab's namespaces; needs root).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFabric, type Fabric } from "../src/lab/fabric.js";
import { BIN } from "../test/support/paths.js";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const WAYS = arg("ways", "2,4,8,16").split(",").map(Number) as (2 | 4 | 8 | 16)[];
const LOSSES = arg("loss", "1,5,100").split(",").map(Number);
const SECONDS = Number(arg("seconds", "60"));
const HEALTHY = !process.argv.includes("--no-healthy");
const PER_FLOW = Number(arg("per-flow", "8"));
const ON = process.argv.includes("--any") ? "any" : "anomaly";
const UNIFORM = process.argv.includes("--uniform");
const PORT = 19181;
const LINK = "leaf1-spine2";

const TARGETS = [
  { name: "tcp4", type: "TCPsyn", fam: "v4", port: "dst_port: 443" },
  { name: "udp4", type: "UDPunreachable", fam: "v4", port: "dst_port: 33434" },
  { name: "icmp4", type: "ICMPping", fam: "v4", port: "" },
  { name: "tcp6", type: "TCPsyn", fam: "v6", port: "dst_port: 443" },
  { name: "udp6", type: "UDPunreachable", fam: "v6", port: "dst_port: 33434" },
  { name: "icmp6", type: "ICMPping", fam: "v6", port: "" },
] as const;

interface Incident {
  destination: string;
  probes: number;
  verdict: { kind: string; from?: string; to?: string | null } | null;
}

const dir = mkdtempSync(join(tmpdir(), "npf-bench-paths-"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function daemonOn(f: Fabric, ways: number): Promise<{ proc: ChildProcess; log: () => string }> {
  const file = join(dir, `w${ways}.yaml`);
  // 8 source ports per way: every spine carries flows of every target. ICMP echo has no port (and
  // Linux hashes no identifier): its targets probe through group gi, 8 source addresses per way.
  const ports = 8 * ways;
  const icmp = "auto_register_to_groups: false, explicit_groups: {register_to: [gi]}, ";
  const targets = TARGETS.map(
    (t, i) =>
      `  ${t.name}: {type: ${t.type}, destination: "${t.fam === "v4" ? f.targets.v4(i) : f.targets.v6(i)}", ${t.port ? `${t.port}, ` : icmp}nb_packets: ${PER_FLOW * ports}, timeout: 0.3}`,
  ).join("\n");
  const src = f.sources!;
  writeFileSync(
    file,
    `global: {probe_name: bench, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, path_tracing_packets_per_second: 6000, path_tracing_max_incidents: 6, trace_on_loss: ${ON}}
groups:
  g: {src_port_a: 30000, src_port_z: ${30000 + ports - 1}}
  gi: {src_port_a: 30000, src_port_z: 30000, src_subnet_ipv4: "${src.v4Cidr}", src_subnet_ipv6: "${src.v6Cidr}", permit_target_auto_register: false}
targets:
${targets}
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
  return { proc, log: () => out };
}

async function incidents(): Promise<Incident[]> {
  try {
    const r = await fetch(`http://127.0.0.1:${PORT}/paths`);
    return ((await r.json()) as { incidents: Incident[] }).incidents;
  } catch {
    return [];
  }
}

async function iterations(): Promise<number> {
  try {
    const body = await (await fetch(`http://127.0.0.1:${PORT}/metrics`)).text();
    const line = body
      .split("\n")
      .find((l) => l.startsWith('netprobify_iterations_total{probe_name="bench"}'));
    return line ? Number(line.split(" ").pop()) : 0;
  } catch {
    return 0;
  }
}

async function faulty(ways: 2 | 4 | 8 | 16, lossPct: number): Promise<void> {
  const f = await createFabric({ ways, targets: TARGETS.length, sources: 8 * ways });
  const d = await daemonOn(f, ways);
  try {
    while ((await iterations()) < 2) await sleep(200);
    const link = f.links.find((l) => l.id === LINK)!;
    const t0 = Date.now();
    const faulted = UNIFORM ? f.links.filter((l) => l.id.startsWith("leaf1-spine")).map((l) => l.id) : [LINK];
    for (const id of faulted)
      await f.fault(
        id,
        lossPct === 100
          ? { blackhole: true, direction: "forward" }
          : { loss: lossPct / 100, direction: "forward" },
      );
    const first = new Map<string, { ms: number; inc: Incident }>();
    const opened = new Map<string, number>(); // the detector flagged: an incident appeared
    // --uniform: watched for the whole cell, a link blamed by any later verdict counts.
    const blamed = new Map<string, { ms: number; inc: Incident }>();
    while (Date.now() - t0 < SECONDS * 1000 && (UNIFORM || first.size < TARGETS.length)) {
      for (const inc of await incidents()) {
        if (!opened.has(inc.destination)) opened.set(inc.destination, Date.now() - t0);
        if (inc.verdict && !first.has(inc.destination))
          first.set(inc.destination, { ms: Date.now() - t0, inc });
        if (inc.verdict?.kind === "link" && !blamed.has(inc.destination))
          blamed.set(inc.destination, { ms: Date.now() - t0, inc });
      }
      await sleep(250);
    }
    for (const t of TARGETS) {
      const got = (UNIFORM ? blamed.get(t.name) : undefined) ?? first.get(t.name);
      const fam = t.fam;
      const ok = UNIFORM
        ? got?.inc.verdict?.kind !== "link"
        : got?.inc.verdict?.kind === "link" &&
          got.inc.verdict.from === link.from[fam] &&
          (got.inc.verdict.to === link.to[fam] || got.inc.verdict.to === null);
      const what = got ? JSON.stringify(got.inc.verdict) : "no verdict";
      console.log(
        `${String(ways).padStart(2)}-way ${String(lossPct).padStart(3)} % ${t.name.padEnd(6)} ${UNIFORM ? (ok ? "no link " : "BLAMED  ") : ok ? "named   " : "NOT named"} ` +
          `${got ? `${(got.ms / 1000).toFixed(1)} s`.padStart(7) : "      -"} ${String(got?.inc.probes ?? 0).padStart(6)} probes` +
          `  opened ${opened.has(t.name) ? `${(opened.get(t.name)! / 1000).toFixed(1)} s` : "-"}  ${ok && !UNIFORM ? "" : what}`,
      );
    }
  } finally {
    d.proc.kill("SIGKILL");
    await f.destroy();
  }
}

async function healthy(ways: 2 | 4 | 8 | 16): Promise<void> {
  const f = await createFabric({ ways, targets: TARGETS.length, sources: 8 * ways });
  const d = await daemonOn(f, ways);
  const blamed = new Set<string>();
  let opened = new Set<string>();
  try {
    while ((await iterations()) < 2) await sleep(200);
    const t0 = Date.now();
    while (Date.now() - t0 < SECONDS * 1000) {
      const list = await incidents();
      opened = new Set([...opened, ...list.map((i) => i.destination)]);
      for (const i of list)
        if (i.verdict?.kind === "link") blamed.add(`${i.destination}: ${i.verdict.from} -> ${i.verdict.to}`);
      await sleep(500);
    }
    console.log(
      `${String(ways).padStart(2)}-way healthy ${SECONDS} s: ${opened.size} incidents opened, ${blamed.size} links blamed (false positives)${blamed.size ? `: ${[...blamed].join("; ")}` : ""}`,
    );
  } finally {
    d.proc.kill("SIGKILL");
    await f.destroy();
  }
}

console.log(
  `${UNIFORM ? "every leaf1-spine link" : `link ${LINK}`} (toward the targets), cells stop ${SECONDS} s after the loss starts; ${PER_FLOW} probes per flow and iteration (interval 1 s), trace_on_loss: ${ON}`,
);
try {
  for (const ways of WAYS) for (const loss of LOSSES) await faulty(ways, loss);
  if (HEALTHY) for (const ways of WAYS) await healthy(ways);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
