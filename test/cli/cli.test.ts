// The netprobify command as a user runs it: a real process, real files, exit codes as documented.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { BIN, FIXTURES, REPO } from "../support/paths.js";

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

  test("a command's modules load when it runs: the CLI and `check` load no HTTP, TLS, zlib or workers", () => {
    // The daemon's (its server, metrics, the web page) stay out of `run --once` and `check`: 7-12 MB
    // of resident memory at start-up (docs/performance.md, memory).
    const code = `
      const { main } = await import(${JSON.stringify(pathToFileURL(`${REPO}dist/src/cli/main.js`).href)});
      const loaded = () => process.moduleLoadList.filter((m) => /^NativeModule (http|https|tls|zlib|worker_threads)$/.test(m));
      const first = loaded();
      const exit = await main(["check", ${JSON.stringify(`${FIXTURES}config/valid/seed-example.yaml`)}], { out() {}, err() {} });
      console.log(JSON.stringify({ first, exit, after: loaded() }));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { first: [], exit: 0, after: [] });
  });

  test("the command keeps V8's young generation at its first size; a semi-space flag given to Node rules", () => {
    // bin/netprobify.js sets --semi-space-growth-factor=1 before the CLI loads (docs/performance.md,
    // memory); without it the new space grew to 16 MB checking the seed example alone.
    const dir = mkdtempSync(join(tmpdir(), "netprobify-young-"));
    try {
      const hook = join(dir, "hook.mjs");
      writeFileSync(
        hook,
        `import v8 from "node:v8";\nprocess.on("exit", () => process.stderr.write("NEW " + v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size + "\\n"));\n`,
      );
      const newSpace = (env: NodeJS.ProcessEnv) => {
        const r = spawnSync(
          process.execPath,
          ["--import", pathToFileURL(hook).href, BIN, "check", `${FIXTURES}config/valid/seed-example.yaml`],
          { encoding: "utf8", env: { ...process.env, ...env } },
        );
        assert.equal(r.status, 0, r.stderr);
        return Number(/NEW (\d+)/.exec(r.stderr)![1]);
      };
      assert.ok(newSpace({ NODE_OPTIONS: "" }) <= 2 << 20, "two 1 MB semi-spaces");
      assert.ok(
        newSpace({ NODE_OPTIONS: "--max-semi-space-size=16" }) > 2 << 20,
        "the user's flag, V8's growth",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

  test("no CONFIG: ./netprobify.yaml, else the original's ./config.yaml, and it says which", () => {
    const dir = mkdtempSync(join(tmpdir(), "npf-cli-"));
    try {
      const none = run(["check"], dir);
      assert.equal(none.code, 65);
      assert.equal(none.out, "");
      assert.match(none.err, /neither \.\/netprobify\.yaml nor \.\/config\.yaml/);
      assert.match(none.err, /\[NPF_CONFIG_NOT_FOUND\]\n$/);
      copyFileSync(`${FIXTURES}config/valid/seed-example.yaml`, join(dir, "config.yaml"));
      const original = run(["check"], dir);
      assert.equal(original.code, 0, original.err);
      assert.match(
        original.err,
        /reading \.\/config\.yaml \(the original netprobify's name; \.\/netprobify\.yaml does not exist\)/,
      );
      assert.match(original.out, /^config\.yaml: valid\n/);
      copyFileSync(`${FIXTURES}config/invalid/empty-file.yaml`, join(dir, "netprobify.yaml"));
      const preferred = run(["check"], dir);
      assert.equal(preferred.code, 65, "netprobify.yaml comes first");
      assert.match(preferred.err, /^netprobify: no CONFIG given: reading \.\/netprobify\.yaml$/m);
      assert.match(preferred.err, /^netprobify\.yaml:1:1 /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the daemon started without CONFIG logs which file it reads", () => {
    const dir = mkdtempSync(join(tmpdir(), "npf-cli-"));
    try {
      copyFileSync(`${FIXTURES}config/invalid/empty-file.yaml`, join(dir, "config.yaml"));
      const r = run([], dir);
      assert.equal(r.code, 65);
      const first = JSON.parse(r.err.split("\n")[0]!);
      assert.equal(first.file, "config.yaml");
      assert.match(first.msg, /no CONFIG given: reading \.\/config\.yaml/);
      assert.match(r.err, /^config\.yaml:1:1 /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("check --json on a refused file: the problems as JSON on stdout, exit 65", () => {
    const file = `${FIXTURES}config/invalid/many-errors-at-once.yaml`;
    const r = run(["check", "--json", file]);
    assert.equal(r.code, 65);
    const j = JSON.parse(r.out);
    assert.equal(j.valid, false);
    assert.equal(j.file, file);
    assert.equal(j.code, "NPF_CONFIG_INVALID");
    const count = Number(/(\d+) errors, configuration refused/.exec(r.err)?.[1]);
    assert.equal(j.errors.length, count, "the same errors as the text report");
    assert.ok(j.errors.every((e: { severity: string; pos?: unknown }) => e.severity === "error" && e.pos));
    assert.deepEqual(
      j.errors.find((e: { path: unknown[] }) => e.path.join(".") === "global.prometheus_port"),
      {
        severity: "error",
        path: ["global", "prometheus_port"],
        message: "expected an integer 1..65535, got 99999",
        rule: "schema",
        pos: { line: 6, col: 20 },
      },
    );
    const dir = mkdtempSync(join(tmpdir(), "npf-cli-"));
    try {
      const none = run(["check", "--json"], dir);
      assert.equal(none.code, 65);
      assert.deepEqual(
        { ...JSON.parse(none.out), message: "" },
        { valid: false, file: null, code: "NPF_CONFIG_NOT_FOUND", message: "", errors: [], warnings: [] },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("help and misspelt commands are not file names; an existing file still is", () => {
    for (const args of [["help"], ["help", "check"], ["--help"]]) {
      const h = run(args);
      assert.equal(h.code, 0, args.join(" "));
      assert.match(h.out, /netprobify check/);
    }
    const typo = run(["chekc"]);
    assert.equal(typo.code, 64);
    assert.match(typo.err, /^netprobify: unknown command "chekc" \(did you mean "check"\?\)/);
    assert.match(typo.err, /\[NPF_USAGE\]/);
    assert.doesNotMatch(typo.err, /cannot read the configuration/);
    assert.equal(run(["dmeo"]).code, 64);
    assert.match(
      run(["frobnicate"]).err,
      /unknown command "frobnicate"; commands: run, check, demo, help \(and no file of that name exists\)/,
    );
    // A name with a dot or a slash is a file, missing or not (65 as the original).
    assert.match(run(["missing.yaml"]).err, /^missing\.yaml: cannot read the configuration: no such file$/m);
    assert.equal(run(["missing.yaml"]).code, 65);
    const dir = mkdtempSync(join(tmpdir(), "npf-cli-"));
    try {
      copyFileSync(`${FIXTURES}config/invalid/empty-file.yaml`, join(dir, "chekc"));
      const file = run(["chekc"], dir);
      assert.equal(file.code, 65, "an existing file named like a typo is read");
      assert.match(file.err, /^chekc:1:1 /m);
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
    assert.match(
      run(["check", "a.yaml", "b.yaml"]).err,
      /^netprobify: too many arguments: a\.yaml b\.yaml \[NPF_USAGE\]\n/,
    );
  });
});
