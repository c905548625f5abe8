// Runs lib/flood.py inside a lab namespace: foreign ICMP echo replies and TCP SYN-ACKs toward the
// prober (see the script). Used by the filter test and bench/flood.ts. The lab owns the process.
import { join } from "node:path";
import type { Lab } from "../../../src/lab/lab.js";
import { repoRoot } from "../../../src/lab/native.js";

export interface FloodDone {
  echo: number;
  synack: number;
  seconds: number;
}

export interface FloodSpec {
  ns: string;
  /** Source (a lab target's address) and destination (the prober's address), IPv4. */
  src: string;
  dst: string;
  /** The prober's source port range: the SYN-ACKs go to it. */
  ports: [number, number];
  /** Packets of each kind. */
  count: number;
  /** Packets per second in total; 0: as fast as the script can. */
  rate: number;
}

/** Starts the flood; the promise resolves with what was sent once it is over. */
export function flood(lab: Lab, s: FloodSpec): Promise<FloodDone> {
  const script = join(repoRoot(), "test/integration/lib/flood.py");
  const child = lab.spawn(s.ns, "python3", [
    script,
    s.src,
    s.dst,
    String(s.ports[0]),
    String(s.ports[1]),
    String(s.count),
    String(s.rate),
  ]);
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    child.once("exit", (code) => {
      if (code === 0) resolve(JSON.parse(out.trim()) as FloodDone);
      else reject(new Error(`flooder exited ${code}: ${err}`));
    });
  });
}
