// The real daemon probing targets across the lab's leaf–spine fabric, for the path tests: a config
// file with one IPv4 and one IPv6 target behind the fabric, the daemon as a child process with its
// log kept, and the /paths document typed as the tests read it.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Fabric } from "../../../src/lab/fabric.js";
import { BIN } from "../../support/paths.js";

export interface FabricDaemon {
  fabric: Fabric;
  daemon: ChildProcess;
  port: number;
  log: () => string;
  stop: () => Promise<void>;
}

export interface PathsDoc {
  enabled: boolean;
  incidents: {
    destination: string;
    phase: string;
    path_changes: number;
    distinct_paths: number;
    verdict: { kind: string; from?: string; to?: string | null } | null;
    flows: { src_port: number; hops: (string | null)[]; flagged: boolean }[];
  }[];
}

/**
 * Starts the daemon on `fabric`: target t4 (UDPunreachable, first IPv4 target address) and t6
 * (TCPsyn, second IPv6 one), group g over 32 source ports with `path_metrics: true` unless told
 * otherwise; `global` is added to the global section and `group` to group g.
 */
export function startDaemon(
  fabric: Fabric,
  port: number,
  global = "",
  group = ", path_metrics: true",
): FabricDaemon {
  const dir = mkdtempSync(join(tmpdir(), "npf-fabric-"));
  const file = join(dir, "netprobify.yaml");
  writeFileSync(
    file,
    `global: {probe_name: lab, interval: 0, nb_proc: 1, logging_level: INFO, prometheus_port: ${port}, prometheus_address: 127.0.0.1, dns_update_interval: 0${global}}
groups:
  g: {src_port_a: 30000, src_port_z: 30031${group}}
targets:
  t4: {type: UDPunreachable, destination: "${fabric.targets.v4(0)}", dst_port: 33434, nb_packets: 64, timeout: 0.3}
  t6: {type: TCPsyn, destination: "${fabric.targets.v6(1)}", dst_port: 443, nb_packets: 64, timeout: 0.3}
`,
  );
  const daemon = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  daemon.stdout!.on("data", (d) => {
    out += String(d);
  });
  daemon.stderr!.on("data", (d) => {
    out += String(d);
  });
  return {
    fabric,
    daemon,
    port,
    log: () => out,
    stop: async () => {
      daemon.kill("SIGKILL");
      await fabric.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function pathsDoc(port: number): Promise<PathsDoc> {
  return (await fetch(`http://127.0.0.1:${port}/paths`)).json() as Promise<PathsDoc>;
}

/** `probe_name, destination, group` labels of the daemon's series for target `d`. */
export const labels = (d: string) => `probe_name="lab",destination="${d}",group="g"`;

/** The suspect links exported for target `d` in one scrape. */
export function suspects(body: string, d: string): { from: string; to: string; loss: number }[] {
  return body
    .split("\n")
    .filter((l) => l.startsWith(`netprobify_path_suspect_link{${labels(d)}`))
    .map((l) => ({
      from: /from="([^"]+)"/.exec(l)![1]!,
      to: /to="([^"]+)"/.exec(l)![1]!,
      loss: Number(l.split(" ").pop()),
    }));
}
