// The command's output on a full disk (/dev/full: every write fails with ENOSPC, as a redirection to
// a full file system does): the exit code is the command's own, never Node's exit 1 and stack trace
// for an unhandled stream error; a probe log that cannot be created or written is exit 74, not an
// internal error. The daemon's log on a full disk is test/daemon/log-faults.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BIN, FIXTURES } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-full-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const bad = join(dir, "bad.yaml");
writeFileSync(bad, "global: [broken\n");
const good = `${FIXTURES}config/valid/seed-example.yaml`;
/** One target, this host's loopback: never probed (this host's own address), nothing leaves it. */
const local = join(dir, "local.yaml");
writeFileSync(
  local,
  "global: {probe_name: p, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0}\ngroups: {g: {}}\ntargets:\n  lo: {type: ICMPping, destination: 127.0.0.1, nb_packets: 1}\n",
);

/** Runs netprobify with standard output and/or error on /dev/full; the exit code and what stderr kept. */
function run(args: string[], full: "out" | "err" | "both") {
  const fd = openSync("/dev/full", "w");
  try {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      stdio: ["ignore", full === "err" ? "pipe" : fd, full === "out" ? "pipe" : fd],
      encoding: "utf8",
      timeout: 30_000,
    });
    return { code: r.status, stderr: r.stderr ?? "" };
  } finally {
    closeSync(fd);
  }
}

describe("output on a full disk", () => {
  test("check: 0 for a valid file, 65 for a refused one, whichever stream cannot be written", () => {
    for (const full of ["out", "err", "both"] as const) {
      assert.equal(run(["check", good], full).code, 0, `valid, ${full} full`);
      assert.equal(run(["check", "--json", good], full).code, 0, `valid --json, ${full} full`);
      const r = run(["check", bad], full);
      assert.equal(r.code, 65, `refused, ${full} full`);
      assert.doesNotMatch(r.stderr, /Unhandled 'error' event|ENOSPC/);
    }
  });

  test("the daemon refusing its configuration at start-up: 65; --version and a usage error keep theirs", () => {
    assert.equal(run([bad], "err").code, 65);
    assert.equal(run(["run", bad], "both").code, 65);
    assert.equal(run(["--version"], "out").code, 0);
    assert.equal(run(["--bogus"], "err").code, 64);
  });

  test("run --once --probe-log: a file that cannot be created is exit 74 before anything is probed", () => {
    const r = spawnSync(
      process.execPath,
      [BIN, "run", "--once", "--probe-log", join(dir, "missing", "probes.csv"), local],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(r.status, 74, r.stderr);
    assert.match(r.stderr, /missing\/probes\.csv: cannot be written \(ENOENT\) \[NPF_OUTPUT_FAILED\]/);
    assert.doesNotMatch(r.stderr, /internal error|^\s+at /m);
  });

  test("run --once --probe-log on a full disk: exit 74 naming the file, not an internal error (needs root)", () => {
    const r = spawnSync(process.execPath, [BIN, "run", "--once", "--probe-log", "/dev/full", local], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.status, 74, r.stderr);
    assert.match(r.stderr, /\/dev\/full: cannot be written \(ENOSPC\) \[NPF_OUTPUT_FAILED\]/);
    assert.doesNotMatch(r.stderr, /internal error|^\s+at /m);
  });
});
