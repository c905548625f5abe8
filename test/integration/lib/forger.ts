// Runs lib/forge.py (a python3 raw AF_PACKET forger) inside a lab namespace for the matching tests:
// it answers every probe to a configured destination with a forged reply of the configured kind,
// and reports how many it forged. The lab owns the process (killed on destroy, even on failure).
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Lab } from "../../../src/lab/lab.js";
import { repoRoot } from "../../../src/lab/native.js";

export type ForgeMode =
  | "tcp-ok"
  | "tcp-wrong-ack"
  | "tcp-wrong-src"
  | "tcp-wrong-port"
  | "tcp-outside-range"
  | "icmp-ok"
  | "icmp-wrong-id"
  | "icmp-wrong-src"
  | "udp-ok-full"
  | "udp-ok-short"
  | "udp-wrong-tag"
  | "udp-wrong-ipid"
  | "udp-wrong-dst"
  | "udp-outside-range";

export interface ForgerConfig {
  /** Probe destination address -> kind of forged reply. */
  modes: Record<string, ForgeMode>;
  /** The source used by the "wrong source" / "wrong quoted destination" kinds. */
  other4: string;
  other6: string;
}

export class Forger {
  private lines: string[] = [];
  private waiting: ((l: string) => void) | undefined;

  private constructor(private readonly child: ChildProcess) {
    let buf = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = this.waiting;
        this.waiting = undefined;
        if (w) w(line);
        else this.lines.push(line);
      }
    });
  }

  /** Starts the forger on `iface` in namespace `ns`; resolves when it listens. */
  static async start(lab: Lab, ns: string, iface: string, cfg: ForgerConfig): Promise<Forger> {
    const script = join(repoRoot(), "test/integration/lib/forge.py");
    const child = lab.spawn(ns, "python3", [script, iface, JSON.stringify(cfg)]);
    const f = new Forger(child);
    const first = await f.line();
    if (first !== "ready") throw new Error(`forger did not start: ${first}`);
    return f;
  }

  private line(timeoutMs = 10_000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      let err = "";
      this.child.stderr?.on("data", (d: Buffer) => {
        err += d.toString();
      });
      const timer = setTimeout(() => reject(new Error(`forger silent: ${err}`)), timeoutMs);
      this.child.once("exit", () => reject(new Error(`forger exited: ${err}`)));
      this.waiting = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  /** Forged replies so far, per kind. */
  async stats(): Promise<Partial<Record<ForgeMode, number>>> {
    this.child.stdin?.write("stats\n");
    return JSON.parse(await this.line());
  }

  stop(): void {
    this.child.stdin?.end();
  }
}
