// Finds the lab's small C helpers (impairment stage, TCP responder). binding.gyp builds them next to
// the addon (build/Release/lab-*) when built from source, and the package ships them prebuilt beside
// the addon's prebuild, so a user's `netprobify demo` needs no compiler at install or run time.

import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError } from "./exec.js";

/** The repository root: the nearest ancestor of this module holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new LabError("LAB_LAYOUT", "cannot find the repository root (package.json)");
    dir = up;
  }
}

export type HelperName = "impair" | "responder" | "sethash";

/**
 * Path of a lab helper: build/Release/lab-NAME when built from source (`npm ci`, `npm run
 * rebuild:native`), else the one the package ships in prebuilds/linux-<arch>/ (native/prebuild.sh).
 */
export function helperBinary(name: HelperName): Promise<string> {
  const candidates = [
    resolve(repoRoot(), "build/Release", `lab-${name}`),
    resolve(repoRoot(), "prebuilds", `${process.platform}-${process.arch}`, `lab-${name}`),
  ];
  const bin = candidates.find((c) => existsSync(c));
  if (bin === undefined) {
    return Promise.reject(
      new LabError(
        "LAB_LAYOUT",
        `lab helper ${candidates[0]} is missing: build it with \`npm run rebuild:native\``,
      ),
    );
  }
  return Promise.resolve(bin);
}

/** The lab's outer wall, shipped in the package (docs/lab.md). */
export function enterScript(): string {
  return resolve(repoRoot(), "src/lab/enter.sh");
}
