// Scale benchmark of the probing engine (issue 7): does netprobify stay small, start fast, wait for
// answers once per iteration, and keep up with the C reference? In one lab (two targets whose
// loopbacks own 4,096 + 8,192 addresses, every TCP port closed so the kernel answers RST), it measures:
//   startup   `netprobify run --once` as a separate process on a generated configuration of N
//             single-address targets × P packets: peak RSS (GNU time), time from spawn to the first
//             probe on the wire (a tcpdump -c 1 timestamp), total wall time;
//   loss      one engine iteration with 5 % loss injected (nftables, towards the target): the
//             iteration should last the send time plus one timeout;
//   rate      matched probes per second for TCPsyn, ICMPping and UDPunreachable, IPv4 and IPv6, one
//             engine iteration each, against the C reference (bench/ref/rawref.c, TCP only), with
//             the engine process's CPU time per probe.
// Prints a table per part and writes build/bench/scale.json.
// Run: npx tsc -p tsconfig.json && sh src/lab/enter.sh node dist/bench/scale.js [--only startup,loss,rate]
//        [--probes 1000000] [--startup-targets 10000] [--rate-count 200000] [--runs 3] [--prof DIR]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ProbeState } from "../src/engine/inflight.js";
import type { ProbeKind } from "../src/engine/plan.js";
import { waitForOutput } from "../src/lab/exec.js";
import { createLab, type Lab } from "../src/lab/lab.js";
import { repoRoot } from "../src/lab/native.js";
import { kernelSource } from "../src/targets/source.js";
import { buildPlan, labEngine, type PlanTargetInput, warmUp } from "../test/integration/support.js";
import { runRawref } from "./lib/rawref.js";
import { intFlag, markdownTable, median, stringFlag, thousands } from "./lib/stats.js";

const argv = process.argv.slice(2);
const ONLY = new Set(stringFlag(argv, "only", "startup,loss,rate").split(","));
/** Start-up shapes to run: hosts, subnet. */
const SHAPES = new Set(stringFlag(argv, "shapes", "hosts,subnet").split(","));
const PROBES = intFlag(argv, "probes", 1_000_000);
const STARTUP_TARGETS = intFlag(argv, "startup-targets", 10_000);
const RATE_COUNT = intFlag(argv, "rate-count", 200_000);
const RUNS = intFlag(argv, "runs", 3);
const PROF = stringFlag(argv, "prof", "");
const PORTS = { engine: { lo: 61000, hi: 61015 }, C: { lo: 62000, hi: 62015 } } as const;
const CLOSED_PORT = 81;
/** Addresses of the subnet target (the lab's larger range). */
const SUBNET = 8192;

/** Every lab address, v4 and v6, over the two targets (for N > 4,096 both are used). */
function addresses(lab: Lab, family: 4 | 6, n: number): string[] {
  const out: string[] = [];
  for (const name of ["big", "small"]) {
    const r = lab.target(name).range!;
    const take = Math.min(n - out.length, r.size);
    out.push(...(family === 4 ? r.all4(take) : r.all6(take)));
    if (out.length === n) return out;
  }
  throw new Error(`the lab has fewer than ${n} addresses`);
}

/** A configuration of one target per destination; a CIDR destination becomes a subnet target. */
function configYaml(dsts: readonly string[], nbPackets: number, type: ProbeKind): string {
  const lines = [
    "global:",
    "  probe_name: scale",
    "  interval: 60",
    "  nb_proc: 1",
    "  logging_level: ERROR",
    "  prometheus_port: 8000",
    "  dns_update_interval: 0",
    "  timeout: 120",
    "groups:",
    "  g:",
    `    src_port_a: ${PORTS.engine.lo}`,
    `    src_port_z: ${PORTS.engine.hi}`,
    "targets:",
  ];
  dsts.forEach((d, i) => {
    lines.push(
      `  t${i}:`,
      `    type: ${type}`,
      `    destination: "${d}"`,
      ...(d.includes("/") ? ["    is_subnet: true"] : []),
      ...(type === "ICMPping" ? [] : [`    dst_port: ${CLOSED_PORT}`]),
      `    nb_packets: ${nbPackets}`,
      "    timeout: 1",
    );
  });
  return `${lines.join("\n")}\n`;
}

interface StartupResult {
  shape: "hosts" | "subnet";
  targets: number;
  packets: number;
  probes: number;
  maxRssMB: number;
  firstProbeMs: number;
  wallSeconds: number;
  iterationSeconds: number;
  exitCode: number;
}

/**
 * One `netprobify run --once` process: peak RSS, spawn → first SYN on the wire, wall time. Shape
 * "hosts": `targets` single-address targets; "subnet": one target, the 8,192-address lab range.
 */
async function startupRun(
  lab: Lab,
  shape: "hosts" | "subnet",
  targets: number,
  packets: number,
): Promise<StartupResult> {
  const dir = mkdtempSync(join(tmpdir(), "netprobify-scale-"));
  try {
    const file = join(dir, "netprobify.yaml");
    const dsts = shape === "hosts" ? addresses(lab, 4, targets) : [lab.target("big").range!.v4Cidr];
    writeFileSync(file, configYaml(dsts, packets, "TCPsyn"));
    const dump = lab.spawn(undefined, "tcpdump", [
      "-i",
      "any",
      "-n",
      "-c",
      "1",
      "-l",
      "--immediate-mode",
      "-tt",
      "--time-stamp-precision=nano",
      `tcp[13] == 2 and src portrange ${PORTS.engine.lo}-${PORTS.engine.hi}`,
    ]);
    let line = "";
    const first = new Promise<string>((res) => {
      dump.stdout?.setEncoding("utf8").on("data", (d: string) => {
        line += d;
        if (line.includes("\n")) res(line);
      });
    });
    await waitForOutput(dump, "tcpdump", /listening on/, 10_000, "stderr");
    const nodeArgs = PROF
      ? ["--cpu-prof", `--cpu-prof-dir=${PROF}`, "--heap-prof", `--heap-prof-dir=${PROF}`]
      : [];
    const bin = resolve(repoRoot(), "bin/netprobify.js");
    const t0 = Date.now();
    const child = spawn(
      "/usr/bin/time",
      ["-f", "MAXRSS_KB %M", process.execPath, ...nodeArgs, bin, "run", "--once", file],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    const code = await new Promise<number>((res) => child.on("close", (c) => res(c ?? -1)));
    const wallSeconds = (Date.now() - t0) / 1000;
    const firstLine = await Promise.race([first, new Promise<string>((r) => setTimeout(() => r(""), 2000))]);
    dump.kill("SIGKILL");
    const firstTs = Number(firstLine.split(" ")[0]);
    const rss = /MAXRSS_KB (\d+)/.exec(err);
    const iter = /(\d+) probes in ([\d.]+) s/.exec(out);
    if (code !== 0 || !rss) process.stderr.write(`run --once failed (${code}):\n${err.slice(-2000)}\n`);
    return {
      shape,
      targets,
      packets,
      probes: (shape === "hosts" ? targets : SUBNET) * packets,
      maxRssMB: rss ? Number(rss[1]) / 1024 : Number.NaN,
      firstProbeMs: firstTs * 1000 - t0,
      wallSeconds,
      iterationSeconds: iter ? Number(iter[2]) : Number.NaN,
      exitCode: code,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function target(
  name: string,
  type: ProbeKind,
  family: 4 | 6,
  dsts: string[],
  nbPackets: number,
  src: string,
  timeout = 1,
): PlanTargetInput {
  return {
    name,
    type,
    family: family === 4 ? "ipv4" : "ipv6",
    addresses: dsts,
    dstPort: type === "ICMPping" ? undefined : CLOSED_PORT,
    nbPackets,
    dontFragment: true,
    timeout,
    groups: [{ name: "g", srcPortA: PORTS.engine.lo, srcPortZ: PORTS.engine.hi, dscp: 0, src }],
  };
}

const noRoute = () => {
  throw new Error("sources are fixed");
};

interface EngineRun {
  answered: number;
  probes: number;
  seconds: number;
  cpuUsPerProbe: number;
  pps: number;
  socketDrops: number;
}

/** One engine iteration of `targets` (fresh engine, warm-up iteration first). */
async function engineRun(
  targets: PlanTargetInput[],
  family: 4 | 6,
  o: { intervalPacketsMs?: number } = {},
): Promise<EngineRun> {
  const plan = buildPlan(targets, noRoute);
  const warm = buildPlan(
    targets.map((t) => ({ ...t, nbPackets: 1 })),
    noRoute,
  );
  const engine = labEngine(targets, { families: [family], ...o });
  try {
    await warmUp();
    await engine.run(warm);
    const cpu0 = process.cpuUsage();
    const r = await engine.run(plan);
    const cpu = process.cpuUsage(cpu0);
    let answered = 0;
    for (let i = 0; i < plan.count; i++) if (r.inflight.state[i] === ProbeState.Answered) answered++;
    return {
      answered,
      probes: plan.count,
      seconds: r.durationMs / 1000,
      cpuUsPerProbe: (cpu.user + cpu.system) / plan.count,
      pps: answered / (r.durationMs / 1000),
      socketDrops: r.socketDrops,
    };
  } finally {
    engine.close();
  }
}

async function main(): Promise<void> {
  const lab = await createLab({
    targets: [
      // Ranges are aligned to their size: the smaller one first, so both fit in one lab slot.
      { name: "small", rangeSize: 4096 },
      { name: "big", rangeSize: 8192 },
    ],
  });
  const json: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, kernel: release(), node: process.versions.node },
  };
  try {
    const src4 = await kernelSource(addresses(lab, 4, 1)[0]!, "ipv4");
    const src6 = await kernelSource(addresses(lab, 6, 1)[0]!, "ipv6");
    if (ONLY.has("startup")) {
      const rows: StartupResult[] = [];
      const all: ["hosts" | "subnet", number, number][] = [
        ["hosts", STARTUP_TARGETS, Math.max(1, Math.round(100_000 / STARTUP_TARGETS))],
        ["hosts", STARTUP_TARGETS, Math.max(1, Math.round(PROBES / STARTUP_TARGETS))],
        ["subnet", 1, Math.round(100_000 / SUBNET)],
        ["subnet", 1, Math.round(PROBES / SUBNET)],
      ];
      const shapes = all.filter(([shape]) => SHAPES.has(shape));
      for (const [shape, t, p] of shapes) {
        for (let k = 0; k < RUNS; k++) {
          const r = await startupRun(lab, shape, t, p);
          process.stderr.write(`startup ${JSON.stringify(r)}\n`);
          rows.push(r);
        }
      }
      json.startup = rows;
      console.log("\n`netprobify run --once`, TCPsyn (median of runs):\n");
      console.log(
        markdownTable(
          ["targets", "packets", "probes", "peak RSS MB", "spawn → first probe ms", "iteration s", "wall s"],
          shapes.map(([shape, t, p]) => {
            const rs = rows.filter((r) => r.shape === shape && r.targets === t && r.packets === p);
            return [
              shape === "hosts" ? `${thousands(t)} hosts` : `1 subnet of ${thousands(SUBNET)}`,
              String(p),
              thousands(rs[0]!.probes),
              median(rs.map((r) => r.maxRssMB)).toFixed(1),
              median(rs.map((r) => r.firstProbeMs)).toFixed(0),
              median(rs.map((r) => r.iterationSeconds)).toFixed(2),
              median(rs.map((r) => r.wallSeconds)).toFixed(2),
            ];
          }),
        ),
      );
    }

    if (ONLY.has("loss")) {
      const rows: (EngineRun & { name: string; lossPct: number; intervalMs: number })[] = [];
      for (const [lossPct, intervalMs] of [
        [0, 0],
        [5, 0],
        [5, 100],
      ] as const) {
        await lab.setLoss("big", lossPct);
        const dsts = addresses(lab, 4, 1000);
        const r = await engineRun([target("loss", "TCPsyn", 4, dsts, 10, src4)], 4, {
          intervalPacketsMs: intervalMs,
        });
        rows.push({ name: `1,000 × 10 TCPsyn, timeout 1 s`, lossPct, intervalMs, ...r });
        process.stderr.write(`loss ${lossPct}% interval ${intervalMs} ms: ${r.seconds.toFixed(3)} s\n`);
      }
      await lab.setLoss("big", 0);
      json.loss = rows;
      console.log("\nIteration time with injected loss (timeout 1 s):\n");
      console.log(
        markdownTable(
          ["probes", "loss %", "interval_packets ms", "answered", "iteration s"],
          rows.map((r) => [
            r.name,
            String(r.lossPct),
            String(r.intervalMs),
            thousands(r.answered),
            r.seconds.toFixed(3),
          ]),
        ),
      );
    }

    if (ONLY.has("rate")) {
      const TARGETS = 1000;
      const nb = Math.ceil(RATE_COUNT / TARGETS);
      const rows: { family: 4 | 6; type: string; runs: number[]; cpu: number[]; answered: number[] }[] = [];
      for (const family of [4, 6] as const) {
        const dsts = addresses(lab, family, TARGETS);
        const src = family === 4 ? src4 : src6;
        const kinds: ProbeKind[] = ["TCPsyn", "ICMPping", "UDPunreachable"];
        const c = {
          family,
          type: "C rawref TCPsyn",
          runs: [] as number[],
          cpu: [] as number[],
          answered: [] as number[],
        };
        const es = kinds.map((k) => ({
          family,
          type: k,
          runs: [] as number[],
          cpu: [] as number[],
          answered: [] as number[],
        }));
        for (let k = 0; k < RUNS + 1; k++) {
          const ref = await runRawref({
            family,
            src,
            dst: dsts[0]!,
            targets: TARGETS,
            dstPort: CLOSED_PORT,
            sportLo: PORTS.C.lo,
            sportHi: PORTS.C.hi,
            count: nb * TARGETS,
            batch: 64,
            mode: "match",
          });
          if (k > 0) c.runs.push(ref.matched / ref.total_seconds);
          for (const [j, kind] of kinds.entries()) {
            const r = await engineRun([target(`${kind}-v${family}`, kind, family, dsts, nb, src)], family);
            if (k === 0) continue; // warm-up
            es[j]!.runs.push(r.pps);
            es[j]!.cpu.push(r.cpuUsPerProbe);
            es[j]!.answered.push(r.answered / r.probes);
            process.stderr.write(
              `rate IPv${family} ${kind}: ${thousands(r.pps)}/s, ${r.cpuUsPerProbe.toFixed(2)} µs CPU/probe\n`,
            );
          }
        }
        rows.push(c, ...es);
      }
      json.rate = rows;
      console.log(
        `\nMatched probes per second, ${thousands(nb * TARGETS)} probes to ${TARGETS} addresses (median of ${RUNS}):\n`,
      );
      console.log(
        markdownTable(
          ["family", "implementation", "matched /s", "÷ C TCPsyn", "answered", "CPU µs/probe"],
          rows.map((r) => {
            const cRow = rows.find((x) => x.family === r.family && x.type.startsWith("C"))!;
            const isC = r === cRow;
            return [
              `IPv${r.family}`,
              isC ? r.type : `engine ${r.type}`,
              thousands(median(r.runs)),
              isC ? "" : (median(r.runs) / median(cRow.runs)).toFixed(2),
              isC ? "" : `${(Math.min(...r.answered) * 100).toFixed(1)} %`,
              isC ? "" : median(r.cpu).toFixed(2),
            ];
          }),
        ),
      );
    }
  } finally {
    await lab.destroy();
  }
  const dir = resolve(repoRoot(), "build/bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, "scale.json"), `${JSON.stringify(json, null, 2)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
