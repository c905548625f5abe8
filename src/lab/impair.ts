// Control of the user-space impairment stage (impair/impair.c) and of nftables loss. The stage
// bridges the two veths of an "impair" namespace and delays, jitters, duplicates and reorders
// frames; its parameters change at run time through a line protocol on its stdin, so a test can
// switch impairments without rebuilding the topology.

import type { ChildProcess } from "node:child_process";
import { LabError, type ProcessSet, run } from "./exec.js";
import { helperBinary } from "./native.js";

/** One direction's impairment. Times in milliseconds, probabilities in percent. */
export interface Impairment {
  delayMs?: number;
  /** Uniform jitter: each packet's delay is delayMs ± jitterMs (never below 0). */
  jitterMs?: number;
  dupPct?: number;
  /** A reordered packet skips the delay and overtakes queued ones (needs delayMs > 0), as in netem. */
  reorderPct?: number;
  /** Loss inside the stage (nftables loss is the other way, see setLoss). */
  lossPct?: number;
}

/** "to" = test namespace -> target, "from" = target -> test namespace. */
export type Direction = "to" | "from" | "both";

export interface StageStats {
  queued: number;
  [key: string]: number;
}

/**
 * The stage runs SCHED_FIFO where allowed (root; not in a user namespace): on a busy machine a
 * normal process wakes up late for its timer, which adds its scheduling delay to every packet's
 * (measured: p50 RTT through 20 ms + 20 ms up to 1.4 ms high with two test suites running on two
 * cores). It sleeps in poll() between packets, so it takes no CPU from anyone when idle.
 */
export const STAGE_RT_PRIORITY = 10;
let rtAllowed: Promise<boolean> | undefined;
/** Whether `chrt -f` works here (root outside a user namespace); also for tests' own timed senders. */
export function realtime(): Promise<boolean> {
  rtAllowed ??= run("chrt", ["-f", String(STAGE_RT_PRIORITY), "true"], { allowFail: true }).then(
    (r) => r.code === 0,
    () => false,
  );
  return rtAllowed;
}

export class ImpairStage {
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(private readonly child: ChildProcess) {
    let buf = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w(line);
        else this.lines.push(line);
        nl = buf.indexOf("\n");
      }
    });
  }

  /** Starts the stage in `ns` bridging ifA (test side) and ifB (target side); resolves when ready. */
  static async start(procs: ProcessSet, ns: string, ifA: string, ifB: string): Promise<ImpairStage> {
    const bin = await helperBinary("impair");
    const child = (await realtime())
      ? procs.spawn(ns, "chrt", ["-f", String(STAGE_RT_PRIORITY), bin, ifA, ifB])
      : procs.spawn(ns, bin, [ifA, ifB]);
    const stage = new ImpairStage(child);
    const first = await stage.nextLine(10_000);
    if (first !== "ready") throw new LabError("LAB_IMPAIR", `impair stage did not start: ${first}`);
    return stage;
  }

  private nextLine(timeoutMs = 5000): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new LabError("LAB_IMPAIR", "impair stage did not answer"));
      }, timeoutMs);
      const onExit = () => {
        clearTimeout(timer);
        reject(new LabError("LAB_IMPAIR", "impair stage exited"));
      };
      const waiter = (line: string) => {
        clearTimeout(timer);
        this.child.off("exit", onExit);
        resolve(line);
      };
      this.waiters.push(waiter);
      this.child.once("exit", onExit);
    });
  }

  /** Sends one command and returns its answer line; commands are serialized. */
  private command(line: string): Promise<string> {
    const p = this.chain.then(() => {
      this.child.stdin?.write(`${line}\n`);
      return this.nextLine();
    });
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Replaces the impairment of one or both directions (unset fields become 0). */
  async set(direction: Direction, imp: Impairment): Promise<void> {
    const dir = direction === "to" ? "ab" : direction === "from" ? "ba" : "both";
    const kv = [
      `delay_us=${Math.round((imp.delayMs ?? 0) * 1000)}`,
      `jitter_us=${Math.round((imp.jitterMs ?? 0) * 1000)}`,
      `dup_pct=${imp.dupPct ?? 0}`,
      `reorder_pct=${imp.reorderPct ?? 0}`,
      `loss_pct=${imp.lossPct ?? 0}`,
    ];
    const answer = await this.command(`set ${dir} ${kv.join(" ")}`);
    if (answer !== "ok") throw new LabError("LAB_IMPAIR", `impair stage refused settings: ${answer}`);
  }

  /** Counters: to_rx, to_tx, to_dup, to_reordered, to_lost, ... and queued. */
  async stats(): Promise<StageStats> {
    const answer = await this.command("stats");
    const out: StageStats = { queued: 0 };
    for (const kv of answer.split(" ").slice(1)) {
      const [k, v] = kv.split("=");
      if (k === undefined || v === undefined) continue;
      out[k.replace(/^ab_/, "to_").replace(/^ba_/, "from_")] = Number(v);
    }
    return out;
  }
}

/**
 * Random loss with nftables in a target namespace: `numgen random mod 100 < N drop`, applied to
 * packets entering the target (direction "to"), leaving it ("from") or both. Neighbour discovery is
 * exempt so loss never breaks address resolution. pct 0 removes the rules.
 */
export async function setLoss(
  ns: string,
  pct: number,
  direction: Direction = "to",
  /** Only packets with these TCP/UDP source ports (e.g. some flows of an ECMP test); all when absent. */
  sports?: readonly number[],
): Promise<void> {
  if (!(pct >= 0 && pct <= 100)) throw new LabError("LAB_BAD_ARGUMENT", `loss must be 0..100, got ${pct}`);
  // Resolution of 0.01 %; 100 % is an unconditional drop (numgen's modulus bounds the value).
  const n = Math.round(pct * 100);
  const keepNd =
    "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept";
  const only = sports?.length ? `meta l4proto { tcp, udp } th sport { ${sports.join(", ")} } ` : "";
  const drop =
    n > 0 ? [keepNd, `${only}${n >= 10000 ? "" : `numgen random mod 10000 < ${n} `}counter drop`] : [];
  const chain = (name: string, hook: string, on: boolean) => [
    `  chain ${name} {`,
    `    type filter hook ${hook} priority -300; policy accept;`,
    ...(on ? drop.map((r) => `    ${r}`) : []),
    "  }",
  ];
  const rules = [
    "table inet netprobify_lab",
    "delete table inet netprobify_lab",
    "table inet netprobify_lab {",
    ...chain("to_target", "prerouting", direction !== "from"),
    ...chain("from_target", "output", direction !== "to"),
    "}",
  ];
  await run("nft", ["-f", "-"], { ns, input: `${rules.join("\n")}\n` });
}
