// The status page ships in the npm package: its static files beside the compiled module that reads
// them, and uPlot as a runtime dependency (served from node_modules, never from a CDN).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REPO } from "../support/paths.js";

test("npm pack holds the page's files and the module that serves them; uplot is a dependency", () => {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: REPO,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set(
    (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path),
  );
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
