// Files the original netprobify ran although they hold something it silently adjusted: each is a
// fixture (test/fixtures/config/adjusted/NAME.yaml) that must load, with the exact warnings it must
// produce (rule and line) and the values the run then uses, in NAME.expected:
//   {file}:line:col key.path: warning: message [rule]      one line per warning, as printed
//                                                           (none where the original adjusted nothing)
//   = what = value                                          an effective value (see `effective`)
// UPDATE_FIXTURES=1 writes missing .expected files for review; they are never overwritten silently.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { describe, test } from "node:test";
import { formatDiagnostic } from "../../src/config/format.js";
import { type Config, loadConfig, payloadSize } from "../../src/config/load.js";
import { portEnvelope } from "../../src/engine/from-config.js";
import { sourceFor } from "../../src/engine/plan.js";
import { resolveTarget } from "../../src/targets/resolve.js";
import { FIXTURES } from "../support/paths.js";

const DIR = `${FIXTURES}config/adjusted/`;

function show(v: unknown): string {
  if (v === undefined) return "unset";
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

/**
 * The value a run uses, by a small query language:
 *   global.KEY, groups.NAME.KEY, targets.NAME.KEY   a key of the loaded configuration
 *   payload(TARGET,GROUP)                           the IP payload size the target's packets carry there
 *   ports(GROUP,N)                                  the source ports of the group's first N packets
 *   envelope()                                      the source-port range the kernel filter lets in
 *   probed(TARGET)                                  the addresses probed, or the reason for none
 */
async function effective(config: Config, query: string): Promise<string> {
  const call = /^(\w+)\(([^)]*)\)$/.exec(query);
  if (call) {
    const [fn, args] = [call[1], call[2]!.split(",")];
    if (fn === "payload") {
      const t = config.targets.get(args[0]!)!;
      return show(payloadSize(t, config.groups.get(args[1]!)!));
    }
    if (fn === "ports") {
      const g = config.groups.get(args[0]!)!;
      const n = Number(args[1]);
      return show(Array.from({ length: n }, (_, k) => sourceFor(k, g.src_port_a, g.src_port_z, 1).port));
    }
    if (fn === "envelope") return show(portEnvelope(config));
    if (fn === "probed") {
      const t = config.targets.get(args[0]!)!;
      if (!t.enabled) return "nothing: disabled";
      const r = await resolveTarget(t, { ceiling: 65536, local: new Set() });
      return r.error ? `nothing: ${r.error}` : show(r.addresses);
    }
    throw new Error(`unknown query ${query}`);
  }
  const [section, ...rest] = query.split(".");
  let v: unknown =
    section === "global"
      ? config.global
      : section === "groups"
        ? config.groups.get(rest.shift()!)
        : config.targets.get(rest.shift()!);
  for (const k of rest) v = (v as Record<string, unknown> | undefined)?.[k];
  return show(v);
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("configurations the original ran, adjusted with a warning", () => {
  test("there are cases", () => assert.ok(cases.length >= 15, `only ${cases.length}`));

  for (const name of cases) {
    test(name, async () => {
      const config = await loadConfig(DIR + name);
      const warnings = config.warnings.map((d) => formatDiagnostic("{file}", d));
      const expectedFile = DIR + name.replace(/\.yaml$/, ".expected");
      if (!existsSync(expectedFile) && process.env.UPDATE_FIXTURES === "1")
        writeFileSync(expectedFile, `${warnings.join("\n")}\n`);
      assert.ok(existsSync(expectedFile), `missing ${expectedFile}; warnings:\n${warnings.join("\n")}`);
      const lines = readFileSync(expectedFile, "utf8").split("\n").filter(Boolean);
      const values = lines.filter((l) => l.startsWith("= "));
      assert.deepEqual(
        warnings,
        lines.filter((l) => !l.startsWith("= ")),
      );
      assert.ok(values.length > 0, `${expectedFile} states the effective values`);
      for (const line of values) {
        const [, query, want] = /^= (.+?) = (.*)$/.exec(line)!;
        assert.equal(await effective(config, query!), want, query);
      }
    });
  }
});
