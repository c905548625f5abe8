// Bounds on what reading a configuration file may cost, checked BEFORE a YAML parser builds anything:
// both parsers recurse once per nesting level (a few hundred `[` overflow the stack), and aliases
// let a dozen lines stand for billions of values (an "alias bomb"). The nesting depth is estimated by
// a cheap single pass over the text (a few ms for a 10,000-target file, no parser involved); the
// values an alias-laden document expands to are counted on the parsed, still shared structure.
// Limits are documented in docs/configuration.md#limits.

/** Largest configuration file read (a 10,000-target file is about 1.4 MB). */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
/** Deepest nesting of maps and lists accepted (a netprobify file nests 5; parsers overflow near 800). */
export const MAX_DEPTH = 100;
/** Most values (maps, lists and scalars) a document may hold once its aliases are expanded. */
export const MAX_VALUES = 2_000_000;

interface Level {
  col: number;
  /** Depth of the parent of the nodes that start at this column. */
  base: number;
  /** The lines at this column are list items. */
  seq: boolean;
  /** Depth reached by the last line at this column (the parent of a more indented line). */
  last: number;
}

const isBlank = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || Number.isNaN(c);

/**
 * Returns the text offset where the nesting first exceeds `max` levels, or undefined. The estimate
 * follows indentation, `- `/`? ` indicators, `key:` and flow brackets, skipping quoted strings,
 * comments and block scalars; it never undercounts a well-formed file's depth by more than the odd
 * level, and `max` is far above real files, so valid configurations are never refused.
 */
export function nestingTooDeep(text: string, max = MAX_DEPTH): number | undefined {
  const stack: Level[] = [];
  let flow = 0; // open [ and {
  let flowBase = 0; // block depth of the node holding the open flow collection
  let quote = 0; // char code of the quote that is open across lines, or 0
  let blockIndent = -1; // indent of the line that opened a block scalar (| or >), or -1
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    let i = pos;
    while (i < end && text.charCodeAt(i) === 32) i++;
    const indent = i - pos;
    const c0 = text.charCodeAt(i);
    const blank = i >= end || c0 === 35 /* # */ || c0 === 13;
    if (blockIndent >= 0 && (blank || indent > blockIndent)) {
      pos = end + 1;
      continue;
    }
    blockIndent = -1;
    let depth = flowBase;
    let level: Level | undefined;
    if (quote === 0 && flow === 0 && !blank) {
      if (indent === 0 && (text.startsWith("---", i) || text.startsWith("...", i))) {
        stack.length = 0;
        i += 3;
      }
      while (stack.length > 0 && stack[stack.length - 1]!.col > indent) stack.pop();
      const top = stack[stack.length - 1];
      const seq = c0 === 45 /* - */ && isBlank(text.charCodeAt(i + 1));
      if (top && top.col === indent) {
        level = top;
        depth = top.base + (seq && !top.seq ? 1 : 0);
      } else {
        depth = top ? top.last : 0;
        level = { col: indent, base: depth, seq, last: depth };
        stack.push(level);
      }
    }
    let atNode = true; // the next character starts a node (not inside a plain scalar)
    for (let j = i; j < end; j++) {
      const c = text.charCodeAt(j);
      if (quote !== 0) {
        if (c === 92 /* \ */ && quote === 34) j++;
        else if (c === quote) {
          if (quote === 39 && text.charCodeAt(j + 1) === 39) j++;
          else {
            quote = 0;
            atNode = false;
          }
        }
        continue;
      }
      if (c === 32 || c === 9 || c === 13) continue;
      if (c === 35 /* # */ && (j === i || isBlank(text.charCodeAt(j - 1)))) break;
      if (flow > 0) {
        if (c === 91 || c === 123) {
          flow++;
          if (flowBase + flow > max) return j;
          atNode = true;
        } else if (c === 93 || c === 125) {
          flow--;
          atNode = false;
        } else if (c === 44 /* , */) atNode = true;
        else if ((c === 34 || c === 39) && atNode) quote = c;
        else if (c === 58 /* : */ && isFlowEnd(text.charCodeAt(j + 1))) atNode = true;
        else atNode = false;
        continue;
      }
      if (atNode) {
        if ((c === 45 || c === 63) /* - ? */ && isBlank(text.charCodeAt(j + 1))) {
          if (++depth > max) return j;
        } else if (c === 91 || c === 123) {
          flowBase = depth;
          flow = 1;
          if (depth + 1 > max) return j;
        } else if (c === 34 || c === 39) {
          quote = c;
        } else if (c === 124 || c === 62 /* | > */) {
          blockIndent = indent;
          break;
        } else if (c === 38 || c === 33 /* & ! */) {
          while (j + 1 < end && !isBlank(text.charCodeAt(j + 1))) j++;
        } else atNode = false;
      } else if (c === 58 /* : */ && isBlank(text.charCodeAt(j + 1))) {
        if (++depth > max) return j;
        atNode = true;
      }
    }
    if (level) level.last = depth;
    pos = end + 1;
  }
  return undefined;
}

const isFlowEnd = (c: number) => isBlank(c) || c === 44 || c === 93 || c === 125;

/**
 * Counts the values of parsed data as if every alias were expanded (js-yaml shares an aliased node
 * instead of copying it, so a bomb is still small here). Stops counting once past `max`.
 */
export function expandedValues(data: unknown, max = MAX_VALUES): number {
  const seen = new Map<object, number>();
  const count = (v: unknown): number => {
    if (v === null || typeof v !== "object" || v instanceof Date) return 1;
    const known = seen.get(v);
    if (known !== undefined) return known;
    seen.set(v, Number.POSITIVE_INFINITY); // a cycle expands forever
    let n = 1;
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      n += count(x);
      if (n > max) break;
    }
    seen.set(v, n);
    return n;
  };
  return count(data);
}

/** The offset of the first alias (`*name`) in the text, to point at when aliases expand too far. */
export function firstAlias(text: string): number | undefined {
  const m = /(^|[\s[{,:-])\*[^\s,[\]{}]/m.exec(text);
  return m ? m.index + m[1]!.length : undefined;
}
