// Aliases and merge keys in the positioned document, checked before it is turned into data: the
// `yaml` library throws its own errors from toJS() for an alias without an anchor (`*nope`), a merge
// key on something other than a map (`<<: 5`) and a document whose aliases expand too far. Here each
// becomes a diagnostic at the alias or merge it is about, so a file is refused, never a crash.
import { isAlias, isMap, isPair, isScalar, isSeq, type Node } from "yaml";
import type { Diagnostic, SourcePosition } from "../errors.js";

export interface AliasCheck {
  diagnostics: Diagnostic[];
  /** Values of the document with every alias expanded (stops growing past the limit). */
  values: number;
}

/** Walks the document in order; an anchor counts from the end of its node on (as js-yaml reads it). */
export function checkAliases(
  root: unknown,
  pos: (offset: number) => SourcePosition,
  maxValues: number,
): AliasCheck {
  const diagnostics: Diagnostic[] = [];
  const anchors = new Map<string, { node: Node; values: number }>();
  const at = (n: unknown): SourcePosition | undefined => {
    const range = (n as Node | null)?.range;
    return range ? pos(range[0]) : undefined;
  };
  const target = (n: unknown): unknown => (isAlias(n) ? anchors.get(n.source)?.node : n);

  const walk = (n: unknown): number => {
    if (n === null || n === undefined) return 0;
    if (isAlias(n)) {
      const a = anchors.get(n.source);
      if (a) return a.values;
      diagnostics.push({
        severity: "error",
        path: [],
        message: `unresolved alias *${n.source}: no anchor &${n.source} is defined before it`,
        rule: "yaml-alias",
        pos: at(n),
      });
      return 1;
    }
    let values = 1;
    if (isMap(n)) {
      for (const item of n.items) {
        if (!isPair(item)) continue;
        values += walk(item.key) + walk(item.value);
        if (isMergeKey(item.key) && !mergeable(item.value, target))
          diagnostics.push({
            severity: "error",
            path: [],
            message: "merge key << expects a map, an alias of a map, or a list of them",
            rule: "yaml-merge",
            pos: at(item.value) ?? at(item.key),
          });
        if (values > maxValues) break;
      }
    } else if (isSeq(n)) {
      for (const item of n.items) {
        values += walk(item);
        if (values > maxValues) break;
      }
    }
    const anchor = (n as { anchor?: string }).anchor;
    if (anchor) anchors.set(anchor, { node: n as Node, values });
    return values;
  };
  const values = walk(root);
  return { diagnostics, values };
}

/** A `<<` merge key (the `yaml` library reads it as a symbol; a quoted "<<" is a plain key). */
export function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (typeof key.value === "symbol" || (key.value === "<<" && key.type === "PLAIN"));
}

/** Whether a merge source is a map or a list of maps (an unresolved alias is reported as such). */
function mergeable(value: unknown, target: (n: unknown) => unknown): boolean {
  const isMapOrUnresolved = (x: unknown) => {
    const v = target(x);
    return isMap(v) || (isAlias(x) && v === undefined);
  };
  if (isMapOrUnresolved(value)) return true;
  const v = target(value);
  return isSeq(v) && v.items.every(isMapOrUnresolved);
}
