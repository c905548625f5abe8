// Loading netprobify.yaml: read with positions (source.ts), validate each section with the schema
// (schema.ts) so that one bad target does not hide the problems of the others, run the cross-key rules
// (rules.ts) on what passed, and build the normalised Config the rest of netprobify uses. Every problem
// is collected; any error refuses the whole file with a ConfigError listing all of them.
import { dirname, resolve as resolvePath } from "node:path";
import type { z } from "zod";
import { ConfigError, type Diagnostic } from "../errors.js";
import { PROBE_TYPE } from "../probes/types.js";
import { addressCount, type Cidr, type Destination, type Family } from "../targets/destination.js";
import { adjustSection } from "./adjust.js";
import {
  type Drafts,
  effectiveSrc,
  effectiveSubnet,
  type GroupDraft,
  groupDraft,
  type TargetDraft,
  targetDraft,
} from "./drafts.js";
import { DEFAULT_MAX_PROBES } from "./plan-size.js";
import { L4_HEADER, RULES } from "./rules.js";
import {
  type GlobalInput,
  globalSchema,
  groupSchema,
  INVENTORY_TYPES,
  type InventoryInput,
  inventorySchemas,
  nameSchema,
  type ProbeType,
  TOP_LEVEL_KEYS,
  targetSchema,
} from "./schema.js";
import { describeValue, didYouMean, issuesToDiagnostics } from "./schema-issues.js";
import { applyShardIndexEnv } from "./shard-env.js";
import { type ConfigSource, dataSource, parseConfigSource, readConfigSource } from "./source.js";

export interface GroupConfig {
  name: string;
  /** Fixed source address per family (valid addresses only; an invalid one is unset, with a warning). */
  src_ipv4?: string;
  src_ipv6?: string;
  /** Source-address round robin subnets. */
  src_subnet_ipv4?: Cidr;
  src_subnet_ipv6?: Cidr;
  src_port_a: number;
  src_port_z: number;
  ip_payload_size?: number;
  dscp: number;
  permit_target_auto_register: boolean;
  /** Export per-flow series of this group's targets (docs/paths.md). */
  path_metrics: boolean;
}

export interface TargetConfig {
  name: string;
  description: string;
  type: ProbeType;
  destination: Destination;
  /** The destination as written in the file. */
  destination_text: string;
  address_family: Family;
  dont_fragment: boolean;
  is_subnet: boolean;
  dst_port?: number;
  nb_packets: number;
  /** As written on the target; the group's value applies otherwise (see payloadSize). */
  ip_payload_size?: number;
  threshold: { latency?: number; loss?: number };
  /** null: left empty in the file; the label is then "None", as the original exported it. */
  alert_level: "paging" | "paging_validation" | "sandbox" | "no_alert" | null;
  state?: "in production" | "validation";
  timeout: number;
  dns_update_interval: number;
  /** Groups the target belongs to, in config order; empty means disabled. */
  groups: string[];
  enabled: boolean;
  /** Addresses the destination stands for (1 for an IP or hostname). */
  address_count: number;
  /** Export this target's per-flow series (docs/paths.md). */
  path_metrics: boolean;
}

export interface Config {
  file: string;
  global: GlobalInput;
  groups: Map<string, GroupConfig>;
  targets: Map<string, TargetConfig>;
  /** Built-in inventories by name (top-level `inventories`). */
  inventories: Map<string, InventoryConfig>;
  /** Problems that did not refuse the file. */
  warnings: Diagnostic[];
  /** The document as parsed (plain data), e.g. to validate inventory targets against its groups. */
  raw: Record<string, unknown>;
}

/**
 * Reads and validates a configuration file (with NETPROBIFY_SHARD_INDEX applied, see shard-env.ts).
 * Throws ConfigError with every problem found.
 */
export async function loadConfig(file: string): Promise<Config> {
  let source: ConfigSource;
  try {
    source = await readConfigSource(file);
  } catch (err) {
    throw unexpected(file, err);
  }
  applyShardIndexEnv(source);
  return validate(source);
}

/**
 * Validates configuration given as data, e.g. inventory targets placed in a document (no positions).
 * The plan ceiling is not checked here: the daemon adds inventory targets to the file's plan one by
 * one and refuses those that would cross it, instead of refusing a whole inventory list.
 */
export function loadConfigData(file: string, data: unknown): Config {
  return validate(dataSource(file, data), DATA_SKIPS);
}

const DATA_SKIPS: ReadonlySet<string> = new Set(["plan-ceiling"]);

/** Validates configuration text (tests, reload from memory). Throws ConfigError. */
export function loadConfigText(file: string, text: string): Config {
  let source: ConfigSource;
  try {
    source = parseConfigSource(file, text);
  } catch (err) {
    throw unexpected(file, err);
  }
  return validate(source);
}

/**
 * Any error other than a ConfigError while reading or checking a file (a parser's own error, a stack
 * overflow a limit missed) still refuses the file: a reload keeps the running configuration and
 * `check` exits 65. The rule name marks it as a bug to report; the fuzz test fails on it.
 */
function unexpected(file: string, err: unknown): ConfigError {
  if (err instanceof ConfigError) return err;
  const message = `could not be checked (internal error, please report it): ${(err as Error)?.message ?? String(err)}`;
  return new ConfigError(file, [
    { severity: "error", path: [], message, rule: "internal", pos: { line: 1, col: 1 } },
  ]);
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

function validate(source: ConfigSource, skip?: ReadonlySet<string>): Config {
  try {
    return check(source, skip);
  } catch (err) {
    throw unexpected(source.file, err);
  }
}

function check(source: ConfigSource, skip?: ReadonlySet<string>): Config {
  const diags: Diagnostic[] = [...source.diagnostics];
  const fail = () => new ConfigError(source.file, sortDiagnostics(diags));
  // Unparseable files stop here; duplicate keys do not stop the other checks (the last one is used).
  if (source.data === undefined) throw fail();
  const data = source.data as Record<string, unknown>;

  for (const key of Object.keys(data)) {
    if ((TOP_LEVEL_KEYS as readonly string[]).includes(key)) continue;
    const hint = didYouMean(key, TOP_LEVEL_KEYS);
    diags.push(
      err(
        [key],
        `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`,
        "unknown-key",
        source.locateKey([key]),
      ),
    );
  }
  for (const key of ["global", "groups"] as const) {
    if (!(key in data))
      diags.push(
        err(
          [key],
          `required key missing (expected a map of ${key === "global" ? "global settings" : "groups"})`,
          "required-key",
          source.locateKey([]),
        ),
      );
  }

  const parse = <S extends z.ZodType>(
    schema: S,
    value: unknown,
    base: (string | number)[],
  ): z.output<S> | undefined => {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    diags.push(...issuesToDiagnostics(r.error.issues, schema, value, base, source));
    return undefined;
  };

  // What the original made of values our types refuse (an empty key, a negative interval), with a warning.
  const adjust = (kind: "global" | "groups" | "targets", value: unknown, base: (string | number)[]) => {
    const r = adjustSection(kind, value, base);
    for (const a of r.adjusted)
      diags.push({
        severity: "warning",
        path: a.path,
        message: a.message,
        rule: a.rule,
        pos: source.locate(a.path),
      });
    return r.value;
  };

  const global =
    "global" in data ? parse(globalSchema, adjust("global", data.global, ["global"]), ["global"]) : undefined;
  // Rules still run when global is broken; the global settings they read fall back to their defaults.
  const globalForRules =
    global ??
    ({ max_addresses_per_target: 65536, max_probes_per_iteration: DEFAULT_MAX_PROBES } as GlobalInput);

  const entries = (section: "groups" | "targets" | "inventories"): [string, unknown][] => {
    const v = data[section];
    if (v === undefined || v === null) return [];
    if (!isPlainMap(v)) {
      const what = `a map of ${section} by name`;
      diags.push(
        err([section], `expected ${what}, got ${describeValue(v)}`, "schema", source.locate([section])),
      );
      return [];
    }
    const out: [string, unknown][] = [];
    for (const [name, value] of Object.entries(v)) {
      if (!nameSchema.safeParse(name).success) {
        diags.push(
          err(
            [section, name],
            `invalid name: expected lowercase letters, digits, "_", "-" or "."`,
            "name-pattern",
            source.locateKey([section, name]),
          ),
        );
      }
      out.push([name, value]);
    }
    return out;
  };

  const groups = new Map<string, GroupDraft>();
  const invalidGroups = new Set<string>();
  for (const [name, value] of entries("groups")) {
    const g = parse(groupSchema, adjust("groups", value ?? {}, ["groups", name]), ["groups", name]);
    const given = (k: string) => isPlainMap(value) && value[k] !== undefined;
    if (g) groups.set(name, groupDraft(name, g, { a: given("src_port_a"), z: given("src_port_z") }));
    else invalidGroups.add(name);
  }
  const targets = new Map<string, TargetDraft>();
  for (const [name, value] of entries("targets")) {
    const tgt = parse(targetSchema, adjust("targets", value, ["targets", name]), ["targets", name]);
    if (tgt) targets.set(name, targetDraft(name, tgt, groups));
  }

  const inventories = new Map<string, InventoryInput>();
  for (const [name, value] of entries("inventories")) {
    // The type picks the schema, so that errors name the keys of that type (not a union's alternatives).
    const type = isPlainMap(value) ? value.type : undefined;
    if (type === "file" || type === "http") {
      const inv = parse(inventorySchemas[type], value, ["inventories", name]);
      if (inv) inventories.set(name, inv);
    } else if (!isPlainMap(value)) {
      const at = ["inventories", name];
      const msg = `expected a map of inventory settings, got ${describeValue(value)}`;
      diags.push(err(at, msg, "schema", source.locate(at)));
    } else if (!("type" in value)) {
      const at = ["inventories", name];
      diags.push(
        err(at, `required key type missing (expected "file" or "http")`, "schema", source.locateKey(at)),
      );
    } else {
      const at = ["inventories", name, "type"];
      const hint = typeof type === "string" ? didYouMean(type, INVENTORY_TYPES) : undefined;
      const msg = `expected "file" or "http", got ${describeValue(type)}${hint ? ` (did you mean "${hint}"?)` : ""}`;
      diags.push(err(at, msg, "schema", source.locate(at)));
    }
  }

  const drafts: Drafts = { global: globalForRules, groups, targets, invalidGroups, inventories };
  for (const rule of RULES) {
    if (skip?.has(rule.name)) continue;
    for (const f of rule.check(drafts)) {
      const pos = f.at === "key" ? source.locateKey(f.path) : source.locate(f.path);
      diags.push({ severity: rule.severity, path: f.path, message: f.message, rule: rule.name, pos });
    }
  }

  if (!global || diags.some((d) => d.severity === "error")) throw fail();
  return { ...build(source.file, global, drafts, sortDiagnostics(diags)), raw: data };
}

function err(path: (string | number)[], message: string, rule: string, pos: Diagnostic["pos"]): Diagnostic {
  return { severity: "error", path, message, rule, pos };
}

export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0),
  );
}

function build(file: string, global: GlobalInput, d: Drafts, warnings: Diagnostic[]): Omit<Config, "raw"> {
  const groups = new Map<string, GroupConfig>();
  for (const g of d.groups.values()) {
    const {
      src_ip: _alias,
      src_ipv4: _v4,
      src_ipv6: _v6,
      src_subnet_ipv4: _s4,
      src_subnet_ipv6: _s6,
      ...rest
    } = g.input;
    groups.set(g.name, {
      name: g.name,
      ...rest,
      src_ipv4: effectiveSrc(g, "ipv4"),
      src_ipv6: effectiveSrc(g, "ipv6"),
      src_subnet_ipv4: effectiveSubnet(g, "ipv4"),
      src_subnet_ipv6: effectiveSubnet(g, "ipv6"),
    });
  }
  const targets = new Map<string, TargetConfig>();
  for (const td of d.targets.values()) {
    const i = td.input;
    if (i.type === "iperf") continue; // warned by the iperf-unsupported rule
    if (!td.destination.ok) throw new Error("unreachable: destination errors refuse the file");
    targets.set(td.name, {
      name: td.name,
      description: i.description ?? td.name,
      type: i.type as ProbeType,
      destination: td.destination.value,
      destination_text: i.destination,
      address_family: td.family,
      dont_fragment: i.dont_fragment,
      is_subnet: i.is_subnet,
      dst_port: PROBE_TYPE[i.type].hasPorts ? i.dst_port : undefined,
      nb_packets: i.nb_packets,
      ip_payload_size: raisedPayload(i.ip_payload_size, i.type as ProbeType),
      threshold: { ...i.threshold },
      alert_level: i.alert_level,
      state: i.state,
      timeout: i.timeout,
      dns_update_interval: i.dns_update_interval ?? global.dns_update_interval,
      groups: td.membership.groups,
      enabled: td.membership.groups.length > 0,
      address_count: Number(addressCount(td.destination.value)),
      path_metrics: i.path_metrics,
    });
  }
  const dir = dirname(file);
  const inventories = new Map<string, InventoryConfig>();
  for (const [name, i] of d.inventories) inventories.set(name, resolveInventoryPaths(name, i, dir));
  return { file, global, groups, targets, inventories, warnings };
}

/** A built-in inventory with its file paths made absolute (they are relative to the configuration). */
export type InventoryConfig = InventoryInput & { name: string };

function resolveInventoryPaths(name: string, i: InventoryInput, dir: string): InventoryConfig {
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolvePath(dir, p));
  if (i.type === "file") return { ...i, name, path: abs(i.path)! };
  return {
    ...i,
    name,
    bearer_token_file: abs(i.bearer_token_file),
    ca_file: abs(i.ca_file),
    basic_auth: i.basic_auth && { ...i.basic_auth, password_file: abs(i.basic_auth.password_file) },
  };
}

/**
 * The IP payload size a target's packets have in a group, or undefined for the probe's minimum. A size
 * below the L4 header (0 included) is raised to it, as the original did (rule ip-payload-size-raised).
 */
export function payloadSize(target: TargetConfig, group: GroupConfig): number | undefined {
  return raisedPayload(target.ip_payload_size ?? group.ip_payload_size, target.type);
}

function raisedPayload(size: number | undefined, type: ProbeType): number | undefined {
  return size === undefined ? undefined : Math.max(size, L4_HEADER[type]);
}
