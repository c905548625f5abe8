// The metric table of docs/metrics.md is generated from the catalog (src/metrics/catalog.ts);
// catalog.test.ts checks the document shows exactly it. After changing the catalog, refresh the
// document with `node dist/test/metrics/doc-table.js --write`.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { catalogMarkdown } from "../../src/metrics/catalog.js";

export const DOC_PATH = fileURLToPath(new URL("../../../docs/metrics.md", import.meta.url));

const BLOCK = /(<!-- metrics-table:start -->\n)([\s\S]*?)(<!-- metrics-table:end -->)/;

/** The generated table as the document shows it, or undefined when the markers are missing. */
export function tableInDoc(text: string): string | undefined {
  return BLOCK.exec(text)?.[2];
}

/** The document with its table replaced by the catalog's. */
export function refreshDoc(text: string): string {
  return text.replace(
    BLOCK,
    (_, start: string, _old: string, end: string) => start + catalogMarkdown() + end,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(DOC_PATH, refreshDoc(readFileSync(DOC_PATH, "utf8")));
  console.log(`wrote ${DOC_PATH}`);
}
