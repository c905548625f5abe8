// Compiles the lab's small C helpers (impairment stage, TCP responder) on demand with the system
// compiler, once per source version: the binary name carries a hash of the source, lives in
// build/lab/ (git-ignored), and is written under a temporary name then renamed, so concurrent test
// processes never run a half-written file.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError, run } from "./exec.js";

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

export type HelperName = "impair" | "responder";

const built = new Map<HelperName, Promise<string>>();

/** Path of the compiled helper, building it if this source version was never built. */
export function helperBinary(name: HelperName): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = compile(name);
    built.set(name, p);
    p.catch(() => built.delete(name));
  }
  return p;
}

async function compile(name: HelperName): Promise<string> {
  const root = repoRoot();
  const src = resolve(root, "test/lab/impair", `${name}.c`);
  const text = readFileSync(src);
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
  const outDir = resolve(root, "build/lab");
  const out = join(outDir, `${name}-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(outDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    await run("cc", ["-O2", "-Wall", "-Wextra", "-o", tmp, src], { timeoutMs: 60_000 });
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
  return out;
}
