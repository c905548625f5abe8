// Runs iputils ping in the lab and parses its output, so lab tests can measure loss, RTT
// distributions, duplicates, reply order and ICMP errors with a tool independent of netprobify.

import { run } from "./exec.js";

export interface PingResult {
  transmitted: number;
  received: number;
  duplicates: number;
  errors: number;
  /** RTT of every reply line, in arrival order, in milliseconds (duplicates included). */
  rttsMs: number[];
  /** icmp_seq of every reply line, in arrival order. */
  seqs: number[];
  /** "From <addr> icmp_seq=N <message>" lines: ICMP errors received. */
  errorLines: { from: string; seq: number; message: string }[];
  output: string;
}

export interface PingOptions {
  ns?: string;
  count: number;
  /** Seconds between requests; below 0.2 needs root (we are root in the lab). */
  interval?: number;
  ttl?: number;
  /** Seconds to wait for the last reply. */
  wait?: number;
  v6?: boolean;
}

/** Pings `dst` and parses every reply and error line. Never throws for loss. */
export async function ping(dst: string, opts: PingOptions): Promise<PingResult> {
  const args = [opts.v6 || dst.includes(":") ? "-6" : "-4", "-n", "-c", String(opts.count)];
  args.push("-i", String(opts.interval ?? 0.01), "-W", String(opts.wait ?? 1));
  if (opts.ttl !== undefined) args.push("-t", String(opts.ttl));
  args.push(dst);
  const r = await run("ping", args, { ns: opts.ns, allowFail: true, timeoutMs: 120_000 });
  const out = r.stdout;
  const res: PingResult = {
    transmitted: 0,
    received: 0,
    duplicates: 0,
    errors: 0,
    rttsMs: [],
    seqs: [],
    errorLines: [],
    output: out + r.stderr,
  };
  for (const line of out.split("\n")) {
    const reply = /bytes from .* icmp_seq=(\d+) .*time=([\d.]+) ms/.exec(line);
    if (reply) {
      res.seqs.push(Number(reply[1]));
      res.rttsMs.push(Number(reply[2]));
      continue;
    }
    const err = /^From (\S+?):? icmp_seq=(\d+) (.*)$/.exec(line);
    if (err) res.errorLines.push({ from: err[1] ?? "", seq: Number(err[2]), message: err[3] ?? "" });
    const sum =
      /(\d+) packets transmitted, (\d+) received(?:, \+(\d+) duplicates)?(?:, \+(\d+) errors)?/.exec(line);
    if (sum) {
      res.transmitted = Number(sum[1]);
      res.received = Number(sum[2]);
      res.duplicates = Number(sum[3] ?? 0);
      res.errors = Number(sum[4] ?? 0);
    }
  }
  return res;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function stddev(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** Number of pairs (i < j) with xs[i] > xs[j]: 0 for an ordered sequence. */
export function inversions(xs: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    for (let j = i + 1; j < xs.length; j++) if ((xs[i] ?? 0) > (xs[j] ?? 0)) n++;
  }
  return n;
}
