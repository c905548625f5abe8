// The prebuilt addon of this process's architecture (prebuilds/linux-<arch>/, what the npm package
// ships) loads without any source build: node-gyp-build is told to look at prebuilds only. `npm
// test` runs it in this machine's Node; .ci/run also runs this file in an arm64 Node under
// qemu-user, which is how the cross-compiled linux-arm64 prebuild is tested (qemu-user cannot run
// probes: it does not emulate SO_TIMESTAMPING).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { REPO } from "../support/paths.js";

const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

test(`the prebuilt addon for linux-${process.arch} loads alone and matches the TypeScript layouts`, async () => {
  const dir = join(REPO, "prebuilds", `linux-${process.arch}`);
  if (!existsSync(dir)) {
    const r = spawnSync("npm", ["run", "native:prebuild"], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
  }
  process.env.PREBUILDS_ONLY = "1"; // read by node-gyp-build when rawsock.js first loads it
  const { addonPath, loadBinding, MAX_BATCH } = await import("../../src/native/rawsock.js");
  const file = join(dir, "netprobify.glibc.node");
  assert.equal(addonPath(), file);
  assert.equal(readFileSync(file).readUInt16LE(18), ELF_MACHINE[process.arch], "ELF machine");
  const b = loadBinding(); // throws NPF_NATIVE_UNAVAILABLE unless every layout constant agrees
  assert.equal(b.MAX_BATCH, MAX_BATCH);
  assert.equal(typeof b.RawSocket, "function");
});
