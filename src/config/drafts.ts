// The configuration between "each section passed the schema" and "every rule passed": inputs with
// defaults applied, plus what was parsed out of their strings (addresses, subnets, destinations,
// group membership). Rules (rules.ts) only read drafts; the loader turns clean drafts into the final
// Config. Keeping parse results here means a string is parsed once, and a rule never re-derives state.

import {
  type Cidr,
  type Destination,
  destinationFamily,
  type Family,
  type ParseResult,
  parseCidr,
  parseDestination,
  parseIp,
} from "../targets/destination.js";
import { type Membership, membershipOf } from "./membership.js";
import type { GlobalInput, GroupInput, InventoryInput, TargetInput } from "./schema.js";

export interface SrcAddress {
  /** The key it was written under (src_ip is the deprecated alias of src_ipv4). */
  key: "src_ip" | "src_ipv4" | "src_ipv6";
  text: string;
  parsed: ReturnType<typeof parseIp>;
}

export interface GroupDraft {
  name: string;
  input: GroupInput;
  src: Partial<Record<Family, SrcAddress>>;
  subnet: Partial<Record<Family, ParseResult<Cidr>>>;
  /** Which of src_port_a and src_port_z the file gives (the other takes the original's default). */
  givenPorts: { a: boolean; z: boolean };
}

export interface TargetDraft {
  name: string;
  input: TargetInput;
  destination: ParseResult<Destination>;
  /** address_family as written, else detected from an IP literal/subnet, else ipv4. */
  family: Family;
  membership: Membership;
}

export interface Drafts {
  global: GlobalInput;
  groups: Map<string, GroupDraft>;
  targets: Map<string, TargetDraft>;
  /** Groups present in the file but refused by the schema: membership involving them is unknown. */
  invalidGroups: Set<string>;
  /** Built-in inventories (top-level `inventories`) that passed the schema. */
  inventories: Map<string, InventoryInput>;
}

export function groupDraft(
  name: string,
  input: GroupInput,
  givenPorts: GroupDraft["givenPorts"] = { a: true, z: true },
): GroupDraft {
  const src: GroupDraft["src"] = {};
  const v4Key = input.src_ipv4 !== undefined ? "src_ipv4" : input.src_ip !== undefined ? "src_ip" : undefined;
  if (v4Key) src.ipv4 = srcAddress(v4Key, input[v4Key] as string);
  if (input.src_ipv6 !== undefined) src.ipv6 = srcAddress("src_ipv6", input.src_ipv6);
  const subnet: GroupDraft["subnet"] = {};
  if (input.src_subnet_ipv4 !== undefined) subnet.ipv4 = parseCidr(input.src_subnet_ipv4);
  if (input.src_subnet_ipv6 !== undefined) subnet.ipv6 = parseCidr(input.src_subnet_ipv6);
  return { name, input, src, subnet, givenPorts };
}

function srcAddress(key: SrcAddress["key"], text: string): SrcAddress {
  return { key, text, parsed: parseIp(text.trim()) };
}

export function targetDraft(
  name: string,
  input: TargetInput,
  groups: ReadonlyMap<string, GroupDraft>,
): TargetDraft {
  const destination = parseDestination(input.destination);
  const detected = destination.ok ? destinationFamily(destination.value) : undefined;
  const membership = membershipOf(
    {
      auto_register_to_groups: input.auto_register_to_groups,
      register_to: input.explicit_groups?.register_to ?? [],
      exclude_from: input.explicit_groups?.exclude_from ?? [],
    },
    new Map([...groups].map(([n, g]) => [n, g.input])),
  );
  return { name, input, destination, family: input.address_family ?? detected ?? "ipv4", membership };
}

/** The source address a group uses for a family: only a valid address of that family counts. */
export function effectiveSrc(g: GroupDraft, family: Family): string | undefined {
  const s = g.src[family];
  return s?.parsed && s.parsed.family === family ? s.text.trim() : undefined;
}

/** The source subnet a group uses for a family, when valid and of that family. */
export function effectiveSubnet(g: GroupDraft, family: Family): Cidr | undefined {
  if (g.input.src_ip_round_robin === false) return undefined;
  const s = g.subnet[family];
  return s?.ok && s.value.family === family ? s.value : undefined;
}

/**
 * The source ports a group's round robin uses. The original computed `a + n % (z - a + 1)` with
 * Python's modulo, so a range written backwards (a > z + 1) cycled a, z + 2, ..., a - 1: the ports
 * z + 2..a. The engine's sourceFor does the same arithmetic.
 */
export function portSpan(a: number, z: number): { lo: number; hi: number } {
  return a <= z ? { lo: a, hi: z } : { lo: z + 2, hi: a };
}
