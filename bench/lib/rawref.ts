// The C reference prober (bench/ref/rawref.c) from TypeScript (and the other bench/ref/*.c helpers): compiled on demand with the system
// compiler into build/bench/ (named by a hash of its source, written under a temporary name and
// renamed, so a stale or half-written binary is never run), and run to completion with its one JSON
// line parsed. It runs in the caller's network namespace: inside the lab, like everything that sends.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { run } from "../../src/lab/exec.js";
import { repoRoot } from "../../src/lab/native.js";

/** What rawref prints (one JSON object). */
export interface RawrefResult {
  family: number;
  type: "tcp" | "icmp" | "udp";
  mode: "send" | "match";
  targets: number;
  count: number;
  failed: number;
  matched: number;
  send_seconds: number;
  send_pps: number;
  total_seconds: number;
  /** Time from the first send to the last match. */
  match_seconds: number;
  match_pps: number;
}

export interface RawrefArgs {
  family: 4 | 6;
  /** Probe type (default tcp: SYN). */
  type?: "tcp" | "icmp" | "udp";
  src: string;
  /** First destination; probe i goes to dst + (i % targets) in the last 16 bits. */
  dst?: string;
  targets?: number;
  /** Instead of dst/targets: a file with one "dst [src]" per line; probe i goes to line i % lines. */
  dstFile?: string;
  dstPort: number;
  sportLo: number;
  sportHi: number;
  count: number;
  batch: number;
  mode: "send" | "match";
  timeoutMs?: number;
  /** Run under bench/ref/rusage.c, which writes "wall user sys maxrss" (seconds, KiB) to this file. */
  rusageFile?: string;
}

const compiled = new Map<string, Promise<string>>();

/** Path of the compiled reference, building it (cc -O2 -pthread) if this source was never built. */
export function rawrefBinary(): Promise<string> {
  return refBinary("rawref");
}

/** Path of bench/ref/NAME.c compiled, building it if this source was never built. */
export function refBinary(name: string): Promise<string> {
  let p = compiled.get(name);
  if (!p) {
    p = compile(name);
    compiled.set(name, p);
  }
  return p;
}

async function compile(name: string): Promise<string> {
  const root = repoRoot();
  const src = resolve(root, `bench/ref/${name}.c`);
  const hash = createHash("sha256").update(readFileSync(src)).digest("hex").slice(0, 12);
  const dir = resolve(root, "build/bench");
  const out = join(dir, `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run("cc", ["-O2", "-pthread", "-Wall", "-o", tmp, src], { timeoutMs: 60_000 });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}

/** Runs the reference once and returns its result. */
export async function runRawref(a: RawrefArgs): Promise<RawrefResult> {
  const bin = await rawrefBinary();
  const dsts = a.dstFile
    ? [["--dst-file", a.dstFile]]
    : [
        ["--dst", a.dst ?? ""],
        ["--targets", a.targets ?? 1],
      ];
  const argv = [
    ["--family", a.family],
    ["--type", a.type ?? "tcp"],
    ["--src", a.src],
    ...dsts,
    ["--dst-port", a.dstPort],
    ["--sport-lo", a.sportLo],
    ["--sport-hi", a.sportHi],
    ["--count", a.count],
    ["--batch", a.batch],
    ["--mode", a.mode],
    ["--timeout-ms", a.timeoutMs ?? 1000],
  ].flatMap(([k, v]) => [String(k), String(v)]);
  const cmd = a.rusageFile ? [await refBinary("rusage"), a.rusageFile, bin] : [bin];
  const out = (await run(cmd[0]!, [...cmd.slice(1), ...argv], { timeoutMs: 120_000 })).stdout;
  const line = out.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as RawrefResult;
  } catch {
    throw new Error(`rawref printed no JSON: ${JSON.stringify(out)}`);
  }
}
