// The status page ships in the npm package: its static files beside the compiled module that reads
// them, and uPlot as a runtime dependency (served from node_modules, never from a CDN).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packedFiles } from "../support/package.js";
import { REPO } from "../support/paths.js";

test("npm pack holds the page's files and the module that serves them; uplot is a dependency", () => {
  const files = packedFiles();
  for (const f of [
    "src/web/page/index.html",
    "src/web/page/page.js",
    "src/web/page/page.css",
    "dist/src/web/assets.js",
  ])
    assert.ok(files.has(f), `${f} is not in the package`);
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  assert.match(pkg.dependencies.uplot, /^\^?1\./);
  assert.equal(pkg.dependencies["puppeteer-core"], undefined, "the browser driver is for tests only");
});
