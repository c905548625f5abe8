// Tests that run netprobify as another user (nobody, a container's user) need the checkout readable
// by that user. When it sits in a 0700 directory (CI clones into mktemp -d), this opens every
// directory on the way with o+x and gives back a function that restores each mode.
import { chmodSync, statSync } from "node:fs";
import { dirname } from "node:path";

/** Adds o+x to `path` and each of its parents that lack it; returns the undo. */
export function openPathForOthers(path: string): () => void {
  const restore: [string, number][] = [];
  for (let p = path.replace(/\/$/, ""); p !== "/" && p !== ""; p = dirname(p)) {
    const mode = statSync(p).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      restore.push([p, mode]);
      chmodSync(p, mode | 0o001);
    }
  }
  return () => {
    for (const [p, mode] of restore) chmodSync(p, mode);
  };
}
