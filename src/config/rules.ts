// Checks that need more than one key, or the meaning of a string, beyond what the schema's types say.
// Each rule has a stable name (printed in docs/configuration.md, asserted in tests) and a severity:
// errors refuse the file, warnings are printed and the file loads. Rules only read drafts.
import type { Severity } from "../errors.js";
import { IPV4_HEADER_LEN } from "../packet/layout.js";
import { isProbeKind, PROBE_TYPE } from "../probes/types.js";
import { addressCount, formatCidr, isMultiAddress } from "../targets/destination.js";
import { type Drafts, portSpan, type TargetDraft } from "./drafts.js";
import { overCeilingMessage, type PlanShare, planShare } from "./plan-size.js";
import type { ProbeType } from "./schema.js";

export interface Finding {
  path: (string | number)[];
  message: string;
  /** Point at the key rather than the value (e.g. a missing companion key). */
  at?: "key" | "value";
}

export interface Rule {
  name: string;
  severity: Severity;
  summary: string;
  check(d: Drafts): Iterable<Finding>;
}

/** Transport header size, the smallest possible IP payload of each probe type. */
export const L4_HEADER: Record<ProbeType, number> = {
  TCPsyn: PROBE_TYPE.TCPsyn.l4Header,
  UDPunreachable: PROBE_TYPE.UDPunreachable.l4Header,
  ICMPping: PROBE_TYPE.ICMPping.l4Header,
};
/** Largest IP payload: the IPv4 total length (65535) less its 20-byte header; IPv6's payload length field. */
export const MAX_IP_PAYLOAD = { ipv4: 65535 - IPV4_HEADER_LEN, ipv6: 65535 } as const;

const t = (d: TargetDraft, key: string) => ["targets", d.name, key];

/** Over IPv6 a tagged type always carries its tag: smaller payload sizes are raised to fit it. */
function tagRaises(type: string, family: "ipv4" | "ipv6"): type is ProbeType {
  return family === "ipv6" && isProbeKind(type) && PROBE_TYPE[type].taggedPayload !== undefined;
}

/** A target that is probed: in a group and of a measured type. */
const probed = (td: TargetDraft) => td.membership.groups.length > 0 && td.input.type !== "iperf";

/** The ip_payload_size values a target's packets use: its own, else each group's, with their paths. */
function payloadSources(d: Drafts, td: TargetDraft): [number | undefined, (string | number)[]][] {
  const own = td.input.ip_payload_size;
  if (own !== undefined) return [[own, t(td, "ip_payload_size")]];
  return td.membership.groups.map((g) => [
    d.groups.get(g)?.input.ip_payload_size,
    ["groups", g, "ip_payload_size"],
  ]);
}

export const RULES: readonly Rule[] = [
  {
    name: "shard-index",
    severity: "error",
    summary: "global.shard.index must be below global.shard.count.",
    *check(d) {
      const sh = d.global.shard;
      if (sh && sh.index >= sh.count)
        yield { path: ["global", "shard", "index"], message: `expected 0..${sh.count - 1}, got ${sh.index}` };
    },
  },
  {
    name: "inventory-credentials",
    severity: "error",
    summary:
      "An http inventory gives one credential: bearer_token or bearer_token_file, or basic_auth with password or password_file.",
    *check(d) {
      for (const [name, i] of d.inventories) {
        if (i.type !== "http") continue;
        const at = (...k: string[]) => ["inventories", name, ...k];
        if (i.bearer_token !== undefined && i.bearer_token_file !== undefined)
          yield {
            path: at("bearer_token_file"),
            message: "give bearer_token or bearer_token_file, not both",
            at: "key",
          };
        if (i.basic_auth && (i.bearer_token !== undefined || i.bearer_token_file !== undefined))
          yield { path: at("basic_auth"), message: "give a bearer token or basic_auth, not both", at: "key" };
        const b = i.basic_auth;
        if (b && (b.password === undefined) === (b.password_file === undefined))
          yield {
            path: at("basic_auth"),
            message:
              b.password === undefined
                ? "password or password_file required"
                : "give password or password_file, not both",
            at: "key",
          };
      }
    },
  },
  {
    name: "inventory-timeout",
    severity: "warning",
    summary:
      "An http inventory's timeout longer than its interval: polls never overlap, so it polls less often than asked.",
    *check(d) {
      for (const [name, i] of d.inventories) {
        if (i.type === "http" && i.timeout > i.interval)
          yield {
            path: ["inventories", name, "timeout"],
            message: `${i.timeout} s is longer than the interval (${i.interval} s): a slow server is polled every ${i.timeout} s at most`,
          };
      }
    },
  },
  {
    name: "src-ip-deprecated",
    severity: "warning",
    summary: "groups.*.src_ip is the deprecated spelling of src_ipv4; it is accepted as src_ipv4.",
    *check(d) {
      for (const g of d.groups.values()) {
        if (g.input.src_ip !== undefined && g.input.src_ipv4 === undefined) {
          yield {
            path: ["groups", g.name, "src_ip"],
            message: "deprecated: use src_ipv4 (accepted as src_ipv4)",
            at: "key",
          };
        }
      }
    },
  },
  {
    name: "src-ip-conflict",
    severity: "warning",
    summary:
      "src_ip and src_ipv4 are the same setting: when a group gives both, src_ipv4 is used (as in the original).",
    *check(d) {
      for (const g of d.groups.values()) {
        if (g.input.src_ip !== undefined && g.input.src_ipv4 !== undefined) {
          yield {
            path: ["groups", g.name, "src_ip"],
            message: `both src_ip (deprecated) and src_ipv4 are set: src_ipv4 (${g.input.src_ipv4}) is used, src_ip is ignored`,
            at: "key",
          };
        }
      }
    },
  },
  {
    name: "src-address-invalid",
    severity: "warning",
    summary: "A source address that is not an IP address is ignored (treated as unset), as in the original.",
    *check(d) {
      for (const g of d.groups.values()) {
        for (const s of Object.values(g.src)) {
          if (!s.parsed) {
            yield {
              path: ["groups", g.name, s.key],
              message: `"${s.text}" is not an IP address: ignored, the kernel's route chooses the source`,
            };
          }
        }
      }
    },
  },
  {
    name: "src-address-family",
    severity: "warning",
    summary:
      "A src_ip/src_ipv4 holding an IPv6 address, or a src_ipv6 holding an IPv4 one, is ignored (treated as unset), as in the original.",
    *check(d) {
      for (const g of d.groups.values()) {
        for (const [family, s] of Object.entries(g.src)) {
          if (s.parsed && s.parsed.family !== family) {
            yield {
              path: ["groups", g.name, s.key],
              message: `"${s.text}" is an ${s.parsed.family === "ipv4" ? "IPv4" : "IPv6"} address, not an ${family === "ipv4" ? "IPv4" : "IPv6"} one: ignored, the kernel's route chooses the source`,
            };
          }
        }
      }
    },
  },
  {
    name: "src-subnet-family",
    severity: "error",
    summary: "src_subnet_ipv4 must be an IPv4 subnet and src_subnet_ipv6 an IPv6 one.",
    *check(d) {
      for (const g of d.groups.values()) {
        for (const [family, c] of Object.entries(g.subnet)) {
          if (c.ok && c.value.family !== family) {
            yield {
              path: ["groups", g.name, `src_subnet_${family}`],
              message: `expected an ${family === "ipv4" ? "IPv4" : "IPv6"} subnet, got "${formatCidr(c.value)}" (${c.value.family})`,
            };
          }
        }
      }
    },
  },
  {
    name: "src-subnet-invalid",
    severity: "error",
    summary: "src_subnet_ipv4/src_subnet_ipv6 must be CIDR subnets such as 198.18.0.0/28.",
    *check(d) {
      for (const g of d.groups.values()) {
        for (const [family, c] of Object.entries(g.subnet)) {
          const key = `src_subnet_${family}`;
          if (!c.ok)
            yield {
              path: ["groups", g.name, key],
              message: `expected a CIDR subnet such as ${family === "ipv4" ? "198.18.0.0/28" : "fd18::/124"}, got "${g.input[key as "src_subnet_ipv4"]}": ${c.error}`,
            };
        }
      }
    },
  },
  {
    name: "subnet-host-bits",
    severity: "warning",
    summary: "A subnet written with host bits set (198.18.0.5/24) is read as its network (198.18.0.0/24).",
    *check(d) {
      for (const g of d.groups.values()) {
        for (const [family, c] of Object.entries(g.subnet)) {
          if (c.ok && c.value.hostBitsSet)
            yield {
              path: ["groups", g.name, `src_subnet_${family}`],
              message: `host bits are set: read as ${formatCidr(c.value)}`,
            };
        }
      }
      for (const td of d.targets.values()) {
        const dst = td.destination;
        if (dst.ok && dst.value.kind === "cidr" && dst.value.hostBitsSet) {
          yield {
            path: t(td, "destination"),
            message: `host bits are set: read as ${formatCidr(dst.value)}`,
          };
        }
      }
    },
  },
  {
    name: "src-port-partial",
    severity: "warning",
    summary:
      "A group giving only one of src_port_a and src_port_z gets the original's default for the other (65000 and 65001).",
    *check(d) {
      for (const g of d.groups.values()) {
        const [given, missing] = g.givenPorts.a ? ["src_port_a", "src_port_z"] : ["src_port_z", "src_port_a"];
        if (g.givenPorts.a === g.givenPorts.z) continue;
        const { src_port_a: a, src_port_z: z } = g.input;
        const span = portSpan(a, z);
        const order = a > z ? `, starting at ${a} (the original's modulo of a negative width)` : "";
        yield {
          path: ["groups", g.name, given],
          message: `${missing} is not set: ${g.input[missing as "src_port_a"]} (the original's default) is used, so the source ports are ${span.lo}..${span.hi}${order}`,
        };
      }
    },
  },
  {
    name: "src-port-range",
    severity: "error",
    summary:
      "src_port_a equal to src_port_z + 1: the original divided by zero and never probed (both within 1..65535).",
    *check(d) {
      for (const g of d.groups.values()) {
        const { src_port_a: a, src_port_z: z } = g.input;
        if (a === z + 1)
          yield {
            path: ["groups", g.name, "src_port_a"],
            message: `src_port_a (${a}) is src_port_z (${z}) + 1: an empty range (write src_port_z: ${a} for one port)`,
          };
      }
    },
  },
  {
    name: "src-port-reversed",
    severity: "warning",
    summary:
      "src_port_a above src_port_z + 1: as in the original (whose round robin took the modulo of a negative width), the source ports cycle src_port_a, then src_port_z + 2 up to src_port_a - 1.",
    *check(d) {
      for (const g of d.groups.values()) {
        const { src_port_a: a, src_port_z: z } = g.input;
        if (a > z + 1 && g.givenPorts.a && g.givenPorts.z)
          yield {
            path: ["groups", g.name, "src_port_a"],
            message: `src_port_a (${a}) is greater than src_port_z (${z}): the source ports are ${z + 2}..${a}, starting at ${a}, as the original sent them`,
          };
      }
    },
  },
  {
    name: "src-port-overlap",
    severity: "warning",
    summary: "Two groups with overlapping source-port ranges would mix their results.",
    *check(d) {
      const groups = [...d.groups.values()].filter((g) => g.input.src_port_a !== g.input.src_port_z + 1);
      for (let i = 0; i < groups.length; i++) {
        for (let j = 0; j < i; j++) {
          const a = portSpan(groups[j]!.input.src_port_a, groups[j]!.input.src_port_z);
          const b = portSpan(groups[i]!.input.src_port_a, groups[i]!.input.src_port_z);
          if (a.lo <= b.hi && b.lo <= a.hi) {
            yield {
              path: ["groups", groups[i]!.name],
              message: `source ports ${b.lo}..${b.hi} overlap those of group "${groups[j]!.name}" (${a.lo}..${a.hi}): replies could be counted for the wrong group`,
              at: "key",
            };
          }
        }
      }
    },
  },
  {
    name: "destination-syntax",
    severity: "error",
    summary: "destination must be an IP address, a hostname, a CIDR subnet or an IPv4 range/wildcard.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (!td.destination.ok)
          yield {
            path: t(td, "destination"),
            message: `"${td.input.destination}" is ${td.destination.error}`,
          };
      }
    },
  },
  {
    name: "destination-too-large",
    severity: "error",
    summary:
      "A subnet or range of a probed target may expand to at most global.max_addresses_per_target addresses (default 65536).",
    *check(d) {
      const ceiling = BigInt(d.global.max_addresses_per_target);
      for (const td of d.targets.values()) {
        if (!td.destination.ok || !probed(td)) continue;
        const n = addressCount(td.destination.value);
        if (n > ceiling)
          yield {
            path: t(td, "destination"),
            message: `expands to ${n} addresses, more than the ceiling of ${ceiling} (global.max_addresses_per_target)`,
          };
      }
    },
  },
  {
    name: "disabled-too-large",
    severity: "warning",
    summary:
      "A target that is not probed (no group, or iperf) never fails on the size of its destination, as in the original: warned, never expanded.",
    *check(d) {
      const ceiling = BigInt(d.global.max_addresses_per_target);
      for (const td of d.targets.values()) {
        if (!td.destination.ok || probed(td)) continue;
        const n = addressCount(td.destination.value);
        if (n > ceiling)
          yield {
            path: t(td, "destination"),
            message: `expands to ${n} addresses, more than the ceiling of ${ceiling}: accepted because the target is not probed (it would be refused once in a group)`,
          };
      }
    },
  },
  {
    name: "plan-ceiling",
    severity: "error",
    summary:
      "The probes of one iteration (addresses × groups × nb_packets, summed) may be at most global.max_probes_per_iteration (default 5,000,000, about 750 MB).",
    *check(d) {
      const ceiling = d.global.max_probes_per_iteration;
      const shares: PlanShare[] = [];
      let total = 0;
      for (const td of d.targets.values()) {
        if (!td.destination.ok || td.input.type === "iperf") continue;
        const addresses = addressCount(td.destination.value);
        if (addresses > BigInt(d.global.max_addresses_per_target)) continue; // destination-too-large
        const s = planShare(td.name, Number(addresses), td.membership.groups.length, td.input.nb_packets);
        shares.push(s);
        total += s.probes;
      }
      if (total <= ceiling) return;
      const top = shares.reduce((a, b) => (b.probes > a.probes ? b : a));
      const td = d.targets.get(top.name)!;
      yield {
        path: t(td, td.input.nb_packets > 1 ? "nb_packets" : "destination"),
        message: overCeilingMessage(total, ceiling, shares),
      };
    },
  },
  {
    name: "address-family-mismatch",
    severity: "warning",
    summary:
      "address_family disagreeing with an IP-address destination: the target is never probed, as in the original (its resolution for that family failed; app_host_resolution_status 0).",
    *check(d) {
      for (const td of d.targets.values()) {
        const dst = td.destination;
        if (!dst.ok || dst.value.kind !== "ip" || td.input.address_family === undefined) continue;
        if (dst.value.family !== td.input.address_family) {
          yield {
            path: t(td, "address_family"),
            message: `is ${td.input.address_family} but destination "${td.input.destination}" is ${dst.value.family}: the target is never probed, as in the original`,
          };
        }
      }
    },
  },
  {
    name: "address-family-subnet-mismatch",
    severity: "error",
    summary: "address_family must agree with a subnet or range destination.",
    *check(d) {
      for (const td of d.targets.values()) {
        const dst = td.destination;
        if (!dst.ok || td.input.address_family === undefined) continue;
        if (dst.value.kind !== "cidr" && dst.value.kind !== "range") continue;
        if (dst.value.family !== td.input.address_family) {
          yield {
            path: t(td, "address_family"),
            message: `is ${td.input.address_family} but destination "${td.input.destination}" is ${dst.value.family}`,
          };
        }
      }
    },
  },
  {
    name: "is-subnet-implied",
    severity: "warning",
    summary: "A subnet or range destination is always probed address by address; say is_subnet: true.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (td.destination.ok && isMultiAddress(td.destination.value) && !td.input.is_subnet) {
          yield {
            path: t(td, "destination"),
            message: `stands for ${addressCount(td.destination.value)} addresses, all probed and aggregated under "${td.name}": set is_subnet: true to say so`,
          };
        }
      }
    },
  },
  {
    name: "dst-port-required",
    severity: "error",
    summary: "TCPsyn and UDPunreachable targets need dst_port.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (
          isProbeKind(td.input.type) &&
          PROBE_TYPE[td.input.type].hasPorts &&
          td.input.dst_port === undefined
        ) {
          yield { path: t(td, "dst_port"), message: `required for type ${td.input.type}`, at: "key" };
        }
      }
    },
  },
  {
    name: "dst-port-ignored",
    severity: "warning",
    summary: "dst_port means nothing for ICMPping; it is ignored.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (
          isProbeKind(td.input.type) &&
          !PROBE_TYPE[td.input.type].hasPorts &&
          td.input.dst_port !== undefined
        ) {
          yield { path: t(td, "dst_port"), message: "ignored: ICMPping has no ports", at: "key" };
        }
      }
    },
  },
  {
    name: "ip-payload-size-raised",
    severity: "warning",
    summary:
      "ip_payload_size (target, else group) below the probe's L4 header size, 0 or negative: raised to the header size, as in the original.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (td.input.type === "iperf") continue;
        // UDPunreachable over IPv6 is raised further, to 12 (udp-ipv6-tag says so).
        if (tagRaises(td.input.type, td.family)) continue;
        const min = L4_HEADER[td.input.type];
        for (const [size, path] of payloadSources(d, td)) {
          if (size !== undefined && size < min)
            yield {
              path,
              message: `${size} is below the ${td.input.type} header size: raised to ${min} for target "${td.name}"`,
            };
        }
      }
    },
  },
  {
    name: "ip-payload-size",
    severity: "error",
    summary: "ip_payload_size (target, else group) must fit in an IP packet.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (td.input.type === "iperf") continue;
        const max = MAX_IP_PAYLOAD[td.family];
        const bad = (size: number | undefined) => size !== undefined && size > max;
        const want = `an IP payload size of at most ${max} for ${td.input.type} over ${td.family}`;
        if (td.input.ip_payload_size !== undefined) {
          if (bad(td.input.ip_payload_size))
            yield {
              path: t(td, "ip_payload_size"),
              message: `expected ${want}, got ${td.input.ip_payload_size}`,
            };
          continue;
        }
        for (const gname of td.membership.groups) {
          const size = d.groups.get(gname)?.input.ip_payload_size;
          if (bad(size))
            yield {
              path: ["groups", gname, "ip_payload_size"],
              message: `expected ${want} (target "${td.name}" uses it), got ${size}`,
            };
        }
      }
    },
  },
  {
    name: "udp-ipv6-tag",
    severity: "warning",
    summary:
      "UDPunreachable over IPv6 sends at least 12 bytes of IP payload (a 4-byte tag identifies each probe in ICMPv6 errors); smaller sizes are raised.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (!tagRaises(td.input.type, td.family)) continue;
        const min = PROBE_TYPE[td.input.type].taggedPayload![6];
        for (const [size, path] of payloadSources(d, td)) {
          if (size !== undefined && size < min) {
            yield {
              path,
              message: `${size} is raised to 12 for UDPunreachable over IPv6 (target "${td.name}"): the probe's 4-byte tag is how ICMPv6 errors are matched`,
            };
          }
        }
      }
    },
  },
  {
    name: "threshold-negative",
    severity: "warning",
    summary:
      "A negative threshold is exported as written (the original did the same); no alert can use it as meant.",
    *check(d) {
      for (const td of d.targets.values()) {
        for (const [key, v] of Object.entries(td.input.threshold ?? {})) {
          if (typeof v === "number" && v < 0)
            yield { path: [...t(td, "threshold"), key], message: `${v} is negative: exported as it is` };
        }
      }
    },
  },
  {
    name: "iperf-unsupported",
    severity: "warning",
    summary: "iperf targets of the original load but are not measured: they are left out.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (td.input.type === "iperf")
          yield {
            path: t(td, "type"),
            message: "iperf targets are not measured by this implementation: target left out",
          };
      }
    },
  },
  {
    name: "unknown-group",
    severity: "warning",
    summary: "explicit_groups naming a group that does not exist: the name is ignored.",
    *check(d) {
      for (const td of d.targets.values()) {
        for (const p of td.membership.problems) {
          if (p.kind === "unknown-group" && !d.invalidGroups.has(p.group!))
            yield {
              path: [...t(td, "explicit_groups"), p.list!, p.index!],
              message: `no group named "${p.group}": ignored`,
            };
        }
      }
    },
  },
  {
    name: "target-without-group",
    severity: "warning",
    summary: "A target that ends up in no group is disabled.",
    *check(d) {
      for (const td of d.targets.values()) {
        if (td.membership.groups.length === 0 && d.invalidGroups.size === 0)
          yield { path: ["targets", td.name], message: "belongs to no group: disabled", at: "key" };
      }
    },
  },
];
