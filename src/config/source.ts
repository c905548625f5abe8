// Reading a configuration file into plain data while keeping where every key and value came from,
// so that every later check can point at a line and column. YAML 1.1 is used on purpose: the original
// netprobify read its files with PyYAML (YAML 1.1), where `yes`/`no`/`on`/`off` are booleans and
// `<<` merge keys work; existing files must mean the same thing here. JSON files load too (a subset).
import { open } from "node:fs/promises";
import { load as loadYaml, YAML11_SCHEMA } from "js-yaml";
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  type YAMLMap,
} from "yaml";
import type { Diagnostic, SourcePosition } from "../errors.js";
import { checkAliases, isMergeKey } from "./aliases.js";
import {
  expandedValues,
  firstAlias,
  MAX_DEPTH,
  MAX_FILE_BYTES,
  MAX_VALUES,
  nestingTooDeep,
} from "./limits.js";
import { locateInText, positionAt } from "./text-locate.js";

export type KeyPath = readonly (string | number)[];

export interface ConfigSource {
  /** The file name as the user gave it; diagnostics print it unchanged. */
  file: string;
  /** Plain data (maps as objects), or undefined when the file could not be parsed at all. */
  data: unknown;
  /** Problems found while reading and parsing (unreadable file, YAML syntax, duplicate keys). */
  diagnostics: Diagnostic[];
  /** Position of the value at `path`, or of its nearest ancestor that exists in the file. */
  locate(path: KeyPath): SourcePosition | undefined;
  /** Position of the key of the pair at `path` (for unknown or duplicate keys). */
  locateKey(path: KeyPath): SourcePosition | undefined;
}

const READ_ERRORS: Record<string, string> = {
  ENOENT: "cannot read the configuration: no such file",
  EISDIR: "cannot read the configuration: it is a directory, expected a YAML file",
  EACCES: "cannot read the configuration: permission denied",
  EPERM: "cannot read the configuration: operation not permitted",
  ENOTDIR: "cannot read the configuration: a component of the path is not a directory",
};

function failed(file: string, message: string, rule: string): ConfigSource {
  return {
    file,
    data: undefined,
    diagnostics: [{ severity: "error", path: [], message, rule }],
    locate: () => undefined,
    locateKey: () => undefined,
  };
}

export async function readConfigSource(file: string): Promise<ConfigSource> {
  let bytes: Buffer;
  try {
    bytes = await readBounded(file, MAX_FILE_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    return failed(
      file,
      READ_ERRORS[code] ?? `cannot read the configuration: ${(err as Error).message}`,
      "file-read",
    );
  }
  if (bytes.length > MAX_FILE_BYTES) return tooLarge(file);
  return parseConfigSource(file, bytes.toString("utf8"));
}

/** Reads at most `max` + 1 bytes: a huge file (or /dev/zero) is refused without being read whole. */
async function readBounded(file: string, max: number): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, max + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > max) break;
    }
    return Buffer.concat(chunks);
  } finally {
    await fh.close();
  }
}

function tooLarge(file: string): ConfigSource {
  const d = failed(
    file,
    `the file is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB, the most netprobify reads (a 10,000-target file is about 1.4 MB)`,
    "file-too-large",
  );
  d.diagnostics[0]!.pos = { line: 1, col: 1 };
  return d;
}

/** A file refused by a limit of limits.ts, pointing at where it was crossed. */
function refused(file: string, text: string, offset: number, message: string, rule: string): ConfigSource {
  const d = failed(file, message, rule);
  d.diagnostics[0]!.pos = positionAt(text, offset);
  return d;
}

/** Points at the first alias (the likely bomb), or at the start when the file has none. */
function tooManyValues(file: string, text: string): ConfigSource {
  const alias = firstAlias(text);
  return alias === undefined
    ? refused(file, text, 0, TOO_BIG, "yaml-values")
    : refused(file, text, alias, TOO_MANY, "yaml-aliases");
}

const TOO_DEEP = `nesting deeper than ${MAX_DEPTH} levels: refused before parsing (a netprobify file nests 5)`;
const TOO_BIG = `the document holds more than ${MAX_VALUES} values, the most netprobify reads`;
const TOO_MANY = `aliases expand the document to more than ${MAX_VALUES} values: refused before expanding them (an alias bomb?)`;

/**
 * Parses configuration text; never throws. The data comes from js-yaml (YAML 1.1 schema, about 15
 * times faster than building a positioned document: 70 ms instead of 1.4 s for 10,000 targets);
 * the positioned document of the `yaml` library is only built when a diagnostic needs a position,
 * or when js-yaml refuses the text (then that document gives the data and the messages).
 */
export function parseConfigSource(file: string, input: string): ConfigSource {
  // YAML reads CRLF and a lone CR as line breaks (and turns them into LF in values); the positioned
  // parser does not know a lone CR, so both parsers get LF only. Lines and columns stay the same.
  const text = input.includes("\r") ? input.replace(/\r\n?/g, "\n") : input;
  if (text.length > MAX_FILE_BYTES && Buffer.byteLength(text) > MAX_FILE_BYTES) return tooLarge(file);
  const deep = nestingTooDeep(text);
  if (deep !== undefined) return refused(file, text, deep, TOO_DEEP, "yaml-depth");
  let data: unknown;
  try {
    data = loadYaml(text, { schema: YAML11_SCHEMA, filename: file });
  } catch (err) {
    // Syntax errors and duplicate keys get the positioned parser's messages. Where js-yaml is
    // stricter than YAML 1.1 as PyYAML reads it (it refuses an explicit key that overrides a merged
    // one), the positioned parser's reading stands.
    return parsePositioned(file, text, err);
  }
  const proto = data !== null && typeof data === "object" ? Object.getPrototypeOf(data) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    // Empty, or not a map (a list, a scalar, a !!binary buffer, a date): its messages, with positions.
    return parsePositioned(file, text);
  }
  if (expandedValues(data) > MAX_VALUES) return tooManyValues(file, text);
  let positioned: ConfigSource | undefined;
  const located = () => {
    positioned ??= parsePositioned(file, text);
    return positioned;
  };
  // When the positioned parser cannot read what js-yaml read, the key is looked for in the text.
  const orText = (path: KeyPath, how: (s: ConfigSource) => SourcePosition | undefined) => {
    let at: SourcePosition | undefined;
    try {
      at = how(located());
    } catch {}
    return at ?? locateInText(text, path) ?? { line: 1, col: 1 };
  };
  return {
    file,
    data,
    diagnostics: [],
    locate: (path) => orText(path, (s) => s.locate(path)),
    locateKey: (path) => orText(path, (s) => s.locateKey(path)),
  };
}

/** Configuration given as data (an inventory's targets): the same checks, no positions. */
export function dataSource(file: string, data: unknown): ConfigSource {
  return { file, data, diagnostics: [], locate: () => undefined, locateKey: () => undefined };
}

/** Parses with the `yaml` library's positioned document: every node knows its line and column. */
export function parsePositioned(file: string, text: string, fastError?: unknown): ConfigSource {
  try {
    return positioned(file, text);
  } catch (err) {
    // The `yaml` parser recurses once per line after some syntax errors (a bad indentation in a long
    // file overflows the stack). js-yaml's error, when it refused the text, has the position.
    const mark = (fastError as { mark?: { line: number; column: number } })?.mark;
    const reason = (fastError as { reason?: string })?.reason;
    const message = `not valid YAML: ${reason ?? (err as Error).message}`;
    const d = failed(file, message, "yaml-syntax");
    d.diagnostics[0]!.pos = mark ? { line: mark.line + 1, col: mark.column + 1 } : { line: 1, col: 1 };
    return d;
  }
}

function positioned(file: string, text: string): ConfigSource {
  const deep = nestingTooDeep(text);
  if (deep !== undefined) return refused(file, text, deep, TOO_DEEP, "yaml-depth");
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    version: "1.1",
    merge: true,
    uniqueKeys: false,
    prettyErrors: false,
    lineCounter,
    // The library's own warnings (e.g. a key that is a list, stringified by toJS) go to
    // process.emitWarning, i.e. to stderr after netprobify's report: the key is refused by the
    // schema with a position instead.
    logLevel: "error",
  });
  const pos = (offset: number): SourcePosition => lineCounter.linePos(offset);
  const diagnostics: Diagnostic[] = [];

  for (const e of doc.errors) {
    const message = (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, "");
    diagnostics.push({
      severity: "error",
      path: [],
      message: `not valid YAML: ${message}`,
      rule: "yaml-syntax",
      pos: pos(e.pos[0]),
    });
  }
  if (diagnostics.length > 0) return { ...failed(file, "", "yaml-syntax"), diagnostics };

  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    const d = failed(
      file,
      "the file is empty: expected a map with the keys global, groups and targets",
      "empty-file",
    );
    d.diagnostics[0]!.pos = { line: 1, col: 1 };
    return d;
  }
  if (!isMap(doc.contents)) {
    const d = failed(
      file,
      "expected a map with the keys global, groups and targets at the top level",
      "not-a-map",
    );
    d.diagnostics[0]!.pos = doc.contents.range ? pos(doc.contents.range[0]) : undefined;
    return d;
  }

  checkDuplicateKeys(doc.contents, [], diagnostics, pos);
  const aliases = checkAliases(doc.contents, pos, MAX_VALUES);
  if (aliases.values > MAX_VALUES) return tooManyValues(file, text);
  if (aliases.diagnostics.length > 0)
    return { ...failed(file, "", "yaml-alias"), diagnostics: aliases.diagnostics };
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    // Not expected after the checks above; still a refused file, never a crash.
    const message = `not valid YAML: ${(err as Error).message}`;
    return {
      ...failed(file, message, "yaml-syntax"),
      diagnostics: [{ severity: "error", path: [], message, rule: "yaml-syntax", pos: pos(0) }],
    };
  }

  const resolve = (n: unknown): unknown => (isAlias(n) ? n.resolve(doc) : n);

  /** Finds the pair holding `key` in a map, looking through `<<` merges (explicit keys win). */
  const findPair = (map: YAMLMap, key: string | number): Pair | undefined => {
    // The last definition wins (as in the parsed data) when a key is duplicated.
    for (let i = map.items.length - 1; i >= 0; i--) {
      const item = map.items[i];
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === String(key)) return item;
    }
    for (const item of map.items) {
      if (isPair(item) && isMergeKey(item.key)) {
        const sources = resolve(item.value);
        const list = isSeq(sources) ? sources.items.map(resolve) : [sources];
        for (const src of list) {
          if (isMap(src)) {
            const p = findPair(src, key);
            if (p) return p;
          }
        }
      }
    }
    return undefined;
  };

  /** Walks the path; returns the deepest node reached, the pair of the last step, and whether it got there. */
  const walk = (path: KeyPath) => {
    let node: unknown = doc.contents;
    let pair: Pair | undefined;
    let reached = node;
    for (const seg of path) {
      node = resolve(node);
      pair = undefined;
      if (isMap(node)) {
        pair = findPair(node, seg);
        node = pair?.value ?? undefined;
      } else if (isSeq(node) && typeof seg === "number") {
        node = node.items[seg];
      } else {
        node = undefined;
      }
      if (node === undefined || node === null) return { reached, pair, complete: false };
      reached = node;
    }
    return { reached, pair, complete: true };
  };

  const nodePos = (n: unknown): SourcePosition | undefined => {
    const range = (n as Node | undefined)?.range;
    return range ? pos(range[0]) : undefined;
  };

  return {
    file,
    data,
    diagnostics,
    locate(path) {
      const w = walk(path);
      // A key present with an empty value (`dst_port:`) has no value node: point at the key.
      if (!w.complete && w.pair && path.length > 0) return nodePos(w.pair.key);
      return nodePos(w.reached);
    },
    locateKey(path) {
      // A key that is not in the file (a missing required key) is reported at its parent's key.
      for (let n = path.length; n > 0; n--) {
        const parent = walk(path.slice(0, n - 1));
        const node = resolve(parent.reached);
        if (!parent.complete || !isMap(node)) continue;
        const pair = findPair(node, path[n - 1]!);
        if (pair) return nodePos(pair.key);
      }
      return nodePos(doc.contents);
    },
  };
}

function checkDuplicateKeys(
  node: unknown,
  path: (string | number)[],
  out: Diagnostic[],
  pos: (offset: number) => SourcePosition,
): void {
  if (isMap(node)) {
    const seen = new Map<string, number>();
    for (const item of node.items) {
      if (!isPair(item)) continue;
      const key = isScalar(item.key) ? String(item.key.value) : undefined;
      if (key !== undefined && !isMergeKey(item.key) && item.key && (item.key as Node).range) {
        const here = pos((item.key as Node).range![0]);
        const first = seen.get(key);
        if (first !== undefined) {
          out.push({
            severity: "error",
            path: [...path, key],
            message: `duplicate key: already defined at line ${first}; only one definition is allowed`,
            rule: "duplicate-key",
            pos: here,
          });
        } else {
          seen.set(key, here.line);
        }
      }
      checkDuplicateKeys(item.value, key === undefined ? path : [...path, key], out, pos);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      checkDuplicateKeys(item, [...path, i], out, pos);
    });
  }
}
