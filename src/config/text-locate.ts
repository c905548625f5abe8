// Finding a key's line without a YAML parser: the fallback when the positioned parser cannot read a
// file that js-yaml read (it overflows its stack on some long files, or disagrees on a corner of the
// syntax). It follows the key path through block-style indentation; good enough to point a human at
// the right line, and never throws.
import type { SourcePosition } from "../errors.js";

/** Line and column (1-based) of a text offset, without building a parser's line table. */
export function positionAt(text: string, offset: number): SourcePosition {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The position of the deepest key of `path` found, each one searched below the previous one. */
export function locateInText(text: string, path: readonly (string | number)[]): SourcePosition | undefined {
  let from = 0;
  let indent = -1;
  let found: number | undefined;
  for (const seg of path) {
    if (typeof seg === "number") continue; // a list item: its parent's line is close enough
    const k = escapeRegExp(seg);
    const re = new RegExp(`^( *)(?:- +)?(?:"${k}"|'${k}'|${k})[ \\t]*:`, "gm");
    re.lastIndex = from;
    let m: RegExpExecArray | null = re.exec(text);
    while (m && m[1]!.length <= indent) m = re.exec(text);
    if (!m) break;
    found = m.index + m[1]!.length;
    from = m.index + m[0].length;
    indent = m[1]!.length;
  }
  return found === undefined ? undefined : positionAt(text, found);
}
