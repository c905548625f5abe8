// `npm run bench:first-iteration`: what the first iterations of a fresh process cost, with and without
// the engine's warm-up (src/engine/warmup.ts), measured inside the process so that neither Node's
// start-up nor the machine's other load between processes enters: each trial is a fresh `node` (cold
// V8) that loads an ICMP configuration of lab addresses, opens the engine, warms it up with N probes
// (as many rounds as the daemon and `run --once`: WARM_UP_ROUNDS) or not, then runs the plan three times back to back and reports each iteration's CPU
// (process.cpuUsage, µs per probe) and duration. Settings alternate trial by trial; the table gives
// medians. Writes build/bench/first-iteration.json.
//
// Run: npm run bench:first-iteration [-- --sizes 500x4 --warmup 0,1024 --trials 5 --iterations 3]
//      [--profile DIR (each trial under node --cpu-prof, in DIR/warm-N/)]
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../src/config/load.js";
import { engineOptions } from "../src/engine/from-config.js";
import { openEngine, prepare } from "../src/engine/prober.js";
import { warmUp } from "../src/engine/warmup.js";
import { repoRoot } from "../src/lab/native.js";
import { intFlag, markdownTable, median, stringFlag } from "./lib/stats.js";
import { blocksFor, configYaml, createBenchLab } from "./lib/suite-lab.js";

const argv = process.argv.slice(2);

/** One trial, in a fresh process: `--child CONFIG WARMUP ITERATIONS` prints one JSON line. */
async function child(file: string, warm: number, iterations: number): Promise<void> {
  const config = await loadConfig(file);
  const { plan } = await prepare(config);
  const engine = openEngine(config);
  try {
    await new Promise((r) => setTimeout(r, 50));
    const w = await warmUp(plan, engineOptions(config), warm);
    const out: { ms: number; cpuUsPerProbe: number; lost: number }[] = [];
    for (let k = 0; k < iterations; k++) {
      const c0 = process.cpuUsage();
      const r = await engine.run(plan);
      const c = process.cpuUsage(c0);
      out.push({
        ms: r.durationMs,
        cpuUsPerProbe: (c.user + c.system) / plan.count,
        lost: r.series.reduce((n, s) => n + s.lost, 0),
      });
    }
    console.log(JSON.stringify({ warmUp: warm, warmUpMs: w.ms, probes: plan.count, iterations: out }));
  } finally {
    engine.close();
  }
}

interface Trial {
  warmUp: number;
  warmUpMs: number;
  probes: number;
  iterations: { ms: number; cpuUsPerProbe: number; lost: number }[];
}

async function main(): Promise<void> {
  const size = /^(\d+)x(\d+)$/.exec(stringFlag(argv, "sizes", "500x4"));
  if (!size) throw new Error("--sizes wants ADDRESSESxPACKETS");
  const warmUps = stringFlag(argv, "warmup", "0,1024").split(",").map(Number);
  const TRIALS = intFlag(argv, "trials", 5);
  const ITERATIONS = intFlag(argv, "iterations", 3);
  const OUT = resolve(stringFlag(argv, "out", join(repoRoot(), "build/bench")));
  const PROFILE = stringFlag(argv, "profile", "");
  const bl = await createBenchLab(Number(size[1]));
  const dir = mkdtempSync(join(tmpdir(), "netprobify-bench-first-"));
  const trials: Trial[] = [];
  try {
    const file = join(dir, "first.yaml");
    const blocks = blocksFor(bl, Number(size[1]), "ipv4");
    writeFileSync(
      file,
      configYaml({ type: "ICMPping", family: "ipv4", blocks, packets: Number(size[2]), timeout: 1 }),
    );
    const self = fileURLToPath(import.meta.url);
    for (let t = 0; t < TRIALS; t++)
      for (const w of warmUps) {
        const prof = PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${resolve(PROFILE, `warm-${w}`)}`] : [];
        const out = execFileSync(
          process.execPath,
          [...prof, self, "--child", file, String(w), String(ITERATIONS)],
          {
            encoding: "utf8",
            timeout: 120_000,
          },
        );
        trials.push(JSON.parse(out.trim().split("\n").pop()!) as Trial);
      }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await bl.lab.destroy();
  }
  const header = [
    "warm-up probes",
    "trials",
    "probes",
    "warm-up ms",
    ...Array.from({ length: ITERATIONS }, (_, k) => `iteration ${k + 1} CPU µs/probe`),
    ...Array.from({ length: ITERATIONS }, (_, k) => `iteration ${k + 1} ms`),
  ];
  const rows = warmUps.map((w) => {
    const ts = trials.filter((t) => t.warmUp === w);
    const col = (k: number, f: (x: Trial["iterations"][number]) => number) =>
      median(ts.map((t) => f(t.iterations[k]!))).toFixed(1);
    return [
      String(w),
      String(ts.length),
      String(ts[0]!.probes),
      median(ts.map((t) => t.warmUpMs)).toFixed(0),
      ...Array.from({ length: ITERATIONS }, (_, k) => col(k, (x) => x.cpuUsPerProbe)),
      ...Array.from({ length: ITERATIONS }, (_, k) => col(k, (x) => x.ms)),
    ];
  });
  console.log(markdownTable(header, rows));
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    join(OUT, "first-iteration.json"),
    `${JSON.stringify({ date: new Date().toISOString(), trials }, null, 2)}\n`,
  );
}

const c = argv.indexOf("--child");
(c >= 0 ? child(argv[c + 1]!, Number(argv[c + 2]), Number(argv[c + 3])) : main()).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
