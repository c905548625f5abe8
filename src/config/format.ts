// How configuration problems are printed: one line each, `file:line:col key.path: message`, the form
// editors and CI logs turn into links. Warnings say so after the path, and end with their rule's name.
import type { Diagnostic } from "../errors.js";

export function formatPath(path: readonly (string | number)[]): string {
  return path
    .map((seg) => (typeof seg === "number" ? `[${seg}]` : seg))
    .join(".")
    .replace(/\.\[/g, "[");
}

export function formatDiagnostic(file: string, d: Diagnostic): string {
  const where = d.pos ? `${file}:${d.pos.line}:${d.pos.col}` : `${file}:`;
  const path = d.path.length > 0 ? ` ${formatPath(d.path)}:` : "";
  // A warning names its rule: docs/configuration.md and docs/migration.md explain each by that name.
  if (d.severity === "warning") return `${where}${path} warning: ${d.message} [${d.rule}]`;
  return `${where}${path} ${d.message}`;
}
