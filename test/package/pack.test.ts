// The npm package as a user gets it: what `npm pack` puts in (prebuilt binaries built from the
// sources by prepack, examples, no tests, no source maps), and that the packed tarball, installed
// with `--ignore-scripts` by a PATH holding no compiler, probes lab targets with its prebuilt addon.
// Both build the prebuilds (native/prebuild.sh: x64 and, cross-compiled, arm64). Needs root (lab).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { REPO } from "../support/paths.js";

interface PackResult {
  filename: string;
  files: { path: string; mode: number }[];
}

function pack(args: string[]): PackResult {
  const r = spawnSync("npm", ["pack", "--json", ...args], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  // prepack's output (the prebuild's listing) goes to stderr; stdout is npm's JSON alone.
  return (JSON.parse(r.stdout) as PackResult[])[0]!;
}

/**
 * An application depending on the packed tarball alone, with a lockfile holding the tarball and the
 * repository's locked production dependencies (what `npm install TARBALL` would pick today).
 */
function appLock(prefix: string, tarball: string): void {
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    "": { dependencies: { netprobify: spec } },
    "node_modules/netprobify": {
      version: pkg.version,
      resolved: spec,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
      os: pkg.os,
      hasInstallScript: true,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === "" || entry.dev) continue;
    packages[path] = entry;
  }
  const app = { name: "app", private: true, dependencies: { netprobify: spec } };
  writeFileSync(join(prefix, "package.json"), JSON.stringify(app));
  writeFileSync(
    join(prefix, "package-lock.json"),
    JSON.stringify({ ...app, lockfileVersion: 3, requires: true, packages }),
  );
}

/** ELF e_machine of a binary: 62 x86-64, 183 AArch64. */
function elfMachine(file: string): number {
  const b = readFileSync(file);
  assert.equal(b.subarray(0, 4).toString("latin1"), "\x7fELF", `${file} is not an ELF file`);
  return b.readUInt16LE(18);
}

const PREBUILT = ["netprobify.glibc.node", "lab-impair", "lab-responder", "lab-sethash"];
const COMPILERS = ["gcc", "g++", "cc", "c++", "make", "python3", "python"];

describe("npm pack --dry-run: the package's content", () => {
  test("prebuilds for linux-x64 and linux-arm64, examples, alert rules, dashboard, unit and manifests, the source-build fallback; no tests, sources or maps", () => {
    const { files } = pack(["--dry-run"]);
    const paths = new Set(files.map((f) => f.path));
    for (const f of [
      "package.json",
      "README.md",
      "bin/netprobify.js",
      "dist/src/cli/main.js",
      "dist/src/native/rawsock.js",
      ...["x64", "arm64"].flatMap((a) => PREBUILT.map((b) => `prebuilds/linux-${a}/${b}`)),
      "examples/netprobify.yaml",
      "examples/example.yaml",
      "binding.gyp",
      "native/addon.c",
      "native/rawsock.h",
      "src/lab/enter.sh",
      "src/lab/impair/impair.c",
      "docs/deployment.md",
      "LICENSE",
      "prometheus/alerts.yml",
      "prometheus/recording.yml",
      "grafana/netprobify.json",
      "deploy/systemd/netprobify.service",
      "deploy/container/Containerfile",
    ])
      assert.ok(paths.has(f), `${f} is not in the package`);
    for (const p of paths) {
      assert.ok(!p.endsWith(".map"), `source map ${p} is in the package`);
      assert.ok(!p.endsWith(".ts"), `TypeScript source ${p} is in the package`);
      assert.ok(
        !/^(test|bench|build|node_modules|dist\/test|dist\/bench|\.ci)\//.test(p),
        `${p} is in the package`,
      );
    }
    for (const a of ["x64", "arm64"])
      for (const b of PREBUILT) {
        const f = files.find((x) => x.path === `prebuilds/linux-${a}/${b}`)!;
        assert.equal(f.mode & 0o111, 0o111, `${f.path} is executable`);
      }
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
    assert.deepEqual(pkg.os, ["linux"]);
    assert.equal(pkg.scripts.install, "node-gyp-build", "source build only when no prebuild loads");
    assert.ok(pkg.dependencies["node-gyp-build"]);
    assert.equal(pkg.engines.node, "^20 || ^22 || ^24", "the Node versions .ci/run tests");
  });
});

describe("the packed tarball, installed without a compiler, probes (needs root)", () => {
  let lab: Lab;
  let dir: string;
  before(async () => {
    lab = await createLab({ targets: [{ name: "web", tcpPorts: [443] }] });
    dir = mkdtempSync(join(tmpdir(), "npf-pack-"));
  });
  after(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("npm pack, npm ci --ignore-scripts --offline of an app depending on it, run --once: answered, with the prebuilt addon", () => {
    const npmCli = realpathSync(execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim());
    const { filename } = pack(["--pack-destination", dir]);
    const tarball = join(dir, filename);
    // A PATH with node and a shell only: no compiler, make or python can be found.
    const bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    symlinkSync("/bin/sh", join(bin, "sh"));
    const env = { ...process.env, PATH: bin };
    for (const c of COMPILERS) {
      const r = spawnSync("/bin/sh", ["-c", `command -v ${c}`], { env, encoding: "utf8" });
      assert.notEqual(r.status, 0, `${c} is reachable: ${r.stdout}`);
    }
    const prefix = join(dir, "app");
    mkdirSync(prefix);
    appLock(prefix, tarball);
    // --offline: the lab has no route out. The lockfile pins the dependencies to the repository's, so
    // npm takes them from its cache by integrity (`npm ci` put them there) and resolves nothing.
    const inst = spawnSync(
      process.execPath,
      [npmCli, "ci", "--offline", "--ignore-scripts", "--no-audit", "--no-fund"],
      { cwd: prefix, env, encoding: "utf8", timeout: 300_000 },
    );
    assert.equal(inst.status, 0, inst.stderr);
    const pkgDir = join(prefix, "node_modules/netprobify");
    assert.ok(!existsSync(join(pkgDir, "build")), "nothing was built at install");
    assert.equal(elfMachine(join(pkgDir, "prebuilds/linux-x64/netprobify.glibc.node")), 62);
    for (const b of PREBUILT) assert.equal(elfMachine(join(pkgDir, "prebuilds/linux-arm64", b)), 183, b);

    // The installed package resolves its addon and lab helpers to the prebuilds.
    const where = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const n = await import(${JSON.stringify(join(pkgDir, "dist/src/native/rawsock.js"))});
         const l = await import(${JSON.stringify(join(pkgDir, "dist/src/lab/native.js"))});
         n.loadBinding();
         console.log(JSON.stringify([n.addonPath(), await l.helperBinary("impair"), await l.helperBinary("responder"), await l.helperBinary("sethash")]));`,
      ],
      { env, encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(where.status, 0, where.stderr);
    const arch = `${process.platform}-${process.arch}`;
    assert.deepEqual(
      JSON.parse(where.stdout),
      PREBUILT.map((b) => join(realpathSync(pkgDir), "prebuilds", arch, b)),
    );
    const helper = spawnSync(join(pkgDir, "prebuilds", arch, "lab-responder"), [], { encoding: "utf8" });
    assert.equal(helper.status, 64, "the prebuilt helper runs (usage error without arguments)");

    const t = lab.target("web");
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `
global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0}
groups:
  g: {src_port_a: 62000, src_port_z: 62003}
targets:
  https: {type: TCPsyn, destination: "${t.v4}", dst_port: 443, nb_packets: 10}
  ping6: {type: ICMPping, destination: "${t.v6}", nb_packets: 10}
`,
    );
    const run = spawnSync(
      process.execPath,
      [join(prefix, "node_modules/.bin/netprobify"), "run", "--once", "--json", file],
      { env, encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const j = JSON.parse(run.stdout);
    assert.deepEqual([j.probes, j.sent, j.lost, j.failed], [20, 20, 0, 0], run.stdout);
    for (const s of j.series) assert.equal(s.rttSamples, 10, `${s.target}: every probe answered and timed`);
  });
});
