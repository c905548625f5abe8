// The code table of docs/errors.md is generated from ERROR_CODES (src/errors.ts): code, exit code and
// meaning come from the declaration; the "what to do" column is written in the document and kept by
// code. errors.test.ts checks the document shows exactly the declaration. After adding or changing a
// code, refresh the document with `npm run docs:errors` and fill in what to do for a new code.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ERROR_CODES } from "../../src/errors.js";

export const DOC_PATH = fileURLToPath(new URL("../../../docs/errors.md", import.meta.url));

const BLOCK = /(<!-- error-codes:start -->\n)([\s\S]*?)(<!-- error-codes:end -->)/;
const HEADER = "| code | exit | meaning | what to do |\n|---|---|---|---|\n";

export interface DocRow {
  code: string;
  exit: string;
  meaning: string;
  todo: string;
}

/** The rows of the document's table, or undefined when the markers are missing. */
export function rowsInDoc(text: string): DocRow[] | undefined {
  const block = BLOCK.exec(text)?.[2];
  if (block === undefined) return undefined;
  return block
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((l) => {
      const [code = "", exit = "", meaning = "", ...todo] = l.slice(2, -2).split(" | ");
      return { code: code.replace(/`/g, ""), exit, meaning, todo: todo.join(" | ") };
    });
}

/** The table for the declared codes, each with the "what to do" the document already gives. */
export function codeTable(todoByCode: Map<string, string>): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, c]) => `| \`${code}\` | ${c.exit} | ${c.meaning} | ${todoByCode.get(code) ?? ""} |\n`,
  );
  return HEADER + rows.join("");
}

/** The document with its table regenerated from the declaration. */
export function refreshDoc(text: string): string {
  const todo = new Map((rowsInDoc(text) ?? []).map((r) => [r.code, r.todo]));
  return text.replace(BLOCK, (_, start: string, _old: string, end: string) => start + codeTable(todo) + end);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(DOC_PATH, refreshDoc(readFileSync(DOC_PATH, "utf8")));
  console.log(`wrote ${DOC_PATH}`);
}
