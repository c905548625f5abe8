// The demo's network and what it does to it over time, in one place: the lab topology, the
// configuration that probes it, and the fault schedule. Three stories at once, IPv4 and IPv6, two
// groups of source ports: a datacenter (top-of-rack switches, UDPunreachable, one behind a lossy
// link), a WAN mesh (TCPsyn to a few datacenters, one far away with delay and jitter, one with a loss
// episode) and internet-like targets (TCPsyn, ICMPping, UDPunreachable behind a router with Linux's
// ICMP rate limits, one whose route turns unreachable). The test (test/cli/demo.test.ts) checks the
// measurements against the numbers declared here.
import { stringify } from "yaml";
import type { Lab, LabSpec } from "../lab/lab.js";

export const INTERVAL_S = 3;
/** The fault schedule repeats with this period (seconds since probing started). */
export const CYCLE_S = 45;
export const LOSSY_TOR_PCT = 10;
export const FAR_DELAY_MS = 20;
export const FAR_JITTER_MS = 2;
// Iterations start every INTERVAL_S seconds from 0 and last about a second (the probes' timeout):
// faults change in the quiet second before an iteration, so each iteration sees one state.
export const EPISODE = { fromS: 8, toS: 17, pct: 30 };
export const UNREACHABLE = { fromS: 11, toS: 35 };
const DEMO_PORTS = { dc: [61000, 61031], wan: [61100, 61131] } as const;

export type ProbeType = "TCPsyn" | "ICMPping" | "UDPunreachable";

export interface DemoTarget {
  name: string;
  story: "datacenter" | "wan" | "internet";
  type: ProbeType;
  family: 4 | 6;
  group: keyof typeof DEMO_PORTS;
  /** The lab target it probes. */
  lab: string;
  /** Probe the lab target's whole loopback range (the top-of-rack switches). */
  range?: boolean;
  dstPort?: number;
  nbPackets: number;
}

/** What the demo is doing to the network at `t` seconds after probing started. */
export interface Phase {
  episode: boolean;
  unreachable: boolean;
}

export function phaseAt(t: number): Phase {
  const c = ((t % CYCLE_S) + CYCLE_S) % CYCLE_S;
  return {
    episode: c >= EPISODE.fromS && c < EPISODE.toS,
    unreachable: c >= UNREACHABLE.fromS && c < UNREACHABLE.toS,
  };
}

// The router answers without ICMP rate limits (the DNS target keeps Linux's): the DNS target's
// rate-limited answers fall on the same flows every iteration, which opens a trace-on-loss incident,
// and its TTL-limited probes would draw on a rate-limited router's budget toward the prober and hide
// inet_gone's unreachables (docs/paths.md, Limits).
export const LAB_SPEC: LabSpec = {
  router: {},
  targets: [
    { name: "tor", rangeSize: 4 },
    { name: "torlossy" },
    { name: "dc2", tcpPorts: [443] },
    { name: "dc3", tcpPorts: [443] },
    {
      name: "dcfar",
      tcpPorts: [443],
      impair: {
        to: { delayMs: FAR_DELAY_MS, jitterMs: FAR_JITTER_MS },
        from: { delayMs: FAR_DELAY_MS },
      },
    },
    { name: "web", tcpPorts: [443] },
    { name: "dns", behindRouter: true, icmpRateLimit: "linux" },
    { name: "gone", behindRouter: true, tcpPorts: [443] },
  ],
};

const both = (t: Omit<DemoTarget, "family" | "name">, name: string): DemoTarget[] => [
  { ...t, name: `${name}_v4`, family: 4 },
  { ...t, name: `${name}_v6`, family: 6 },
];

export const TARGETS: DemoTarget[] = [
  ...both(
    {
      story: "datacenter",
      type: "UDPunreachable",
      group: "dc",
      lab: "tor",
      range: true,
      dstPort: 33434,
      nbPackets: 5,
    },
    "dc_tor",
  ),
  ...both(
    {
      story: "datacenter",
      type: "UDPunreachable",
      group: "dc",
      lab: "torlossy",
      dstPort: 33434,
      nbPackets: 50,
    },
    "dc_tor_lossy",
  ),
  ...both({ story: "wan", type: "TCPsyn", group: "wan", lab: "dc2", dstPort: 443, nbPackets: 10 }, "wan_dc2"),
  {
    story: "wan",
    type: "TCPsyn",
    group: "wan",
    lab: "dc3",
    dstPort: 443,
    nbPackets: 20,
    name: "wan_dc3_v4",
    family: 4,
  },
  ...both(
    { story: "wan", type: "TCPsyn", group: "wan", lab: "dcfar", dstPort: 443, nbPackets: 30 },
    "wan_far",
  ),
  ...both(
    { story: "internet", type: "TCPsyn", group: "dc", lab: "web", dstPort: 443, nbPackets: 5 },
    "inet_web",
  ),
  ...both({ story: "internet", type: "ICMPping", group: "dc", lab: "web", nbPackets: 5 }, "inet_ping"),
  {
    story: "internet",
    type: "UDPunreachable",
    group: "dc",
    lab: "dns",
    dstPort: 53,
    nbPackets: 10,
    name: "inet_dns_v4",
    family: 4,
  },
  ...both(
    { story: "internet", type: "TCPsyn", group: "dc", lab: "gone", dstPort: 443, nbPackets: 5 },
    "inet_gone",
  ),
];

/**
 * What the demo injects on a target's path: now, in a few characters for the live view's last
 * column; or (phase undefined) the whole schedule, for the --json summary.
 */
export function injected(t: DemoTarget, p?: Phase): string {
  switch (t.lab) {
    case "torlossy":
      return `${LOSSY_TOR_PCT}% loss`;
    case "dcfar":
      return p
        ? `${2 * FAR_DELAY_MS}ms±${FAR_JITTER_MS}ms`
        : `delay ${FAR_DELAY_MS}ms ±${FAR_JITTER_MS}ms there, ${FAR_DELAY_MS}ms back`;
    case "dc3":
      if (!p) return `${EPISODE.pct}% loss ${EPISODE.fromS}-${EPISODE.toS}s of every ${CYCLE_S}s`;
      return p.episode ? `${EPISODE.pct}% loss` : "";
    case "dns":
      return p ? "ICMP 1/s" : "Linux ICMP rate limits (about 1 error/s after a burst)";
    case "gone":
      if (!p) return `route unreachable ${UNREACHABLE.fromS}-${UNREACHABLE.toS}s of every ${CYCLE_S}s`;
      return p.unreachable ? "no route" : "";
    default:
      return p ? "" : "none";
  }
}

const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

/** One line for the view's header: what the demo does to the network now, or what comes next. */
export function hintAt(t: number): string {
  const cycle = Math.floor(t / CYCLE_S) * CYCLE_S;
  const c = t - cycle;
  const now: string[] = [];
  if (c >= EPISODE.fromS && c < EPISODE.toS)
    now.push(`loss episode on wan_dc3 until ${clock(cycle + EPISODE.toS)}`);
  if (c >= UNREACHABLE.fromS && c < UNREACHABLE.toS)
    now.push(`inet_gone unreachable until ${clock(cycle + UNREACHABLE.toS)}`);
  if (now.length > 0) return now.join("; ");
  const next = (at: number) => (c < at ? cycle + at : cycle + CYCLE_S + at);
  const ep = next(EPISODE.fromS);
  const un = next(UNREACHABLE.fromS);
  return ep <= un
    ? `next: loss episode on wan_dc3 at ${clock(ep)}`
    : `next: inet_gone unreachable at ${clock(un)}`;
}

function destination(lab: Lab, t: DemoTarget): string {
  const l = lab.target(t.lab);
  if (t.range) {
    const r = l.range!;
    return t.family === 4 ? r.v4Cidr : r.v6Cidr;
  }
  return t.family === 4 ? l.v4 : l.v6;
}

/** The netprobify.yaml that probes the demo's lab (also what --write-config saves). */
export function demoConfig(lab: Lab, metricsPort: number): string {
  const targets: Record<string, unknown> = {};
  for (const t of TARGETS) {
    targets[t.name] = {
      description: `demo ${t.story}: ${t.lab}`,
      type: t.type,
      destination: destination(lab, t),
      ...(t.range ? { is_subnet: true } : {}),
      ...(t.dstPort ? { dst_port: t.dstPort } : {}),
      nb_packets: t.nbPackets,
      timeout: 1,
      auto_register_to_groups: false,
      explicit_groups: { register_to: [t.group] },
    };
  }
  const groups: Record<string, unknown> = {};
  for (const [name, [a, z]] of Object.entries(DEMO_PORTS)) {
    groups[name] = {
      src_port_a: a,
      src_port_z: z,
      ...(name === "wan" ? { dscp: 34 } : {}),
      permit_target_auto_register: false,
    };
  }
  const doc = {
    global: {
      probe_name: "demo",
      interval: INTERVAL_S,
      nb_proc: 1,
      // Warnings (e.g. the unreachable target's ICMP errors) would scroll the live view away.
      logging_level: "ERROR",
      prometheus_address: "127.0.0.1",
      prometheus_port: metricsPort,
      dns_update_interval: 0,
      percentile: [50, 95],
    },
    groups,
    targets,
  };
  return [
    "# Generated by `netprobify demo`. The destinations are the demo's lab addresses (198.18.0.0/15,",
    "# fd18::/16), which exist only while the demo runs: replace them with your own targets.",
    "---",
    stringify(doc, { lineWidth: 0 }),
  ].join("\n");
}
