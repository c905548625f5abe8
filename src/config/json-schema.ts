// Generated artefacts of the configuration schema, kept in the repository so editors can validate
// netprobify.yaml (schema/netprobify.schema.json) and people can read every key (docs/configuration.md).
// `npm run gen:schema` rewrites both; a test fails when either is stale.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { EMPTY_KEYS, NEGATIVE_AS_ZERO } from "./adjust.js";
import { MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES } from "./limits.js";
import { DEFAULT_MAX_PROBES, MAX_MAX_PROBES, PROBE_BYTES } from "./plan-size.js";
import { RULES } from "./rules.js";
import {
  basicAuthSchema,
  configSchema,
  explicitGroupsSchema,
  fileInventorySchema,
  globalSchema,
  groupSchema,
  httpInventorySchema,
  MAX_SECONDS,
  targetSchema,
  thresholdSchema,
} from "./schema.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const JSON_SCHEMA_PATH = "schema/netprobify.schema.json";
export const REFERENCE_PATH = "docs/configuration.md";

export function jsonSchemaText(): string {
  const schema = z.toJSONSchema(configSchema, { io: "input", target: "draft-2020-12" }) as Record<
    string,
    unknown
  >;
  const out = {
    $schema: schema.$schema,
    $id: "https://netprobify.invalid/schema/netprobify.schema.json",
    title: "netprobify configuration",
    ...schema,
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

type Json = Record<string, unknown>;

function typeText(p: Json): string {
  if (Array.isArray(p.enum)) return p.enum.map((v) => JSON.stringify(v)).join(" \\| ");
  if (Array.isArray(p.anyOf)) return (p.anyOf as Json[]).map(typeText).join(" \\| ");
  if (p.const !== undefined) return JSON.stringify(p.const);
  if (p.type === "array") return `list of ${typeText((p.items ?? {}) as Json)}`;
  let t = String(p.type ?? "any");
  const max = p.maximum === Number.MAX_SAFE_INTEGER ? undefined : p.maximum;
  if (p.exclusiveMinimum !== undefined) t += ` > ${p.exclusiveMinimum}`;
  else if (p.minimum !== undefined && max !== undefined) t += ` ${p.minimum}..${max}`;
  else if (p.minimum !== undefined) t += ` >= ${p.minimum}`;
  if (p.pattern) t += ` \`${p.pattern}\``;
  return t;
}

function table(title: string, schema: z.ZodType, required: "schema" | "none" = "schema"): string {
  const js = z.toJSONSchema(schema, { io: "input" }) as Json;
  const props = (js.properties ?? {}) as Record<string, Json>;
  const req = new Set(required === "schema" ? ((js.required as string[]) ?? []) : []);
  const rows = Object.entries(props).map(([k, p]) => {
    const def =
      p.default !== undefined ? `\`${JSON.stringify(p.default)}\`` : req.has(k) ? "**required**" : "unset";
    return `| \`${k}\` | ${typeText(p)} | ${def} | ${String(p.description ?? "").replace(/\|/g, "\\|")} |`;
  });
  return [`## ${title}`, "", "| key | type | default | meaning |", "|---|---|---|---|", ...rows, ""].join(
    "\n",
  );
}

export function referenceText(): string {
  return [
    "# Configuration reference",
    "",
    "Generated from `src/config/schema.ts` by `npm run gen:schema`; do not edit by hand.",
    "Editors can validate files with `schema/netprobify.schema.json`",
    "(e.g. a first line `# yaml-language-server: $schema=<path>/schema/netprobify.schema.json`).",
    "",
    "The file is YAML 1.1, as read by the original netprobify (PyYAML): `yes`/`no`/`on`/`off` are booleans and",
    "`<<` merge keys work. Three top-level maps: `global` (required), `groups` (required), `targets` (optional);",
    "this implementation adds a fourth, `inventories` (optional): built-in dynamic inventories, see",
    "[inventories.md](inventories.md).",
    "Group and target names match `^[a-z0-9_\\-.]+$`. Unknown keys are errors.",
    "",
    table("global", globalSchema),
    table("groups.NAME", groupSchema),
    table("targets.NAME", targetSchema),
    table("targets.NAME.threshold", thresholdSchema),
    table("targets.NAME.explicit_groups", explicitGroupsSchema),
    table("inventories.NAME with type: file", fileInventorySchema),
    table("inventories.NAME with type: http", httpInventorySchema),
    table("inventories.NAME.basic_auth", basicAuthSchema),
    "## Rules beyond types",
    "",
    "Checked after the types; errors refuse the file (exit code 65), warnings are printed and the file loads.",
    "",
    "| rule | severity | what it checks |",
    "|---|---|---|",
    ...RULES.map((r) => `| \`${r.name}\` | ${r.severity} | ${r.summary} |`),
    "",
    "## Adjusted as the original did",
    "",
    "A file the original netprobify ran loads here too. Where it silently made something of a value, the",
    "same is done with a warning naming the rule, the line and the key (the rules above marked warning",
    "cover the rest: `ip-payload-size-raised`, `src-port-partial`, `src-port-reversed`, `src-ip-conflict`,",
    "`src-address-family`, `address-family-mismatch`, `disabled-too-large`, `threshold-negative`). Before",
    "the types are checked, an empty key (`key:` with no value) and a negative interval are replaced:",
    "",
    "| key | empty (`empty-value`) or negative (`negative-interval`) means |",
    "|---|---|",
    ...(["global", "groups", "targets"] as const).flatMap((kind) =>
      Object.entries(EMPTY_KEYS[kind]).map(
        ([key, m]) => `| \`${kind === "global" ? "global" : `${kind}.NAME`}.${key}\` empty | ${m.why} |`,
      ),
    ),
    ...(["global", "targets"] as const).flatMap((kind) =>
      Object.entries(NEGATIVE_AS_ZERO[kind]).map(
        ([key, why]) =>
          `| \`${kind === "global" ? "global" : `${kind}.NAME`}.${key}\` negative | 0: ${why} |`,
      ),
    ),
    "",
    "Other empty keys, and what the original crashed on, hung on or never measured with, stay refused:",
    "an empty `nb_packets`, `timeout`, `dst_port`, `dscp`, `src_port_a`/`src_port_z`, `explicit_groups`,",
    "`dns_update_interval`, `interval_packets`, `reload_conf_interval`, `prometheus_address`",
    "or `disable_dynamic_inventories`; ports outside 1..65535 and `src_port_a` = `src_port_z` + 1 (an empty",
    "range: the original divided by zero); `dscp` outside 0..63; `nb_packets` below 1; a timeout of 0 or",
    "less; a negative `interval_packets`; an `ip_payload_size` that does not fit in an IP packet; a bad",
    "CIDR or destination; a subnet of the wrong family (`address-family-subnet-mismatch`,",
    "`src-subnet-family`); a probed target over `max_addresses_per_target`.",
    "",
    "## Limits",
    "",
    "A file over a limit is refused like any invalid file (exit code 65 from `check` and at start-up; a",
    "reload keeps the running configuration and sets `app_reload_conf_failed_status` to 1), with the",
    "position where the limit was crossed and the rule name in brackets below. Reading limits are",
    "checked before a YAML parser builds anything, so an alias bomb or a deep nesting costs milliseconds.",
    "",
    "| limit | value | rule | why |",
    "|---|---|---|---|",
    `| file size | ${MAX_FILE_BYTES / 1024 / 1024} MiB | \`file-too-large\` | a 10,000-target file is about 1.4 MB; reading is bounded, so \`/dev/zero\` is refused too |`,
    `| nesting of maps and lists | ${MAX_DEPTH} levels | \`yaml-depth\` | a netprobify file nests 5; both YAML parsers recurse per level and overflowed the stack near 800 |`,
    `| values with aliases expanded | ${MAX_VALUES.toLocaleString("en-US")} | \`yaml-aliases\` (\`yaml-values\` without aliases) | a dozen lines of nested aliases stand for billions of values (an alias bomb); a 10,000-target file holds about 70,000 |`,
    `| probes per iteration | \`global.max_probes_per_iteration\`, default ${DEFAULT_MAX_PROBES.toLocaleString("en-US")}, at most ${MAX_MAX_PROBES.toLocaleString("en-US")} | \`plan-ceiling\` | every probe of an iteration is held in memory, about ${PROBE_BYTES} B each (docs/performance.md); the message gives the total, the memory it implies and the three biggest targets. Inventory targets that would cross it are left out (\`netprobify_inventory_targets_over_ceiling\`) |`,
    `| durations (intervals, timeouts) | ${MAX_SECONDS.toLocaleString("en-US")} s (24.8 days) | \`schema\` | a Node timer longer than 2^31-1 ms fires at once: a longer interval would spin |`,
    "",
    "Other YAML problems found before the data is used: an alias without an anchor before it",
    "(`yaml-alias`), a merge key `<<` whose value is not a map or a list of maps (`yaml-merge`). An",
    "unexpected error while checking a file (a bug) is reported as rule `internal` at line 1 and still",
    "refuses the file; please report it.",
    "",
    "## Notes on compatibility keys",
    "",
    "- `nb_proc`: the original forked this many processes. Here it is the number of send threads per family",
    "  (each with its own raw socket and TX timestamp numbering), capped at the number of cores; replies are",
    "  read by one thread per receive socket and matched on the event loop.",
    "- `l3_raw_socket`: the original chose layer-3 raw sockets or AF_PACKET. This implementation always sends",
    "  through layer-3 raw sockets (IP header written by netprobify); the key is accepted for compatibility.",
    "- `src_ipv4`/`src_ipv6` that are not IP addresses, or addresses of the other family, are ignored with a",
    "  warning (the original treated them as unset).",
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(new URL(JSON_SCHEMA_PATH, `file://${REPO_ROOT}`), jsonSchemaText());
  writeFileSync(new URL(REFERENCE_PATH, `file://${REPO_ROOT}`), referenceText());
  console.log(`wrote ${JSON_SCHEMA_PATH} and ${REFERENCE_PATH}`);
}
