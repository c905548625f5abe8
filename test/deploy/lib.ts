// Shared by the deployment tests (systemd unit, container): a configuration probing one lab target
// over TCP SYN (IPv4) and ICMP echo (IPv6), and the scrape that proves its probes were answered.
import type { Lab } from "../../src/lab/lab.js";
import { until, value } from "../integration/lib/scrape.js";

export const PROBES = 5;

/** A netprobify.yaml for the lab's target "web" (TCP port 443 open), served on `port`. */
export function labConfig(lab: Lab, port: number, extra = ""): string {
  const web = lab.target("web");
  return `global: {probe_name: deploy, interval: 2, nb_proc: 1, logging_level: INFO, prometheus_port: ${port}, dns_update_interval: 0}
groups: {standard: {src_port_a: 64200, src_port_z: 64209}}
targets:
  https: {type: TCPsyn, destination: "${web.v4}", dst_port: 443, nb_packets: ${PROBES}}
  ping6: {type: ICMPping, destination: "${web.v6}", nb_packets: ${PROBES}}
${extra}`;
}

const series = (metric: string, target: string, family: string) =>
  `${metric}{probe_name="deploy",destination="${target}",address_family="${family}",state="",group="standard"}`;

/** Waits for a full iteration of `labConfig` answered: every probe sent, none lost. */
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
