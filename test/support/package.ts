// What the npm package would hold: the paths `npm pack --dry-run` lists (lifecycle scripts off, so
// nothing is built: the tree as it is now is listed), for the tests of what ships.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { REPO } from "./paths.js";

export function packedFiles(): Set<string> {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: REPO,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
}
