// The documentation points only at things in the repository: relative links in README.md and docs/
// resolve to files, nothing refers to a `compat.md` (a file outside the repository: the facts users of
// the original depend on are in docs/migration.md), and no generated key description sends the reader
// to the page it is printed on.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { REPO } from "../support/paths.js";

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(join(REPO, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => ext.test(f))
    .map((f) => join(REPO, dir, f))
    .filter((f) => statSync(f).isFile());
}

const MARKDOWN = [join(REPO, "README.md"), ...files("docs", /\.md$/)];

describe("references in the repository", () => {
  test("relative links in README.md and docs/ resolve to files", () => {
    for (const f of MARKDOWN) {
      for (const m of readFileSync(f, "utf8").matchAll(/\]\(([^)#\s]+)(#[^)\s]*)?\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        assert.ok(existsSync(join(dirname(f), link)), `${f}: broken link ${link}`);
      }
    }
  });

  test("nothing refers to compat.md, which is not in the repository", () => {
    const all = [
      ...MARKDOWN,
      ...files("src", /\.(ts|sh|c)$/),
      ...files("test", /\.(ts|yaml|expected)$/),
      ...files("examples", /\.(yaml|js|py|md)$/),
      join(REPO, "schema/netprobify.schema.json"),
    ];
    for (const f of all.filter((f) => !f.includes("/test/docs/references.test")))
      assert.doesNotMatch(readFileSync(f, "utf8"), /compat\.md/, f);
  });

  test("no key description in docs/configuration.md or the JSON Schema points to docs/configuration.md", () => {
    const rows = readFileSync(join(REPO, "docs/configuration.md"), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("| `"));
    assert.ok(rows.length > 30, "the key tables");
    for (const row of rows) assert.doesNotMatch(row, /configuration\.md/, row);
    assert.doesNotMatch(
      readFileSync(join(REPO, "schema/netprobify.schema.json"), "utf8"),
      /configuration\.md/,
    );
  });
});
