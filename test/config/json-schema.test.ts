// The committed JSON Schema and configuration reference must match the schema in the code, and the
// JSON Schema must actually accept the valid fixtures' structure (checked with a small walker of the
// keywords the file uses, so a regression in generation is caught without another validator).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parse } from "yaml";
import {
  JSON_SCHEMA_PATH,
  jsonSchemaText,
  REFERENCE_PATH,
  referenceText,
} from "../../src/config/json-schema.js";
import { FIXTURES, REPO } from "../support/paths.js";

describe("generated schema artefacts", () => {
  test(`${JSON_SCHEMA_PATH} is up to date (run npm run gen:schema)`, () => {
    assert.equal(readFileSync(REPO + JSON_SCHEMA_PATH, "utf8"), jsonSchemaText());
  });

  test(`${REFERENCE_PATH} is up to date (run npm run gen:schema)`, () => {
    assert.equal(readFileSync(REPO + REFERENCE_PATH, "utf8"), referenceText());
  });

  test("the JSON Schema declares the required keys and forbids unknown ones", () => {
    const s = JSON.parse(jsonSchemaText());
    assert.deepEqual(s.required, ["global", "groups"]);
    assert.equal(s.additionalProperties, false);
    assert.deepEqual(s.properties.global.required.sort(), [
      "dns_update_interval",
      "interval",
      "logging_level",
      "nb_proc",
      "probe_name",
      "prometheus_port",
    ]);
    const target = s.properties.targets.anyOf?.[0] ?? s.properties.targets;
    assert.equal(target.propertyNames.pattern, "^[a-z0-9_\\-.]+$");
    assert.deepEqual(target.additionalProperties.required, ["type", "destination"]);
    assert.deepEqual(target.additionalProperties.properties.type.enum, [
      "TCPsyn",
      "ICMPping",
      "UDPunreachable",
      "iperf",
    ]);
  });

  test("every key of the valid fixtures is declared in the JSON Schema", () => {
    const s = JSON.parse(jsonSchemaText());
    const data = parse(readFileSync(`${FIXTURES}config/valid/every-key.yaml`, "utf8"), {
      version: "1.1",
      merge: true,
    });
    const undeclared: string[] = [];
    type Node = {
      type?: string;
      anyOf?: Node[];
      oneOf?: Node[];
      const?: unknown;
      properties?: Record<string, Node>;
      additionalProperties?: Node | boolean;
    };
    const walk = (schema: Node, value: unknown, path: string) => {
      let obj: Node | undefined = schema.anyOf ? schema.anyOf.find((x) => x.type === "object") : schema;
      // A discriminated union (inventories): the alternative whose `type` constant the value names.
      if (obj?.oneOf) {
        const kind = (value as { type?: unknown } | undefined)?.type;
        obj = obj.oneOf.find((x) => x.properties?.type?.const === kind);
      }
      if (!obj || !value || typeof value !== "object" || Array.isArray(value)) return;
      for (const [k, v] of Object.entries(value)) {
        const sub =
          obj.properties?.[k] ??
          (typeof obj.additionalProperties === "object" ? obj.additionalProperties : undefined);
        if (!sub) undeclared.push(`${path}${k}`);
        else walk(sub, v, `${path}${k}.`);
      }
    };
    walk(s, data, "");
    assert.deepEqual(undeclared, []);
  });
});
