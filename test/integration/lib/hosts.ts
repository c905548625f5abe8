// Lets a lab test decide what the system resolver answers: /etc/hosts (and /etc/resolv.conf) are
// replaced by bind mounts inside the lab's private mount namespace (src/lab/enter.sh), never on the
// machine itself. Each change mounts a fresh file on top of the previous one, so a concurrent
// getaddrinfo() opens either the old file or the new one, never a half-written file.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Throws unless this process runs inside the lab: NETPROBIFY_LAB=1 and a root mount that does not
 * propagate (a bind mount made here is invisible to the host).
 */
export function assertPrivateMounts(): void {
  if (process.env.NETPROBIFY_LAB !== "1")
    throw new Error("refusing to bind-mount system files outside the lab (run through src/lab/enter.sh)");
  const propagation = execFileSync("findmnt", ["-no", "PROPAGATION", "/"], { encoding: "utf8" }).trim();
  if (propagation !== "private")
    throw new Error(`refusing to bind-mount system files: / has propagation "${propagation}", not private`);
}

/** How many mounts are stacked on `path` right now (0: it is no mount point). */
export function mountsOn(path: string): number {
  const r = spawnSync("findmnt", ["-n", "-o", "TARGET", "--mountpoint", path], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n").filter((l) => l.trim() !== "").length : 0;
}

/** A system file overlaid by test content; `set()` replaces the content, `release()` restores it. */
export class BoundFile {
  private serial = 0;
  /** Mounts already on `target` before this object (e.g. a container runtime's), left alone. */
  private readonly base: number;
  /** The file's content before the first overlay. */
  readonly original: string;

  constructor(
    readonly target: string,
    private readonly dir: string,
  ) {
    assertPrivateMounts();
    this.original = readFileSync(target, "utf8");
    this.base = mountsOn(target);
  }

  /** Makes `target` read `content` (a new file mounted over the previous layer). */
  set(content: string): void {
    const file = join(this.dir, `${this.target.replaceAll("/", "_")}.${this.serial++}`);
    writeFileSync(file, content);
    execFileSync("mount", ["--bind", file, this.target], { stdio: "pipe" });
  }

  /** Unmounts every layer it added; true when `target` has its former mounts and content again. */
  release(): boolean {
    for (let n = mountsOn(this.target); n > this.base; n--) {
      if (spawnSync("umount", [this.target], { stdio: "pipe" }).status !== 0) break;
    }
    return mountsOn(this.target) === this.base && readFileSync(this.target, "utf8") === this.original;
  }
}
