// `npm run bench:daemon`: the daemon row of `npm run bench` alone (bench/lib/daemon-run.ts): the real
// daemon probing both families of lab addresses for several iterations, its CPU per probe after the
// first iteration beside fping's (ICMP) or the C reference's (TCPsyn, UDP) for the same addresses and
// count (for ICMP the C reference's too: the floor of a send-thread + receive-thread design), and the
// first iteration's rate against the later ones'. Writes build/bench/daemon.json.
//
// Run: npm run bench:daemon [-- --only icmp,tcp,udp] [--sizes 500x20] [--iterations 30] [--timeout 1] [--interval 1]
//      [--warmup 0,default] [--node-flags "none|--single-threaded-gc" (flag sets for the daemon's node, compared)]
//      [--once N (N cold `run --once` per warm-up setting)] [--profile DIR (the daemon runs under node --cpu-prof, profiles written to DIR)] [--out DIR]
//      [--trace DIR (each daemon's stdout, e.g. --node-flags "--trace-opt --trace-deopt", to DIR/daemon-N.txt, marked by iteration)]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ProbeKind } from "../src/engine/plan.js";
import { repoRoot } from "../src/lab/native.js";
import { type OnceRun, runOnceCold } from "./lib/daemon-once.js";
import { daemonTable, onceTable } from "./lib/daemon-report.js";
import { type DaemonRow, daemonRow, THREAD_KINDS, type ThreadKind } from "./lib/daemon-run.js";
import { intFlag, stringFlag } from "./lib/stats.js";
import { createBenchLab } from "./lib/suite-lab.js";

const argv = process.argv.slice(2);
const TYPES: Record<string, ProbeKind> = { tcp: "TCPsyn", icmp: "ICMPping", udp: "UDPunreachable" };
const types = stringFlag(argv, "only", "icmp")
  .split(",")
  .map((t) => {
    const k = TYPES[t];
    if (!k) throw new Error(`--only: unknown ${t}`);
    return k;
  });
const sizes = stringFlag(argv, "sizes", "500x20")
  .split(",")
  .map((x) => {
    const m = /^(\d+)x(\d+)$/.exec(x.trim());
    if (!m) throw new Error(`--sizes wants ADDRESSESxPACKETS[,...], got ${x}`);
    return { targets: Number(m[1]), packets: Number(m[2]) };
  });
/**
 * 30 by default: V8's one-time work after start-up (the memory reducer's full collections about 8 s
 * after the first iteration's, the last compilations) fell inside 12 iterations of 1 s and read as
 * steady-state cost (docs/performance.md, the daemon's steady state again).
 */
const ITERATIONS = intFlag(argv, "iterations", 30);
/** Cold first iterations (`run --once`) per warm-up setting, alternated; 0: none. */
const ONCE = Number(stringFlag(argv, "once", "0"));
const TIMEOUT = Number(stringFlag(argv, "timeout", "1"));
const INTERVAL = Number(stringFlag(argv, "interval", "1"));
const PROFILE = stringFlag(argv, "profile", "");
/** Node flag sets to compare, alternated like the warm-ups: "|"-separated, each space-separated ("none": no flag). */
const FLAG_SETS = stringFlag(argv, "node-flags", "none")
  .split("|")
  .map((f) => (f.trim() === "none" ? [] : f.trim().split(/\s+/)));
/** Warm-up sample sizes to compare, e.g. "0,default" (0: none; default: the daemon's own). */
const WARMUPS = stringFlag(argv, "warmup", "default")
  .split(",")
  .map((w) => (w === "default" ? undefined : Number(w)));
/** --trace DIR: each daemon's stdout (V8's --trace-* output, see --node-flags) to DIR/daemon-N.txt, marked by iteration. */
const TRACE = stringFlag(argv, "trace", "");
const OUT = resolve(stringFlag(argv, "out", join(repoRoot(), "build/bench")));

async function main(): Promise<void> {
  const bl = await createBenchLab(Math.max(...sizes.map((s) => s.targets)));
  const dir = mkdtempSync(join(tmpdir(), "netprobify-bench-daemon-"));
  if (TRACE) mkdirSync(resolve(TRACE), { recursive: true });
  const rows: DaemonRow[] = [];
  const once: OnceRun[] = [];
  try {
    for (const size of sizes)
      for (const type of types)
        for (const warmUp of WARMUPS)
          for (const flags of FLAG_SETS) {
            const nodeFlags = [
              ...flags,
              ...(PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${resolve(PROFILE)}`] : []),
            ];
            const r = await daemonRow(
              bl,
              {
                type,
                ...size,
                iterations: ITERATIONS,
                timeout: TIMEOUT,
                interval: INTERVAL,
                nodeFlags,
                warmUp,
                ...(TRACE ? { traceFile: join(resolve(TRACE), `daemon-${rows.length + 1}.txt`) } : {}),
              },
              dir,
            );
            process.stderr.write(
              `${type} 2×${size.targets}×${size.packets}${flags.length ? ` (${flags.join(" ")})` : ""}: daemon ${r.daemonUsPerProbe.toFixed(2)} µs/probe, ` +
                `${r.ref?.tool} ${r.ref?.usPerProbe.toFixed(2)} µs/probe` +
                (r.floor ? `, C floor ${r.floor.usPerProbe.toFixed(2)} µs/probe` : "") +
                "; by thread (user/kernel µs/probe): " +
                THREAD_KINDS.map(
                  (k) =>
                    `${k} ${r.threadsUsPerProbe[k].user.toFixed(2)}/${r.threadsUsPerProbe[k].system.toFixed(2)}`,
                ).join(" ") +
                `; iterations ${r.iterations.map((i) => `${i.sent}/${i.ms}ms`).join(" ")}` +
                `; untimed answers ${r.iterations.map((i) => i.untimed).join(" ")}` +
                `; CPU ms per iteration, JS thread / V8 workers: ${r.iterations
                  .slice(1)
                  .map((i, k) => {
                    const p = r.iterations[k]!.threads;
                    const ms = (t: ThreadKind) =>
                      Math.round((i.threads[t].user + i.threads[t].system - p[t].user - p[t].system) * 1000);
                    return `${ms("main")}/${ms("startup")}`;
                  })
                  .join(" ")}\n`,
            );
            rows.push(r);
          }
    const size = sizes[0]!;
    for (let k = 0; k < ONCE; k++)
      for (const warmUp of WARMUPS)
        once.push(
          await runOnceCold(
            bl,
            { type: types[0]!, ...size, iterations: 1, timeout: TIMEOUT, interval: INTERVAL, warmUp },
            dir,
          ),
        );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await bl.lab.destroy();
  }
  const md = [daemonTable(rows), ...(once.length ? ["", onceTable(once)] : [])].join("\n");
  console.log(md);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(
    join(OUT, "daemon.json"),
    `${JSON.stringify({ date: new Date().toISOString(), rows, once }, null, 2)}\n`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
