// Cold first iterations for `npm run bench:daemon --once N`: `netprobify run --once --json` of a
// daemon row's configuration (bench/lib/daemon-run.ts) in a fresh process, with a given warm-up
// (NETPROBIFY_WARMUP), so that the first iteration's rate with and without it can be compared.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../../src/lab/native.js";
import { configYaml, type DaemonScenario } from "./daemon-run.js";
import type { BenchLab } from "./suite-lab.js";

/** One `netprobify run --once --json` of the daemon row's configuration: a first iteration, cold. */
export interface OnceRun {
  warmUp: number | undefined;
  sent: number;
  /** The iteration (start to last probe settled), and first to last probe leaving (kernel TX times), ms. */
  durationMs: number;
  sendMs: number | null;
  /** CPU of the iteration alone (engine.run), ms. */
  iterationCpuMs: number;
  /** Spawn to the iteration's start, ms (the warm-up is in it). */
  startMs: number;
}

/** Runs `netprobify run --once --json` on the same configuration as the daemon row. */
export async function runOnceCold(bl: BenchLab, s: DaemonScenario, dir: string): Promise<OnceRun> {
  const cfg = join(dir, "once.yaml");
  writeFileSync(cfg, configYaml(bl, s));
  const child = spawn(
    process.execPath,
    [join(repoRoot(), "bin/netprobify.js"), "run", "--once", "--json", cfg],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: s.warmUp === undefined ? process.env : { ...process.env, NETPROBIFY_WARMUP: String(s.warmUp) },
    },
  );
  const spawnedAt = Date.now();
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => {
    out += String(b);
  });
  child.stderr!.on("data", (b: Buffer) => {
    err = (err + String(b)).slice(-2000);
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  if (code !== 0) throw new Error(`run --once exited ${code}: ${err}`);
  const j = JSON.parse(out) as {
    sent: number;
    durationMs: number;
    sendMs: number | null;
    process: { iterationCpuMs: number; iterationStartedAtMs: number };
  };
  return {
    warmUp: s.warmUp,
    sent: j.sent,
    durationMs: j.durationMs,
    sendMs: j.sendMs,
    iterationCpuMs: j.process.iterationCpuMs,
    startMs: j.process.iterationStartedAtMs - spawnedAt,
  };
}
