// Targets published by a dynamic inventory, validated by exactly the rules of a config file: each
// entry is placed as a target into the running configuration's document (same global, same groups)
// and the whole is checked by the configuration loader. An invalid entry is skipped and reported with
// the loader's own messages; valid ones are kept. Naming follows the original netprobify: the target
// is `<module>_<hostname>`, its description `from_<module>`. `creation_date` + `lifetime` ("1d 3h 2m")
// make an entry expire; `groups` puts it in exactly those groups.
import { formatDiagnostic } from "../config/format.js";
import { type Config, loadConfigData, type TargetConfig } from "../config/load.js";
import { describeValue } from "../config/schema-issues.js";
import { ConfigError } from "../errors.js";

/** Seconds of a lifetime such as "1d 3h 2m" or "90s"; undefined when the text is not one. */
export function parseLifetime(text: string): number | undefined {
  if (!/^\s*(\d+\s*[dhms]\s*)+$/i.test(text)) return undefined;
  const unit: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  for (const [, n, u] of text.matchAll(/(\d+)\s*([dhms])/gi)) total += Number(n) * unit[u!.toLowerCase()]!;
  return total;
}

/** A value in a message: as JSON when it has a form (dates, text), else as the loader describes it. */
function shown(v: unknown): string {
  try {
    return JSON.stringify(v) ?? describeValue(v);
  } catch {
    return describeValue(v);
  }
}

export interface EntryProblem {
  /** Position in the published list. */
  index: number;
  /** The target name the entry would have had, when it had a hostname. */
  name?: string;
  messages: string[];
}

export interface EntriesResult {
  targets: TargetConfig[];
  invalid: EntryProblem[];
  /** Names of entries whose lifetime has passed. */
  expired: string[];
}

const INVENTORY_KEYS = ["hostname", "creation_date", "lifetime", "groups"];

/** Validates one inventory's published list against the running configuration. Never throws. */
export function validateEntries(module: string, entries: unknown, base: Config, now: Date): EntriesResult {
  const invalid: EntryProblem[] = [];
  const expired: string[] = [];
  if (!Array.isArray(entries)) {
    return { targets: [], invalid: [{ index: -1, messages: ["expected a list of targets"] }], expired };
  }
  const candidates = new Map<string, { index: number; target: Record<string, unknown> }>();
  for (const [index, e] of entries.entries()) {
    const problem = (messages: string[], name?: string) => {
      invalid.push({ index, name, messages });
    };
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      problem(["expected a map"]);
      continue;
    }
    const entry = e as Record<string, unknown>;
    if (typeof entry.hostname !== "string" || entry.hostname === "") {
      problem(["hostname: required, a non-empty string"]);
      continue;
    }
    const name = `${module}_${entry.hostname}`.toLowerCase();
    if (candidates.has(name)) {
      problem([`duplicate target name ${name} (first at entry ${candidates.get(name)!.index})`], name);
      continue;
    }
    if (entry.lifetime !== undefined || entry.creation_date !== undefined) {
      const life = typeof entry.lifetime === "string" ? parseLifetime(entry.lifetime) : undefined;
      // A date, or text or a number that makes one; anything else (a map whose toString is not a
      // function makes String() throw) is no date.
      const c = entry.creation_date;
      const created =
        c instanceof Date
          ? c
          : typeof c === "string" || typeof c === "number"
            ? new Date(c)
            : new Date(Number.NaN);
      if (life === undefined) {
        problem([`lifetime: expected e.g. "1d 3h 2m", got ${shown(entry.lifetime)}`], name);
        continue;
      }
      if (Number.isNaN(created.getTime())) {
        problem([`creation_date: expected a date, got ${shown(c)}`], name);
        continue;
      }
      if (created.getTime() + life * 1000 <= now.getTime()) {
        expired.push(name);
        continue;
      }
    }
    const target: Record<string, unknown> = { description: `from_${module}`, destination: entry.hostname };
    for (const [k, v] of Object.entries(entry)) if (!INVENTORY_KEYS.includes(k)) target[k] = v;
    if (entry.groups !== undefined) {
      target.auto_register_to_groups = false;
      target.explicit_groups = { register_to: entry.groups };
    }
    candidates.set(name, { index, target });
  }

  // Validate all candidates together; drop those with errors; validate the rest again to build them
  // (each round drops at least one entry, so this ends; one round is the rule, errors come all at once).
  const attempt = (names: string[]) =>
    loadConfigData(`inventory ${module}`, {
      ...base.raw,
      targets: Object.fromEntries(names.map((n) => [n, candidates.get(n)!.target])),
    });
  let names = [...candidates.keys()];
  for (;;) {
    try {
      const config = attempt(names);
      const targets: TargetConfig[] = [];
      for (const n of names) {
        const t = config.targets.get(n);
        if (t) {
          targets.push(t);
          continue;
        }
        // Valid but not probed (an iperf target): left out, as from a file, and said.
        const why = config.warnings
          .filter((w) => w.path[0] === "targets" && w.path[1] === n)
          .map((w) => formatDiagnostic(config.file, { ...w, pos: undefined }));
        invalid.push({
          index: candidates.get(n)!.index,
          name: n,
          messages: why.length > 0 ? why : ["left out"],
        });
      }
      return { targets, invalid, expired };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const bad = new Map<string, string[]>();
      for (const d of err.diagnostics) {
        if (d.severity !== "error") continue;
        const n = d.path[0] === "targets" && typeof d.path[1] === "string" ? d.path[1] : undefined;
        if (n === undefined || !candidates.has(n)) continue;
        bad.set(n, [...(bad.get(n) ?? []), formatDiagnostic(err.file, { ...d, pos: undefined })]);
      }
      if (bad.size === 0) {
        // An error that is not an entry's: nothing can be kept, and every entry says why.
        const why = err.diagnostics
          .filter((d) => d.severity === "error")
          .map((d) => formatDiagnostic(err.file, { ...d, pos: undefined }));
        for (const n of names) invalid.push({ index: candidates.get(n)!.index, name: n, messages: why });
        return { targets: [], invalid, expired };
      }
      for (const [n, messages] of bad) invalid.push({ index: candidates.get(n)!.index, name: n, messages });
      names = names.filter((n) => !bad.has(n));
    }
  }
}
