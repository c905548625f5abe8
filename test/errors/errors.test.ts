// Error codes are declared once (ERROR_CODES in src/errors.ts): docs/errors.md shows exactly that
// table, every code any document names is declared, the source uses the constants instead of raw
// strings, and no message carries its own code (errorText adds it, once).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Code, ERROR_CODES, ExitCode, errorText, NetprobifyError, UsageError } from "../../src/errors.js";
import { REPO } from "../support/paths.js";
import { DOC_PATH, refreshDoc, rowsInDoc } from "./doc-table.js";

const declared = new Set(Object.keys(ERROR_CODES));

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => ext.test(f))
    .map((f) => join(dir, f));
}

describe("error codes", () => {
  test("docs/errors.md shows exactly the declared codes, exit codes and meanings (npm run docs:errors)", () => {
    const text = readFileSync(DOC_PATH, "utf8");
    const rows = rowsInDoc(text);
    assert.ok(rows, "docs/errors.md lacks the error-codes markers");
    const documented = rows.map((r) => r.code);
    assert.deepEqual(
      documented.filter((c) => !declared.has(c)),
      [],
      "documented but not declared in ERROR_CODES",
    );
    assert.deepEqual(
      [...declared].filter((c) => !documented.includes(c)),
      [],
      "declared but not documented: run npm run docs:errors",
    );
    for (const r of rows) {
      const c = ERROR_CODES[r.code as keyof typeof ERROR_CODES];
      assert.equal(r.exit, String(c.exit), `${r.code}: exit code`);
      assert.equal(r.meaning, c.meaning, `${r.code}: meaning`);
      assert.notEqual(r.todo.trim(), "", `${r.code}: the "what to do" column is empty`);
    }
    assert.equal(refreshDoc(text), text, "docs/errors.md is stale: npm run docs:errors");
  });

  test("every NPF_ code named in the documentation is declared", () => {
    const docs = [...files(join(REPO, "docs"), /\.md$/), join(REPO, "README.md")];
    for (const f of docs) {
      for (const m of readFileSync(f, "utf8").matchAll(/\bNPF_[A-Z_]+\b/g))
        assert.ok(declared.has(m[0]), `${f} names ${m[0]}, which ERROR_CODES does not declare`);
    }
  });

  test("every exit code of the table is documented in docs/exit-codes.md", () => {
    const text = readFileSync(join(REPO, "docs/exit-codes.md"), "utf8");
    for (const [code, c] of Object.entries(ERROR_CODES))
      assert.match(text, new RegExp(`^\\| ${c.exit} \\|`, "m"), `${code}: exit ${c.exit}`);
  });

  test("the source names codes through the constants only, and no message carries its code", () => {
    for (const f of files(join(REPO, "src"), /\.ts$/)) {
      if (f.endsWith("/src/errors.ts")) continue;
      const text = readFileSync(f, "utf8");
      assert.doesNotMatch(text, /["'`]NPF_[A-Z_]+/, `${f}: a raw code string; use Code.NPF_...`);
      assert.doesNotMatch(text, /\[NPF_/, `${f}: a code written into a message; errorText adds it`);
    }
  });

  test("an error's exit code comes from its declaration; errorText names the code once", () => {
    for (const code of declared) {
      const e = new NetprobifyError(code as keyof typeof ERROR_CODES, "what happened");
      assert.equal(e.exitCode, ERROR_CODES[e.code].exit);
      assert.equal(errorText(e), `what happened [${code}]`);
    }
    assert.equal(new UsageError("x").exitCode, ExitCode.USAGE);
    assert.equal(Code.NPF_NO_CAP_NET_RAW, "NPF_NO_CAP_NET_RAW");
    assert.equal(errorText(new Error("plain")), "plain");
    assert.equal(errorText("thrown string"), "thrown string");
  });
});
