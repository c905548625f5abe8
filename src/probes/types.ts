// The facts about each probe type, declared once: the config enum name, the packet it sends, its
// protocol number per family, its L4 header size, the tag it carries, its payload rules and its metric
// prefix. The config schema, the rules, the plan, the matcher and the metrics catalog look them up
// here instead of comparing type names or repeating header sizes, so adding a type is one row here,
// its key placement (kinds.ts) and its tests.
import type { ProbeProtocol } from "../packet/index.js";
import {
  ICMP_HEADER_LEN,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_HEADER_LEN,
  UDP_HEADER_LEN,
} from "../packet/layout.js";

/** The config's names of the probe types, in the order the original documented them. */
export const PROBE_KINDS = ["TCPsyn", "ICMPping", "UDPunreachable"] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

/** "none", every ICMP error ("any"), or only destination unreachable (ICMP type 3). */
export type AnsweringErrors = "none" | "any" | "unreachable";

export interface ProbeTypeFacts {
  /** The packet the codec builds (src/packet). */
  readonly protocol: ProbeProtocol;
  /** IP protocol / IPv6 next header, per family. */
  readonly ipProtocol: { readonly 4: number; readonly 6: number };
  /** Transport header bytes: the smallest IP payload the type sends (the original raised smaller sizes). */
  readonly l4Header: number;
  /** Bytes of matching key carried in the payload after the header (UDP's tag), 0 when none. */
  readonly tagBytes: number;
  /** The smallest IP payload per family that carries the tag; undefined: the header is enough. */
  readonly taggedPayload?: { readonly 4: number; readonly 6: number };
  /** The type has ports (TCP, UDP): dst_port is required; without, dst_port is ignored. */
  readonly hasPorts: boolean;
  /**
   * Part of the matching key lies in fields ECMP may hash (ICMP echo: the identifier; the checksum
   * covers it all): a trace probe copies those from a regular probe (src/engine/trace.ts).
   */
  readonly keyHashed: boolean;
  /**
   * Which ICMP errors from the destination answer a probe, per family, as the original's capture
   * filter let them in (docs/engine.md "Which replies answer"); from anything else, none ever does.
   */
  readonly answeringErrors: { readonly 4: AnsweringErrors; readonly 6: AnsweringErrors };
  /** A TCP SYN: answered by SYN-ACK/RST (a RST to a SYN with data acknowledges the data too). */
  readonly tcp: boolean;
  /** Prefix of the compat metrics (`<prefix>_sent_total`, ...). */
  readonly metricPrefix: string;
  /** Words for help texts. */
  readonly what: string;
  /** Name of the per-target port-mismatch compat counter, if the original had one. */
  readonly portMismatchMetric?: string;
}

const UDP_TAG_BYTES = 4;

export const PROBE_TYPE: { readonly [K in ProbeKind]: ProbeTypeFacts } = {
  TCPsyn: {
    protocol: "tcp-syn",
    ipProtocol: { 4: IPPROTO_TCP, 6: IPPROTO_TCP },
    l4Header: TCP_HEADER_LEN,
    tagBytes: 0,
    hasPorts: true,
    keyHashed: false,
    // The original captured only TCP for a SYN.
    answeringErrors: { 4: "none", 6: "none" },
    tcp: true,
    metricPrefix: "tcpsyn",
    what: "TCP SYN",
    portMismatchMetric: "tcpsyn_port_mismatch_count",
  },
  ICMPping: {
    protocol: "icmp-echo",
    ipProtocol: { 4: IPPROTO_ICMP, 6: IPPROTO_ICMPV6 },
    l4Header: ICMP_HEADER_LEN,
    tagBytes: 0,
    hasPorts: false,
    keyHashed: true,
    answeringErrors: { 4: "any", 6: "any" },
    tcp: false,
    metricPrefix: "icmp",
    what: "ICMP echo",
  },
  UDPunreachable: {
    protocol: "udp",
    ipProtocol: { 4: IPPROTO_UDP, 6: IPPROTO_UDP },
    l4Header: UDP_HEADER_LEN,
    tagBytes: UDP_TAG_BYTES,
    // Tagged by default; over IPv6 always (ICMPv6 errors quote the tag, IPv6 has no IP ID to fall back on).
    taggedPayload: { 4: UDP_HEADER_LEN + UDP_TAG_BYTES, 6: UDP_HEADER_LEN + UDP_TAG_BYTES },
    hasPorts: true,
    keyHashed: false,
    // IPv4: "icmp[0] == 3" in the original's filter; IPv6: any ICMPv6.
    answeringErrors: { 4: "unreachable", 6: "any" },
    tcp: false,
    metricPrefix: "udp_unreachable",
    what: "UDP",
    portMismatchMetric: "udp_unreachable_port_mismatch_count",
  },
};

/** Whether a config type name is a probe type (the config also accepts the original's "iperf"). */
export function isProbeKind(t: string): t is ProbeKind {
  return Object.hasOwn(PROBE_TYPE, t);
}

/** Bytes of TCP data in a SYN of IP payload `payloadSize` (0 for other types or the default size). */
export function tcpDataBytes(kind: ProbeKind, payloadSize: number | undefined): number {
  const f = PROBE_TYPE[kind];
  return f.tcp ? Math.max(0, (payloadSize ?? f.l4Header) - f.l4Header) : 0;
}

/** Whether a config type name is the TCP SYN probe (whose foreign ACKs the original counted per target). */
export function isTcp(t: string | undefined): boolean {
  return t !== undefined && isProbeKind(t) && PROBE_TYPE[t].tcp;
}
