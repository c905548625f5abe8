// `--web.config.file FILE` on the command line: a bad file stops the daemon before anything is
// opened (exit 65, `file:line:col key: message`), `check` validates it with the configuration, and
// the flag is refused where it means nothing (--once, demo).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BIN, FIXTURES } from "../support/paths.js";

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const SEED = `${FIXTURES}config/valid/seed-example.yaml`;

describe("--web.config.file", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "npf-webflag-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a bad file: exit 65 with file, line, key, before the daemon opens anything", () => {
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "basic_auth_users:\n  prom: s3cret\n");
    const r = run(["run", "--web.config.file", bad, SEED]);
    assert.equal(r.code, 65);
    const lines = r.err.trim().split("\n");
    assert.match(
      lines[0]!,
      new RegExp(
        `^${bad.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:2:9 basic_auth_users\\.prom: expected a bcrypt hash`,
      ),
    );
    assert.match(lines.at(-1)!, /1 error, configuration refused \[NPF_CONFIG_INVALID\]$/);
    assert.doesNotMatch(r.err, /netprobify started|serving metrics/);
  });

  test("check validates it with the configuration", () => {
    const good = join(dir, "good.yml");
    writeFileSync(
      good,
      'basic_auth_users:\n  prom: "$2y$10$IP7YRvE95IgdZa9oZHmJLui0eFiZSFEA1z5M/ywTreEVWxtyIkosq"\n',
    );
    const r = run(["check", "--web.config.file", good, SEED]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /good\.yml: valid web configuration/);
    const missing = run(["check", "--web.config.file", join(dir, "nope.yml"), SEED]);
    assert.equal(missing.code, 65);
    assert.match(missing.err, /nope\.yml: cannot read the configuration: no such file/);
  });

  test("refused with --once, with demo, and without a file name; listed in --help", () => {
    assert.equal(run(["run", "--once", "--web.config.file", "w.yml", SEED]).code, 64);
    assert.equal(run(["demo", "--web.config.file", "w.yml"]).code, 64);
    assert.equal(run(["run", "--web.config.file=", SEED]).code, 64);
    assert.match(run(["--help"]).out, /--web\.config\.file FILE/);
  });
});
