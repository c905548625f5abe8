// Podman for the deployment tests, leaving nothing behind: its storage, run state and configuration
// live in one temporary directory; its own mount namespace (a helper process the commands nsenter)
// hides /var/lib and /dev/shm behind tmpfs, where podman would otherwise keep a blob cache and its
// lock file on the machine; containers' cgroups sit under one parent that `destroy` removes. The
// helper holds a lock on its directory for its whole life: a run killed before `destroy` (SIGKILL,
// timeout) leaves an unlocked directory, which the next start removes with its cgroups.
// Configured as measured on Debian 12's podman 4.3: runc (crun refuses hybrid cgroups), cgroupfs,
// no default rlimits (the defaults exceed the hard limits). Never pulls: images are imported.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

/**
 * A Debian root file system made by deploy/container/base-rootfs.sh (runtime, build, systemd), as
 * a tarball to import; fails saying how to make it when it is missing.
 */
export function baseTarball(name: "runtime" | "build" | "systemd"): string {
  const tar = `${process.env.NETPROBIFY_CI_CACHE ?? "/var/cache/netprobify-ci"}/bookworm-${name}.tar`;
  if (!existsSync(tar))
    throw new Error(
      `${tar} missing: run \`sh deploy/container/base-rootfs.sh\` first, outside the lab (it downloads Debian's packages; .ci/run does)`,
    );
  return tar;
}

export interface Result {
  code: number | null;
  out: string;
}

const PREFIX = "npf-podman-";
const cgroupOf = (dir: string) => `/netprobify-test-${basename(dir)}`;

export class Podman {
  /** Storage, run state, configuration: set by start(). */
  dir = "";
  /** The cgroup (v1 hierarchies and the unified one) every container and build step is put under. */
  cgroupParent = "";
  private helper: ChildProcess | undefined;
  /** The helper's shell (then sleep): the process whose mount namespace podman runs in. */
  private nsPid = 0;

  async start(): Promise<void> {
    sweepStale();
    this.dir = mkdtempSync(join(tmpdir(), PREFIX));
    this.cgroupParent = cgroupOf(this.dir);
    writeFileSync(join(this.dir, "lock"), "");
    writeFileSync(
      join(this.dir, "containers.conf"),
      '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
    );
    const h = spawn(
      "flock",
      [
        join(this.dir, "lock"),
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o size=64m npf-podman /var/lib && mount -t tmpfs -o size=64m npf-podman /dev/shm && echo $$ && exec sleep infinity",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    this.helper = h;
    await new Promise<void>((resolve, reject) => {
      h.stdout!.once("data", (b) => {
        this.nsPid = Number.parseInt(String(b), 10);
        resolve();
      });
      h.once("exit", (code) => reject(new Error(`podman's mount namespace helper exited ${code}`)));
    });
  }

  private argv(args: readonly string[]): string[] {
    const d = this.dir;
    return [
      `--mount=/proc/${this.nsPid}/ns/mnt`,
      "--",
      "podman",
      `--root=${d}/root`,
      `--runroot=${d}/run`,
      `--tmpdir=${d}/tmp`,
      "--storage-driver=overlay",
      "--cgroup-manager=cgroupfs",
      ...args,
    ];
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, CONTAINERS_CONF: join(this.dir, "containers.conf") };
  }

  /** Runs podman to completion; stdout and stderr together. */
  run(args: readonly string[], timeoutMs = 120_000): Promise<Result> {
    return new Promise((resolve) => {
      const p = spawn("nsenter", this.argv(args), {
        env: this.env(),
        stdio: ["ignore", "pipe", "pipe"],
        timeout: timeoutMs,
      });
      let out = "";
      p.stdout!.on("data", (b) => {
        out += String(b);
      });
      p.stderr!.on("data", (b) => {
        out += String(b);
      });
      p.once("close", (code) => resolve({ code, out }));
    });
  }

  /** Runs podman synchronously (for failure messages, e.g. a container's log); its output. */
  sync(args: readonly string[]): string {
    const r = spawnSync("nsenter", this.argv(args), {
      env: this.env(),
      encoding: "utf8",
      timeout: 30_000,
    });
    return `${r.stdout}${r.stderr}`;
  }

  /** Runs a command of this machine in podman's mount namespace (e.g. to read a mounted image). */
  inNamespace(argv: readonly string[]): string {
    const r = spawnSync("nsenter", [`--mount=/proc/${this.nsPid}/ns/mnt`, "--", ...argv], {
      encoding: "utf8",
    });
    return `${r.stdout}${r.stderr}`;
  }

  /** Like run, but fails with podman's output unless it exits 0. */
  async ok(args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args.join(" ")}: exit ${r.code}\n${r.out}`);
    return r.out;
  }

  /** Removes every container, then the namespace, the storage and the cgroups. */
  async destroy(): Promise<void> {
    if (this.helper?.exitCode === null) {
      await this.run(["rm", "--all", "--force", "--time", "0"]);
      process.kill(this.nsPid, "SIGKILL");
      this.helper.kill("SIGKILL");
    }
    if (this.dir) removeRun(this.dir);
  }
}

/** A run's directory and cgroups. The overlay mounts lived in its helper's namespace only. */
function removeRun(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  for (const h of readdirSync("/sys/fs/cgroup")) removeTree(join("/sys/fs/cgroup", h, cgroupOf(dir)));
}

/** Removes what killed runs left: directories whose lock nobody holds (or, lockless, over an hour old). */
function sweepStale(): void {
  for (const e of readdirSync(tmpdir())) {
    if (!e.startsWith(PREFIX)) continue;
    const dir = join(tmpdir(), e);
    const lock = join(dir, "lock");
    const stale = existsSync(lock)
      ? spawnSync("flock", ["--nonblock", lock, "true"]).status === 0
      : Date.now() - statSync(dir).mtimeMs > 3_600_000;
    if (stale) removeRun(dir);
  }
}

/** rmdir of a cgroup and its (empty) children, deepest first. */
function removeTree(path: string): void {
  let entries: string[];
  try {
    entries = readdirSync(path, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) removeTree(join(path, e));
  try {
    rmdirSync(path);
  } catch {
    // still in use: its processes die with the lab's PID namespace
  }
}
