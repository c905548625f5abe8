// Generated artefacts of the configuration schema, kept in the repository so editors can validate
// netprobify.yaml (schema/netprobify.schema.json) and people can read every key (docs/configuration.md).
// `npm run gen:schema` rewrites both; a test fails when either is stale.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { RULES } from "./rules.js";
import {
  basicAuthSchema,
  configSchema,
  explicitGroupsSchema,
  fileInventorySchema,
  globalSchema,
  groupSchema,
  httpInventorySchema,
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
    "## Notes on compatibility keys",
    "",
    "- `nb_proc`: the original forked this many processes. This implementation probes from one event loop",
    "  (batched raw-socket I/O); the key is accepted and validated, and reserved as the upper bound of worker",
    "  threads should the engine use them.",
    "- `l3_raw_socket`: the original chose layer-3 raw sockets or AF_PACKET. This implementation always sends",
    "  through layer-3 raw sockets (IP header written by netprobify); the key is accepted for compatibility.",
    "- `src_ipv4`/`src_ipv6` that are not IP addresses are ignored with a warning (the original treated them",
    "  as unset); an address of the wrong family is an error.",
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(new URL(JSON_SCHEMA_PATH, `file://${REPO_ROOT}`), jsonSchemaText());
  writeFileSync(new URL(REFERENCE_PATH, `file://${REPO_ROOT}`), referenceText());
  console.log(`wrote ${JSON_SCHEMA_PATH} and ${REFERENCE_PATH}`);
}
