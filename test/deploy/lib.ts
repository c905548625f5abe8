// Shared by the deployment tests (systemd unit, container): a configuration directory, as
// /etc/netprobify would hold it, probing one lab target over TCP SYN (IPv4) and ICMP echo (IPv6) and
// taking one more target from a built-in `file` inventory (a child process: setpriv, prlimit, node,
// a unix socketpair); and the scrapes that prove probes were answered, reloads and inventories seen.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab } from "../../src/lab/lab.js";
import { until, value } from "../integration/lib/scrape.js";

export const PROBES = 5;

/** A netprobify.yaml for the lab's target "web" (TCP port 443 open), served on `port`. */
function labConfig(lab: Lab, port: number, moreTargets: string): string {
  const web = lab.target("web");
  return `global: {probe_name: deploy, interval: 2, nb_proc: 1, logging_level: INFO, prometheus_port: ${port}, dns_update_interval: 0}
groups: {standard: {src_port_a: 64200, src_port_z: 64209}}
targets:
  https: {type: TCPsyn, destination: "${web.v4}", dst_port: 443, nb_packets: ${PROBES}}
  ping6: {type: ICMPping, destination: "${web.v6}", nb_packets: ${PROBES}}
${moreTargets}inventories:
  extra: {type: file, path: extra-targets.yaml}
`;
}

/**
 * Writes `dir` (mode 0755, files 0644, readable by the daemon's user): netprobify.yaml and the
 * inventory's extra-targets.yaml. With `added`, the configuration has one more target, "added".
 */
export function writeConfigDir(dir: string, lab: Lab, port: number, added = false): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const web = lab.target("web").v4;
  const more = added ? `  added: {type: TCPsyn, destination: "${web}", dst_port: 443, nb_packets: 2}\n` : "";
  writeFileSync(join(dir, "netprobify.yaml"), labConfig(lab, port, more), { mode: 0o644 });
  writeFileSync(join(dir, "extra-targets.yaml"), `- {hostname: "${web}", type: ICMPping, nb_packets: 2}\n`, {
    mode: 0o644,
  });
}

const series = (metric: string, target: string, family: string) =>
  `${metric}{probe_name="deploy",destination="${target}",address_family="${family}",state="None",group="standard"}`;

/** Waits for a full iteration of the configuration answered: every probe sent, none lost. */
export async function probesAnswered(port: number, context: () => string, ms = 20_000): Promise<string> {
  const want = [
    ["tcpsyn", "https", "ipv4"],
    ["icmp", "ping6", "ipv6"],
  ] as const;
  return until(
    "every probe sent and answered",
    (body) =>
      want.every(
        ([m, t, f]) =>
          (value(body, series(`${m}_sent_total`, t, f)) ?? 0) >= PROBES &&
          value(body, series(`${m}_loss_total`, t, f)) === 0,
      ),
    { port, ms, relevant: /_(sent|loss)_total/, context },
  );
}

/** Waits until the target "added" (writeConfigDir's `added`) has been probed: the reload took. */
export const addedProbed = (port: number, context: () => string) =>
  until(
    "the reloaded configuration's new target probed",
    (b) => /^tcpsyn_sent_total\{[^}]*destination="added"[^}]*\} [1-9]/m.test(b),
    { port, ms: 20_000, context },
  );

/** Waits until the file inventory's target has been probed. */
export const inventoryProbed = (port: number, context: () => string) =>
  until(
    "the file inventory's target probed",
    (b) => /^icmp_sent_total\{[^}]*destination="extra_[^}]*\} [1-9]/m.test(b),
    { port, ms: 30_000, context, relevant: /extra|inventory/ },
  );
