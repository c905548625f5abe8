// What the built-in inventories read: a YAML or JSON document holding a list of entries, either the
// list itself or a map with the list under `targets:` (so a file can carry other keys, e.g. a
// comment or a version). Entries are checked later, one by one, by the configuration's own rules
// (entries.ts); here only the document's shape is. YAML is read as 1.1, like netprobify.yaml.
import { parse as parseYaml } from "yaml";

/** The entries a document holds; throws an Error saying what is wrong with the document. */
export function parseList(text: string, format: "yaml" | "json"): unknown[] {
  let doc: unknown;
  try {
    doc = format === "json" ? JSON.parse(text) : parseYaml(text, { version: "1.1", merge: true });
  } catch (err) {
    throw new Error(
      `not valid ${format === "json" ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (doc === null || doc === undefined) return []; // an empty file: no targets
  if (Array.isArray(doc)) return doc;
  if (typeof doc === "object" && Array.isArray((doc as { targets?: unknown }).targets))
    return (doc as { targets: unknown[] }).targets;
  throw new Error("expected a list of targets, or a map with a `targets` list");
}

/** JSON for .json files, YAML (a superset of JSON) for everything else. */
export function formatOf(path: string): "yaml" | "json" {
  return path.toLowerCase().endsWith(".json") ? "json" : "yaml";
}

/** The module contract as the built-ins use it (docs/inventories.md). */
export interface BuiltinContext<O> {
  name: string;
  options: O;
  publish(targets: unknown): void;
  reportFailure(message: string): void;
  log: Record<"debug" | "info" | "warn" | "error", (msg: string, fields?: Record<string, unknown>) => void>;
  signal: AbortSignal;
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
