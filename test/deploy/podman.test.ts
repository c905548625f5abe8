// The podman helper of the deployment tests cleans up after runs that were killed before their
// `after` hook: their directories (gigabytes of image layers) and cgroups go at the next start,
// while a directory whose run is still alive (its lock held) stays.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
import { Podman } from "./podman.js";

test("Podman.start removes killed runs' directories and cgroups, not live ones (needs root)", async () => {
  const killed = mkdtempSync(join(tmpdir(), "npf-podman-"));
  writeFileSync(join(killed, "lock"), "");
  const cgroup = `/sys/fs/cgroup/pids/netprobify-test-${basename(killed)}`;
  mkdirSync(join(cgroup, "libpod-0"), { recursive: true });
  const live = mkdtempSync(join(tmpdir(), "npf-podman-"));
  writeFileSync(join(live, "lock"), "");
  // Its own process group: flock runs sleep as a child, which must go with it.
  const holder = spawn("flock", [join(live, "lock"), "sleep", "infinity"], {
    stdio: "ignore",
    detached: true,
  });
  const podman = new Podman();
  try {
    // flock has the lock once it runs sleep: wait for that.
    const children = () => spawnSync("pgrep", ["-a", "-P", String(holder.pid)], { encoding: "utf8" }).stdout;
    for (let k = 0; k < 250 && !/sleep/.test(children()); k++) await new Promise((r) => setTimeout(r, 20));
    assert.match(children(), /sleep/, "flock holds the lock");
    await podman.start();
    assert.equal(existsSync(killed), false, "the killed run's directory");
    assert.equal(existsSync(cgroup), false, "the killed run's cgroup");
    assert.equal(existsSync(live), true, "the live run's directory");
  } finally {
    await podman.destroy();
    process.kill(-holder.pid!, "SIGKILL");
    rmSync(live, { recursive: true, force: true });
    rmSync(killed, { recursive: true, force: true });
  }
  assert.equal(existsSync(podman.dir), false);
});
