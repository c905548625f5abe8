// Every invalid configuration is a fixture file with the exact messages it must produce
// (test/fixtures/config/invalid/NAME.yaml + NAME.expected, `{file}` standing for the path).
// UPDATE_FIXTURES=1 writes missing .expected files for review; they are never overwritten silently.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { formatDiagnostic } from "../../src/config/format.js";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError, ExitCode } from "../../src/errors.js";
import { BIN, FIXTURES } from "../support/paths.js";

const DIR = `${FIXTURES}config/invalid/`;

async function messages(file: string): Promise<string> {
  try {
    await loadConfig(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.equal(err.exitCode, ExitCode.CONFIG);
    assert.ok(
      err.diagnostics.some((d) => d.severity === "error"),
      "a refused file has at least one error",
    );
    return `${err.diagnostics.map((d) => formatDiagnostic("{file}", d)).join("\n")}\n`;
  }
  assert.fail(`${file} loaded, but it is an invalid fixture`);
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml") && statSync(DIR + f).isFile())
  .sort();

describe("invalid configuration fixtures", () => {
  test("there are at least 25 invalid cases, each with its expected messages", () => {
    assert.ok(cases.length >= 25, `only ${cases.length} fixtures`);
  });

  for (const name of cases) {
    test(name, async () => {
      const actual = await messages(DIR + name);
      const expectedFile = DIR + name.replace(/\.yaml$/, ".expected");
      if (!existsSync(expectedFile) && process.env.UPDATE_FIXTURES === "1")
        writeFileSync(expectedFile, actual);
      assert.ok(existsSync(expectedFile), `missing ${expectedFile}; actual output:\n${actual}`);
      assert.equal(actual, readFileSync(expectedFile, "utf8"));
    });
  }

  test("a directory", async () => {
    assert.equal(
      await messages(`${DIR}a-directory.yaml`),
      "{file}: cannot read the configuration: it is a directory, expected a YAML file\n",
    );
  });

  test("a missing file", async () => {
    assert.equal(
      await messages(`${DIR}no-such-file.yaml`),
      "{file}: cannot read the configuration: no such file\n",
    );
  });

  test("an unreadable file (as root: run without the capabilities that bypass file permissions)", () => {
    const dir = mkdtempSync(join(tmpdir(), "npf-unreadable-"));
    try {
      const file = join(dir, "netprobify.yaml");
      writeFileSync(file, readFileSync(`${FIXTURES}config/valid/seed-example.yaml`));
      chmodSync(file, 0o000);
      // Root reads any file through CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: drop them so the check happens.
      const dropCaps =
        process.getuid?.() === 0 ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] : [];
      const argv = [...dropCaps, process.execPath, BIN, "check", file];
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
      assert.equal(r.status, 65, r.stderr);
      assert.match(r.stderr, new RegExp(`^${file}: cannot read the configuration: permission denied$`, "m"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
