// The netprobify command as a user runs it: a real process, real files, exit codes as documented.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { BIN, FIXTURES } from "../support/paths.js";

function run(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("netprobify command", () => {
  test("check on the seed example: exit 0 and a summary of the probing it implies", () => {
    const r = run(["check", `${FIXTURES}config/valid/seed-example.yaml`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /valid\n/);
    assert.match(r.out, /targets: 3 \(3 enabled, 0 disabled\)/);
    assert.match(r.out, /by type: {3}TCPsyn 3/);
    assert.match(
      r.out,
      /probes per iteration: 300\n {2}memory: about 1 MB \(ceiling 5000000 probes, about 750 MB\)\n/,
    );
    assert.match(r.out, /probe rate: 10\.00 probes\/s \(300 every 30 s\)/);
    assert.equal(r.err, "");
  });

  test("check --json gives the same summary for scripts", () => {
    const r = run(["check", "--json", `${FIXTURES}config/valid/every-key.yaml`]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.equal(j.valid, true);
    assert.equal(j.summary.probes_per_iteration, 6454);
    assert.equal(j.summary.max_probes_per_iteration, 1_000_000);
    assert.deepEqual(j.summary.by_group, { standard: 6, legacy: 4, ecmp: 2, fixed: 1 });
    assert.equal(j.summary.addresses, 774);
    assert.deepEqual(
      j.warnings.map((w: { rule: string }) => w.rule),
      ["src-ip-deprecated", "iperf-unsupported"],
    );
  });

  test("check on an invalid file: exit 65, every error on stderr with file:line:col", () => {
    const file = `${FIXTURES}config/invalid/many-errors-at-once.yaml`;
    const r = run(["check", file]);
    assert.equal(r.code, 65);
    assert.equal(r.out, "");
    const lines = r.err.trim().split("\n");
    assert.equal(lines.length, 6);
    assert.equal(lines[1], `${file}:6:20 global.prometheus_port: expected an integer 1..65535, got 99999`);
    assert.match(lines[5]!, /5 errors, configuration refused \[NPF_CONFIG_INVALID\]$/);
  });

  test("the default configuration is ./netprobify.yaml", () => {
    const dir = mkdtempSync(join(tmpdir(), "npf-cli-"));
    try {
      assert.equal(run(["check"], dir).code, 65);
      assert.match(
        run(["check"], dir).err,
        /^netprobify\.yaml: cannot read the configuration: no such file$/m,
      );
      copyFileSync(`${FIXTURES}config/valid/seed-example.yaml`, join(dir, "netprobify.yaml"));
      assert.equal(run(["check"], dir).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the original invocation `netprobify CONFIG` validates the file first (65 when invalid)", () => {
    assert.equal(run([`${FIXTURES}config/invalid/empty-file.yaml`]).code, 65);
  });

  test("--help and --version exit 0", () => {
    const h = run(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.out, /netprobify check/);
    const v = run(["--version"]);
    assert.equal(v.code, 0);
    assert.match(v.out, /^\d+\.\d+\.\d+\n$/);
  });

  test("usage errors exit 64", () => {
    assert.equal(run(["--nope"]).code, 64);
    assert.equal(run(["check", "a.yaml", "b.yaml"]).code, 64);
    assert.match(run(["--nope"]).err, /Try 'netprobify --help'/);
  });
});
