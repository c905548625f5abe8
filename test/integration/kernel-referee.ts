// An exact wire referee for the engine's lab tests: nftables sets in the kernel record the key of
// every probe that reaches a target and of every answer that reaches the test namespace. tcpdump, the
// other referee, drops packets when it is not scheduled in time (on a loaded CI machine it missed 70
// of 60,000 probes leaving); a set is filled in the packet's own path, so it misses none. It gives
// keys, not times: the RTT comparisons still need a capture.
//
// Keys as the engine stamps them (and as wireProbes reads them from a capture): a SYN's sequence
// number (answered by SYN-ACK/RST acknowledging key + 1), an echo request's id << 16 | sequence, and
// a UDP probe's first 4 payload bytes (quoted in the ICMP error after an option-less IPv4 header or
// the fixed IPv6 header, and the UDP header).
import { run } from "../../src/lab/exec.js";
import type { Lab } from "../../src/lab/lab.js";

const TABLE = "netprobify_referee";
/** Room for the largest run a test makes (sets refuse elements beyond their size). */
const SET_SIZE = 1 << 20;

export interface KernelWire {
  /** Keys of the probes that arrived at the target. */
  left: Set<number>;
  /** Keys of the probes with at least one answer back in the test namespace. */
  answered: Set<number>;
}

export interface KernelReferee {
  /** Reads the sets and removes the tables. */
  stop(): Promise<KernelWire>;
}

// Each set: a name, its key type, and the rule that fills it (after the chain's own matches).
type SetRule = [name: string, typeOf: string, rule: string];

const PROBES: SetRule[] = [
  ["syn", "tcp sequence", "tcp flags & (syn | ack) == syn add @syn { tcp sequence }"],
  ["echo4", "icmp id . icmp sequence", "icmp type echo-request add @echo4 { icmp id . icmp sequence }"],
  [
    "echo6",
    "icmpv6 id . icmpv6 sequence",
    "icmpv6 type echo-request add @echo6 { icmpv6 id . icmpv6 sequence }",
  ],
  ["tag", "@th,64,32", "udp length >= 12 add @tag { @th,64,32 }"],
];

const ANSWERS: SetRule[] = [
  ["ack", "tcp ackseq", "tcp flags & (syn | rst) != 0 tcp flags & ack == ack add @ack { tcp ackseq }"],
  ["echo4", "icmp id . icmp sequence", "icmp type echo-reply add @echo4 { icmp id . icmp sequence }"],
  [
    "echo6",
    "icmpv6 id . icmpv6 sequence",
    "icmpv6 type echo-reply add @echo6 { icmpv6 id . icmpv6 sequence }",
  ],
  // Quoted IPv4 header without options (0x45) carrying UDP (protocol byte 9 of it).
  [
    "quoted4",
    "@th,288,32",
    "icmp type destination-unreachable @th,64,8 0x45 @th,136,8 17 add @quoted4 { @th,288,32 }",
  ],
  // Quoted IPv6 header whose next header (byte 6 of it) is UDP.
  ["quoted6", "@th,448,32", "icmpv6 type destination-unreachable @th,112,8 17 add @quoted6 { @th,448,32 }"],
];

/** The ruleset: one set per key kind, filled by a prerouting chain before any other (e.g. loss). */
function ruleset(sets: SetRule[], match: string): string {
  return [
    `table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    ...sets.map(([name, typeOf]) => `  set ${name} { typeof ${typeOf}; size ${SET_SIZE}; flags dynamic; }`),
    "  chain in {",
    "    type filter hook prerouting priority -400; policy accept;",
    ...sets.map(([, , rule]) => `    ${match}${rule}`),
    "  }",
    "}",
    "",
  ].join("\n");
}

interface NftSet {
  set?: { name: string; elem?: (number | { concat: number[] })[] };
}

/** Every set of the table as 32-bit keys (a pair id . sequence becomes id << 16 | sequence). */
async function readKeys(ns: string | undefined, sets: SetRule[], adjust: (set: string, k: number) => number) {
  const out = new Set<number>();
  for (const [name] of sets) {
    const r = await run("nft", ["-j", "list", "set", "inet", TABLE, name], { ns });
    const parsed = JSON.parse(r.stdout) as { nftables: NftSet[] };
    for (const item of parsed.nftables) {
      for (const e of item.set?.elem ?? []) {
        const k = typeof e === "number" ? e : ((e.concat[0]! << 16) | e.concat[1]!) >>> 0;
        out.add(adjust(name, k) >>> 0);
      }
    }
  }
  await run("nft", ["delete", "table", "inet", TABLE], { ns });
  return out;
}

/**
 * Starts recording probes arriving in `targetNs` (from the test namespace) and answers arriving in
 * the test namespace on `hostIf` (the target's link). Start it after any warm-up traffic.
 */
export async function kernelReferee(lab: Lab, targetNs: string, hostIf: string): Promise<KernelReferee> {
  await lab.exec(targetNs, "nft", ["-f", "-"], { input: ruleset(PROBES, "") });
  await lab.exec(undefined, "nft", ["-f", "-"], { input: ruleset(ANSWERS, `iifname "${hostIf}" `) });
  return {
    async stop() {
      const left = await readKeys(targetNs, PROBES, (_, k) => k);
      // A TCP answer acknowledges key + 1.
      const answered = await readKeys(undefined, ANSWERS, (set, k) => (set === "ack" ? k - 1 : k));
      return { left, answered };
    },
  };
}
