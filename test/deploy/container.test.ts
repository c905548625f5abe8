// deploy/container/Containerfile, built and run with Debian's podman and no registry: the base images
// are root file systems made by debootstrap from Debian's packages (deploy/container/base-rootfs.sh,
// run by .ci/run outside the lab and cached), the build base gets this machine's Node (binary, npm,
// headers) on top, npm installs from this machine's npm cache. The image then runs in the lab with
// --cap-drop all --cap-add NET_RAW on the lab's network, probes its targets and is scraped.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { REPO } from "../support/paths.js";
import { addedProbed, inventoryProbed, probesAnswered, writeConfigDir } from "./lib.js";
import { baseTarball, Podman } from "./podman.js";

const IMAGE = "localhost/netprobify-test/netprobify";
const PORT = 19132;

/** The directory Node is installed under (bin/node, include/node, lib/node_modules/npm). */
function nodePrefix(): string {
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  for (const f of ["include/node/node_api.h", "lib/node_modules/npm/bin/npm-cli.js"])
    assert.ok(
      existsSync(join(prefix, f)),
      `this Node has no ${prefix}/${f}: the build base needs Node's headers and npm`,
    );
  return prefix;
}

describe("container: built from Debian's packages with podman, probing the lab with CAP_NET_RAW alone (needs root)", () => {
  const podman = new Podman();
  let lab: Lab;
  let etc: string;
  const timings: string[] = [];
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const r = await f();
    timings.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };

  before(async () => {
    const bases = { runtime: baseTarball("runtime"), build: baseTarball("build") };
    await podman.start();
    lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
    const d = podman.dir;
    await timed("import of both bases", async () => {
      await podman.ok(["import", "--quiet", bases.runtime, "localhost/netprobify-test/runtime-base"]);
      await podman.ok(["import", "--quiet", bases.build, "localhost/netprobify-test/build-rootfs"]);
    });
    // The build base: Debian with the toolchain, plus this machine's Node where the official images have it.
    const node = nodePrefix();
    const ctx = join(d, "node-layer");
    for (const sub of ["bin", "include", "lib/node_modules"]) mkdirSync(join(ctx, sub), { recursive: true });
    cpSync(realpathSync(process.execPath), join(ctx, "bin/node"));
    cpSync(join(node, "include/node"), join(ctx, "include/node"), { recursive: true });
    cpSync(join(node, "lib/node_modules/npm"), join(ctx, "lib/node_modules/npm"), { recursive: true });
    symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(ctx, "bin/npm"));
    symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(ctx, "bin/npx"));
    writeFileSync(
      join(d, "Containerfile.node"),
      "FROM localhost/netprobify-test/build-rootfs\nCOPY . /usr/local/\n",
    );
    await timed("node layer", () =>
      podman.ok([
        "build",
        "--quiet",
        "--pull=never",
        "--network=host",
        `--cgroup-parent=${podman.cgroupParent}`,
        "-f",
        join(d, "Containerfile.node"),
        "-t",
        "localhost/netprobify-test/build-base",
        ctx,
      ]),
    );
    // npm ci inside the build stage reads this machine's npm cache, offline: the lab has no route out,
    // and the lock file holds no tarball URLs, so npm would ask the registry for each package's
    // metadata first and fall back to the cache only after its retries (2 minutes).
    const npmCache = spawnSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).stdout.trim();
    cpSync(join(npmCache, "_cacache"), join(d, "npm/_cacache"), { recursive: true });
    writeFileSync(join(d, "npmrc"), "offline=true\n");
    await timed("podman build", () =>
      podman.ok(
        [
          "build",
          "--pull=never",
          "--network=host",
          `--cgroup-parent=${podman.cgroupParent}`,
          `--volume=${d}/npm:/root/.npm`,
          `--volume=${d}/npmrc:/root/.npmrc:ro`,
          "--build-arg=BASE=localhost/netprobify-test/runtime-base",
          "--build-arg=BUILD_BASE=localhost/netprobify-test/build-base",
          "-f",
          join(REPO, "deploy/container/Containerfile"),
          "-t",
          IMAGE,
          REPO,
        ],
        900_000,
      ),
    );
    etc = join(d, "etc");
    writeConfigDir(etc, lab, PORT);
  });
  after(async () => {
    await podman.destroy();
    await lab?.destroy();
  });

  const runArgs = (...caps: string[]) => [
    "--pull=never",
    "--network=host",
    "--cgroups=no-conmon",
    `--cgroup-parent=${podman.cgroupParent}`,
    "--cap-drop=all",
    ...caps,
    `--volume=${etc}:/etc/netprobify:ro`,
  ];

  test("the runtime image: no compiler, a non-root user, the configuration in /etc/netprobify", async (t) => {
    t.diagnostic(timings.join(", "));
    const size = Number(await podman.ok(["image", "inspect", "--format={{.Size}}", IMAGE]));
    t.diagnostic(`image size ${(size / 1e6).toFixed(0)} MB`);
    const conf = JSON.parse(await podman.ok(["image", "inspect", "--format={{json .Config}}", IMAGE]));
    assert.equal(conf.User, "10001:10001");
    assert.deepEqual(conf.Cmd, ["run", "/etc/netprobify/netprobify.yaml"]);
    assert.equal(conf.Labels["org.opencontainers.image.licenses"], "Apache-2.0");
    const out = await podman.ok([
      "run",
      "--rm",
      "--pull=never",
      "--network=none",
      `--cgroup-parent=${podman.cgroupParent}`,
      "--cgroups=no-conmon",
      "--entrypoint=/bin/sh",
      IMAGE,
      "-c",
      "id -u; test -s /app/LICENSE || echo no LICENSE; find /app/dist -name '*.map'; for c in cc gcc g++ c++ make node-gyp python3; do command -v $c; done; true",
    ]);
    assert.equal(
      out,
      "10001\n",
      "only the user id: the LICENSE is there, no source map, no compiler, make, node-gyp or python on PATH",
    );
    const root = (await podman.ok(["image", "mount", IMAGE])).trim();
    try {
      const cap = podman.inNamespace(["getcap", `${root}/usr/local/bin/node`]);
      assert.match(cap, /\/usr\/local\/bin\/node cap_net_raw=ep$/m, "node's file capability");
    } finally {
      await podman.run(["image", "unmount", IMAGE]);
    }
  });

  test("--cap-drop all --cap-add NET_RAW: CAP_NET_RAW alone, probes (and an inventory) answered and scraped, SIGHUP reloads, stop exits 0", async () => {
    await podman.ok(["run", "--detach", "--name=npf-probe", ...runArgs("--cap-add=NET_RAW"), IMAGE]);
    const context = () => `container log:\n${podman.sync(["logs", "npf-probe"])}`;
    try {
      await probesAnswered(PORT, context, 30_000);
      await inventoryProbed(PORT, context);
      const pid = (await podman.ok(["inspect", "--format={{.State.Pid}}", "npf-probe"])).trim();
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
      for (const set of ["CapEff", "CapPrm", "CapBnd"])
        assert.match(status, new RegExp(`^${set}:\\s+0+2000$`, "m"), `${set}: CAP_NET_RAW (bit 13) alone`);
      writeConfigDir(etc, lab, PORT, true);
      await podman.ok(["kill", "--signal=HUP", "npf-probe"]);
      await addedProbed(PORT, context);
      await podman.ok(["stop", "--time=20", "npf-probe"]);
      assert.equal((await podman.ok(["inspect", "--format={{.State.ExitCode}}", "npf-probe"])).trim(), "0");
    } finally {
      await podman.run(["rm", "--force", "--time=0", "npf-probe"]);
      writeConfigDir(etc, lab, PORT);
    }
  });

  // Docker, containerd and CRI-O (Kubernetes) do not raise added capabilities into the ambient set of
  // a non-root user: there the image runs as root with only these capabilities and drops to its user.
  test("as root with NET_RAW, SETUID, SETGID only, `run --user netprobify`: drops to 10001 with no capability, probes answered", async () => {
    await podman.ok([
      "run",
      "--detach",
      "--name=npf-drop",
      "--user=0",
      ...runArgs("--cap-add=NET_RAW", "--cap-add=SETUID", "--cap-add=SETGID"),
      IMAGE,
      "run",
      "--user",
      "netprobify",
      "/etc/netprobify/netprobify.yaml",
    ]);
    try {
      await probesAnswered(PORT, () => `container log:\n${podman.sync(["logs", "npf-drop"])}`, 30_000);
      const pid = (await podman.ok(["inspect", "--format={{.State.Pid}}", "npf-drop"])).trim();
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
      assert.match(status, /^CapEff:\s+0+$/m, "no capability left");
      await podman.ok(["stop", "--time=20", "npf-drop"]);
      assert.equal((await podman.ok(["inspect", "--format={{.State.ExitCode}}", "npf-drop"])).trim(), "0");
    } finally {
      await podman.run(["rm", "--force", "--time=0", "npf-drop"]);
    }
  });

  // Kubernetes runs a non-root container with NET_RAW in its bounding and permitted sets, no ambient
  // capability and, with allowPrivilegeEscalation: false, no_new_privs (deploy/kubernetes): setpriv,
  // started as root in the container, starts netprobify exactly so; node's file capability does the rest.
  test("as Kubernetes runs it (uid 10001, no ambient capability, no_new_privs): CAP_NET_RAW from node's file capability, probes answered", async () => {
    await podman.ok([
      "run",
      "--detach",
      "--name=npf-k8s",
      "--user=0",
      ...runArgs("--cap-add=NET_RAW", "--cap-add=SETUID", "--cap-add=SETGID", "--cap-add=SETPCAP"),
      "--entrypoint=setpriv",
      IMAGE,
      ...["--reuid=10001", "--regid=10001", "--clear-groups", "--inh-caps=-all", "--ambient-caps=-all"],
      ...["--bounding-set=-all,+net_raw", "--no-new-privs", "/usr/local/bin/node", "/app/bin/netprobify.js"],
      ...["run", "/etc/netprobify/netprobify.yaml"],
    ]);
    try {
      await probesAnswered(PORT, () => `container log:\n${podman.sync(["logs", "npf-k8s"])}`, 30_000);
      const pid = (await podman.ok(["inspect", "--format={{.State.Pid}}", "npf-k8s"])).trim();
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.match(status, /^CapAmb:\s+0+$/m, "no ambient capability");
      assert.match(status, /^CapEff:\s+0+2000$/m, "CAP_NET_RAW, from the file");
    } finally {
      await podman.run(["rm", "--force", "--time=0", "npf-k8s"]);
    }
  });

  test("--cap-drop all: the kernel refuses to start node, whose file capability is outside the bounding set", async () => {
    const r = await podman.run(["run", "--rm", ...runArgs(), IMAGE]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /operation not permitted/i);
  });
});
