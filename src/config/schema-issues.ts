// Turns zod's validation issues into netprobify diagnostics: one message per problem, worded for a
// person editing YAML ("expected an integer 1..65535, got "https""), pointing at the offending line,
// with a "did you mean" for unknown keys and near-miss enum values.
import { closest, distance } from "fastest-levenshtein";
import type { z } from "zod";
import type { Diagnostic } from "../errors.js";
import { expectedAt, keysAt } from "./schema.js";
import type { ConfigSource, KeyPath } from "./source.js";

/** A near-miss among `candidates`, when one is close enough to be a likely typo. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const folded = candidates.find((c) => c.toLowerCase() === input.toLowerCase());
  if (folded) return folded;
  const best = closest(input, candidates as string[]);
  return distance(input, best) <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** How a found value is shown in a message. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "an empty value";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "a list";
  // An invalid Date (only in data, e.g. an inventory's list: YAML never makes one) has no ISO form.
  if (v instanceof Date)
    return Number.isNaN(v.getTime()) ? "an invalid date" : `a date (${v.toISOString().slice(0, 10)})`;
  if (typeof v === "object") return "a map";
  return typeof v;
}

export function valueAt(data: unknown, path: KeyPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

export function hasKey(data: unknown, path: KeyPath): boolean {
  const parent = valueAt(data, path.slice(0, -1));
  return (
    parent !== null &&
    typeof parent === "object" &&
    Object.hasOwn(parent as object, path[path.length - 1] as PropertyKey)
  );
}

/**
 * Converts the issues of validating `data` (found at `base` in the file) against `schema`.
 * `schema` must be the schema `data` was validated with; paths in issues are relative to it.
 */
export function issuesToDiagnostics(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  data: unknown,
  base: KeyPath,
  source: ConfigSource,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const issue of issues) {
    const rel = issue.path as (string | number)[];
    const path = [...base, ...rel];
    if (issue.code === "unrecognized_keys") {
      const allowed = keysAt(schema, rel);
      for (const key of issue.keys) {
        const hint = didYouMean(key, allowed);
        out.push({
          severity: "error",
          path: [...path, key],
          message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`,
          rule: "unknown-key",
          pos: source.locateKey([...path, key]),
        });
      }
      continue;
    }
    const value = valueAt(data, rel);
    if (issue.code === "invalid_type" && value === undefined && !hasKey(data, rel)) {
      out.push({
        severity: "error",
        path,
        message: `required key missing (expected ${expectedAt(schema, rel) ?? issue.expected})`,
        rule: "required-key",
        pos: source.locateKey(path.slice(0, -1)),
      });
      continue;
    }
    const expected = expectedAt(schema, rel) ?? fallbackExpectation(issue);
    let message = `expected ${expected}, got ${describeValue(value)}`;
    if (issue.code === "invalid_value" && typeof value === "string") {
      const options = issue.values.filter((v): v is string => typeof v === "string");
      const hint = didYouMean(value, options);
      if (hint) message += ` (did you mean "${hint}"?)`;
    }
    if (issue.code === "invalid_type" && issue.expected === "string" && typeof value === "boolean")
      message += " (YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans: quote the value)";
    out.push({ severity: "error", path, message, rule: "schema", pos: source.locate(path) });
  }
  return out;
}

function fallbackExpectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `a value of type ${issue.expected}`;
    case "invalid_value":
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}
