// The single source of truth for netprobify.yaml: every key with its type, default and meaning.
// The loader validates with it, docs/configuration.md and schema/netprobify.schema.json are generated
// from it, and error messages take their "expected ..." text from it. Rules that need more than one key
// at a time live in rules.ts. Compatibility with the original netprobify: docs/migration.md.
import { z } from "zod";
import { PROBE_KINDS } from "../probes/types.js";
import { DEFAULT_MAX_PROBES, MAX_MAX_PROBES } from "./plan-size.js";

export const NAME_PATTERN = /^[a-z0-9_\-.]+$/;

/**
 * Human text for what a schema accepts, used in "expected X, got Y" messages. Keyed by the schema's
 * definition object, which zod shares between a schema and the clones `.describe()` makes.
 */
const expectations = new WeakMap<object, string>();

function expect<T extends z.ZodType>(schema: T, expected: string): T {
  expectations.set(schema._zod.def, expected);
  return schema;
}

function range(min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return ` ${min}..${max}`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return "";
}

const int = (min?: number, max?: number) => {
  let s = z.number().int();
  if (min !== undefined) s = s.min(min);
  if (max !== undefined) s = s.max(max);
  return expect(s, `an integer${range(min, max)}`);
};

/**
 * Longest duration in seconds: a Node timer longer than 2^31-1 ms fires at once, so a longer interval
 * or timeout would turn into a busy loop (about 24.8 days).
 */
export const MAX_SECONDS = 2_147_483;

const seconds = (opts: { positive: boolean }) =>
  expect(
    (opts.positive ? z.number().positive() : z.number().min(0)).max(MAX_SECONDS),
    opts.positive ? `a number of seconds > 0 and <= ${MAX_SECONDS}` : `a number of seconds 0..${MAX_SECONDS}`,
  );
/** Whole seconds (intervals), bounded like `seconds`. */
const intSeconds = (min: number) => int(min, MAX_SECONDS);

const bool = () => expect(z.boolean(), "true or false");
const text = () => expect(z.string().min(1), "a non-empty string");
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  expect(z.enum(values), `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`);
export const nameSchema = expect(
  z.string().regex(NAME_PATTERN),
  'a name of lowercase letters, digits, "_", "-" or "."',
);
const list = <T extends z.ZodType>(item: T, what: string) => expect(z.array(item), `a list of ${what}`);

export const PROBE_TYPES = PROBE_KINDS;
/** The original also had "iperf" targets: still accepted so existing files load, but not measured. */
export const TARGET_TYPES = [...PROBE_TYPES, "iperf"] as const;
export const LOGGING_LEVELS = ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"] as const;
export const ALERT_LEVELS = ["paging", "paging_validation", "sandbox", "no_alert"] as const;
export const STATES = ["in production", "validation"] as const;

export const globalSchema = expect(
  z.strictObject({
    probe_name: nameSchema.describe("Value of the `probe_name` label on every metric."),
    interval: intSeconds(0).describe(
      "Seconds between the starts of two probing iterations; 0 runs them back to back, as the original did.",
    ),
    interval_packets: seconds({ positive: false })
      .default(0)
      .describe(
        "Minimum spacing in seconds between two packets sent to the same target, kept on the wire (to within 0.5 ms) even when the machine is busy: a stall of the sender delays what follows it (docs/engine.md).",
      ),
    nb_proc: int(1).describe(
      "Send threads per address family, each with its own raw socket, taking the probes' batches in turn (capped at the number of cores; a paced probe, with interval_packets or max_packets_per_second, sends through one per family, which keeps its schedule). Replies are read by one thread per receive socket and matched on the event loop. The original forked this many processes; 2 was best on a 2-core machine (docs/performance.md).",
    ),
    verbose: expect(z.union([z.literal(0), z.literal(1)]), "0 or 1")
      .default(0)
      .describe("1 logs every iteration's summary at INFO."),
    logging_level: oneOf(LOGGING_LEVELS).describe("Lowest level of log messages written."),
    prometheus_port: int(1, 65535).describe("TCP port of the /metrics HTTP listener."),
    prometheus_address: text().default("0.0.0.0").describe("Address the /metrics HTTP listener binds to."),
    dns_update_interval: intSeconds(0).describe(
      "Seconds between DNS re-resolutions of hostnames; 0 resolves once.",
    ),
    reload_conf_interval: intSeconds(0)
      .default(0)
      .describe("Seconds between automatic reloads of this file; 0 reloads only on SIGHUP."),
    l3_raw_socket: bool()
      .default(false)
      .describe("The original chose layer-3 raw sockets or AF_PACKET with it; accepted for compatibility."),
    timeout: seconds({ positive: true })
      .default(3600)
      .describe("Hard limit in seconds on one target's probing within an iteration."),
    percentile: list(int(1, 100), "integers 1..100")
      .default([95, 50])
      .describe("Percentiles of the round-trip time exported as `*_round_trip_seconds{percentile}`."),
    history_retention: intSeconds(60)
      .default(86400)
      .describe(
        "New: seconds of per-iteration history (sent, lost, RTT quantiles, ICMP errors per target × group) kept in memory for the status page and /api/v1: retention / interval iterations, at most 17,280, 24 bytes each per target × group (docs/status-page.md).",
      ),
    rtt_histogram: bool()
      .default(false)
      .describe(
        "New: export `netprobify_rtt_seconds`, a histogram of every RTT per target × group (one series per bucket: mind the cardinality).",
      ),
    rtt_histogram_buckets: list(seconds({ positive: true }), "bucket upper bounds in seconds")
      .default([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])
      .describe(
        "New: upper bounds (seconds, increasing) of the `netprobify_rtt_seconds` buckets; +Inf is added.",
      ),
    disable_dynamic_inventories: list(text(), "inventory module names")
      .default([])
      .describe("Dynamic inventory modules not to start."),
    max_packets_per_second: int(1)
      .optional()
      .describe(
        "New in this implementation: cap on the packets per second the whole probe sends (token bucket, one send batch of burst), kept on the wire: any window of w seconds holds at most 64 + cap × (w + 0.0005) packets, even when the machine is busy (docs/engine.md). Unset: no cap beyond interval_packets.",
      ),
    path_tracing: bool()
      .default(true)
      .describe(
        "New: trace-on-loss (docs/paths.md): when a target × group shows an ECMP anomaly, trace its lossy and as many healthy flows with their own 5-tuple, TTL by TTL, and name the link that drops. false turns it off.",
      ),
    trace_on_loss: oneOf(["anomaly", "any"])
      .default("anomaly")
      .describe(
        'New: what opens a trace incident: "anomaly" (flows significantly lossier than the target\'s others) or "any" (any loss on any flow).',
      ),
    path_tracing_budget: int(1, 20_000)
      .default(19_200)
      .describe("New: extra (trace) probes one incident may send, retraces included."),
    path_tracing_packets_per_second: int(1, 100_000)
      .default(1000)
      .describe(
        "New: trace probes sent per second, all incidents together (routers rate-limit their ICMP errors).",
      ),
    path_tracing_max_incidents: int(1, 64)
      .default(4)
      .describe("New: trace incidents open at once; further anomalies wait for a free one."),
    dynamic_inventories_dir: text()
      .optional()
      .describe(
        "New: directory of dynamic inventory modules (relative to this file). Default: dynamic_inventories/ beside it.",
      ),
    dynamic_inventories_python: text()
      .default("python3")
      .describe(
        "New: Python interpreter running the original's Python dynamic inventory modules (.py), a command looked up in PATH or a path, e.g. /usr/bin/python3 for Debian's python3-yaml; read at start-up.",
      ),
    dynamic_inventories_memory_mb: int(128, 1_048_576)
      .default(256)
      .describe(
        "New: memory limit of each dynamic inventory's process, in MiB (the kernel's RLIMIT_DATA: heap, Buffers, stacks; its JavaScript heap gets half). A module reaching it dies, is counted as a crash and restarted; read at start-up.",
      ),
    shard: expect(
      z.strictObject({
        index: int(0).describe("This instance's index, 0-based."),
        count: int(1).describe("Number of instances sharing the inventories."),
      }),
      "a map with index and count",
    )
      .optional()
      .describe(
        "New: keep only this instance's share of inventory targets (rendezvous hashing; see docs/inventories.md).",
      ),
    max_addresses_per_target: int(1)
      .default(65536)
      .describe("New in this implementation: the most addresses one target's subnet or range may expand to."),
    path_metrics_max_flows: int(1, 65536)
      .default(64)
      .describe(
        "New: the most flows per target × group whose netprobify_path_flow_* series are exported where path_metrics is on (the worst by loss first); the others' series are removed.",
      ),
    max_probes_per_iteration: int(1, MAX_MAX_PROBES)
      .default(DEFAULT_MAX_PROBES)
      .describe(
        "New in this implementation: the most probes one iteration may hold (addresses × groups × nb_packets over all targets, inventories included); each costs about 150 B of memory.",
      ),
  }),
  "a map of global settings",
);

export const groupSchema = expect(
  z.strictObject({
    src_ip: text().optional().describe("Deprecated alias of src_ipv4."),
    src_ipv4: text()
      .optional()
      .describe("Source IPv4 address of the group's packets; an invalid address is ignored."),
    src_ipv6: text()
      .optional()
      .describe("Source IPv6 address of the group's packets; an invalid address is ignored."),
    src_subnet_ipv4: text()
      .optional()
      .describe("IPv4 CIDR: source addresses cycle round robin over its hosts."),
    src_subnet_ipv6: text()
      .optional()
      .describe("IPv6 CIDR: source addresses cycle round robin over its hosts."),
    src_ip_round_robin: bool()
      .optional()
      .describe(
        "The original's switch for the source-subnet round robin; false turns it off. Unset: on when a subnet is given.",
      ),
    src_port_a: int(1, 65535).default(65000).describe("First source port (inclusive) of the round robin."),
    src_port_z: int(1, 65535).default(65001).describe("Last source port (inclusive) of the round robin."),
    ip_payload_size: int(undefined, 65535)
      .optional()
      .describe(
        "IP payload size in bytes (L4 header + data) of the group's packets; below the L4 header size it is raised to it.",
      ),
    dscp: int(0, 63)
      .default(0)
      .describe("DSCP of every packet of the group (IPv4 TOS = dscp << 2; IPv6 traffic class)."),
    permit_target_auto_register: bool()
      .default(true)
      .describe("Targets with auto_register_to_groups join this group automatically."),
    path_metrics: bool()
      .default(false)
      .describe(
        "New: export per-flow series (netprobify_path_flow_*) of every target in this group, at most global.path_metrics_max_flows flows per target, worst first (docs/paths.md).",
      ),
  }),
  "a map of group settings",
);

export const thresholdSchema = expect(
  z.strictObject({
    latency: expect(z.number().max(MAX_SECONDS), `a number of seconds <= ${MAX_SECONDS}`)
      .optional()
      .describe("Latency threshold in seconds (exported as written, even negative, as in the original)."),
    loss: expect(z.number(), "a number")
      .optional()
      .describe("Loss threshold (ratio or percent, as your rules use it)."),
  }),
  "a map with latency and/or loss",
);

export const explicitGroupsSchema = expect(
  z.strictObject({
    register_to: list(text(), "group names").default([]).describe("Groups the target is added to."),
    exclude_from: list(text(), "group names").default([]).describe("Groups the target is removed from."),
  }),
  "a map with register_to and/or exclude_from",
);

export const iperfSchema = expect(
  z.strictObject({
    duration: int(1).optional().describe("Test duration in seconds."),
    protocol: oneOf(["udp", "tcp"]).optional().describe("Transport protocol."),
    bandwidth: expect(z.string().regex(/^[0-9]+[kmgKMG]$/), 'a bandwidth such as "10M"')
      .optional()
      .describe("Target bandwidth."),
    num_streams: int(1).optional().describe("Parallel client streams."),
  }),
  "a map of iperf parameters",
);

export const targetSchema = expect(
  z.strictObject({
    description: expect(z.string(), "a string")
      .optional()
      .describe("Free text; defaults to the target's name."),
    type: oneOf(TARGET_TYPES).describe(
      "Probe type (iperf: accepted for compatibility, not measured: the target is disabled).",
    ),
    destination: text().describe(
      "IP address, hostname, CIDR subnet, or IPv4 range/wildcard such as 198.18.*.1-5.",
    ),
    address_family: oneOf(["ipv4", "ipv6"]).optional().describe("Detected from an IP literal, else ipv4."),
    dont_fragment: bool().default(true).describe("Set the IPv4 DF bit."),
    is_subnet: bool()
      .default(false)
      .describe("Probe every address of the subnet/range, aggregated under the target name."),
    dst_port: int(1, 65535).optional().describe("Destination port (TCPsyn, UDPunreachable)."),
    nb_packets: int(1).default(1).describe("Packets sent per group per iteration."),
    ip_payload_size: int(undefined, 65535)
      .optional()
      .describe("Overrides the group's ip_payload_size; below the L4 header size it is raised to it."),
    threshold: thresholdSchema.optional().describe("Exposed as the `threshold` gauge."),
    alert_level: oneOf(ALERT_LEVELS)
      .nullable()
      .default("no_alert")
      .describe('Label `alert_level` of the threshold gauge (left empty: "None", as the original).'),
    state: oneOf(STATES).optional().describe("Label `state` of the target's metrics."),
    timeout: seconds({ positive: true }).default(1).describe("Seconds to wait for a probe's reply."),
    dns_update_interval: intSeconds(0)
      .optional()
      .describe("Overrides global.dns_update_interval for this target."),
    auto_register_to_groups: bool()
      .default(true)
      .describe("Join every group that permits auto-registration."),
    iperf_parameters: iperfSchema
      .optional()
      .describe("Parameters of the original's iperf targets; accepted, not used."),
    explicit_groups: explicitGroupsSchema
      .optional()
      .describe("Explicit additions to and removals from groups."),
    path_metrics: bool()
      .default(false)
      .describe(
        "New: export this target's per-flow series (netprobify_path_flow_*) in every group, at most global.path_metrics_max_flows flows, worst first (docs/paths.md).",
      ),
  }),
  "a map of target settings",
);

const secret = (what: string) =>
  text()
    .optional()
    .describe(`${what} itself (prefer the _file variant: the file can be readable by netprobify alone).`);

/** Built-in inventory reading a YAML or JSON list of targets from a file, re-read when it changes. */
export const fileInventorySchema = expect(
  z.strictObject({
    type: z.literal("file").describe('"file"'),
    path: text().describe(
      "The YAML or JSON file (relative to this file): a list of entries, or a map with `targets:` holding one.",
    ),
    interval: seconds({ positive: true })
      .default(10)
      .describe(
        "Seconds between checks of the file's size and modification time (edits are also picked up at once through inotify).",
      ),
  }),
  "a map with type: file and path",
);

export const basicAuthSchema = expect(
  z.strictObject({
    username: text().describe("User name."),
    password: secret("Password"),
    password_file: text()
      .optional()
      .describe("File holding the password (trailing newline ignored; relative to this file)."),
  }),
  "a map with username and password or password_file",
);

/** Built-in inventory polling an HTTP(S) URL that returns the list as JSON. */
export const httpInventorySchema = expect(
  z.strictObject({
    type: z.literal("http").describe('"http"'),
    url: expect(z.string().regex(/^https?:\/\/[^\s/]+/), "an http:// or https:// URL").describe(
      "URL returning a JSON list of entries (or a map with `targets:` holding one).",
    ),
    interval: seconds({ positive: true }).default(60).describe("Seconds between two polls."),
    timeout: seconds({ positive: true })
      .default(10)
      .describe(
        "Seconds a poll may take (connection, headers and body); a slower one fails and the last good list stays.",
      ),
    bearer_token: secret("Bearer token sent as `Authorization: Bearer ...`"),
    bearer_token_file: text()
      .optional()
      .describe("File holding the bearer token (trailing newline ignored; relative to this file)."),
    basic_auth: basicAuthSchema.optional().describe("HTTP basic authentication."),
    headers: expect(z.record(z.string(), z.string()), "a map of header names to strings")
      .optional()
      .describe("Extra request headers."),
    ca_file: text().optional().describe("PEM file of the CA(s) that sign the server's certificate (https)."),
  }),
  "a map with type: http and url",
);

export const INVENTORY_TYPES = ["file", "http"] as const;
export const inventorySchema = z.discriminatedUnion("type", [fileInventorySchema, httpInventorySchema]);
export const inventorySchemas = { file: fileInventorySchema, http: httpInventorySchema } as const;

const nullableMap = <T extends z.ZodType>(value: T, what: string) =>
  expect(z.record(nameSchema, value).nullable(), what);

/** The whole file. The loader validates section by section with the same pieces (to report every problem). */
export const configSchema = z
  .strictObject({
    global: globalSchema.describe("Settings of the whole probe."),
    groups: nullableMap(groupSchema, "a map of groups by name").describe("Groups by name."),
    targets: nullableMap(targetSchema, "a map of targets by name").optional().describe("Targets by name."),
    inventories: nullableMap(inventorySchema, "a map of inventories by name")
      .optional()
      .describe("New: built-in dynamic inventories by name (docs/inventories.md)."),
  })
  .describe("netprobify configuration file");

export const TOP_LEVEL_KEYS = ["global", "groups", "targets", "inventories"] as const;

export type GlobalInput = z.output<typeof globalSchema>;
export type GroupInput = z.output<typeof groupSchema>;
export type TargetInput = z.output<typeof targetSchema>;
export type FileInventoryInput = z.output<typeof fileInventorySchema>;
export type HttpInventoryInput = z.output<typeof httpInventorySchema>;
export type InventoryInput = FileInventoryInput | HttpInventoryInput;
export type ProbeType = (typeof PROBE_TYPES)[number];

/** Walks a schema along a key path (through optional, default, nullable, record, array wrappers). */
export function schemaAt(schema: z.ZodType, path: readonly (string | number)[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = schema;
  for (const seg of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(seg)];
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return undefined;
    if (!s) return undefined;
  }
  return s;
}

export function unwrap(s: z.ZodType): z.ZodType {
  let cur = s;
  for (;;) {
    if (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable || cur instanceof z.ZodDefault) {
      cur = cur.unwrap() as z.ZodType;
    } else return cur;
  }
}

/** The "expected ..." text of the schema at a path, or undefined when none is registered. */
export function expectedAt(schema: z.ZodType, path: readonly (string | number)[]): string | undefined {
  const s = schemaAt(schema, path);
  if (!s) return undefined;
  return expectations.get(s._zod.def) ?? expectations.get(unwrap(s)._zod.def);
}

/** The keys an object schema at a path allows (for "did you mean"). */
export function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  const s = schemaAt(schema, path);
  const u = s && unwrap(s);
  return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
}
