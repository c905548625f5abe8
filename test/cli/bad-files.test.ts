// `netprobify check` and daemon start-up on the files the YAML libraries used to throw on: exit 65
// with `file:line:col`, never 70 with a stack trace, and fast (a bomb or a 100,000-deep nesting is
// refused before any parser expands or recurses into it). Real processes; the times are printed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BIN, FIXTURES } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-bad-files-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, err: r.stderr, ms: performance.now() - t0 };
}

const INVALID = `${FIXTURES}config/invalid/`;
const FILES = [
  "yaml-unresolved-alias",
  "yaml-merge-non-map",
  "yaml-alias-bomb",
  "yaml-deep-nesting",
  "yaml-deep-block-nesting",
  "plan-ceiling",
  "timer-overflow",
];

function assertRefused(r: ReturnType<typeof run>, file: string) {
  assert.equal(r.code, 65, r.err);
  assert.match(r.err, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+ `, "m"));
  assert.doesNotMatch(r.err, /internal error|\n\s+at /);
  assert.match(r.err, /configuration refused \[NPF_CONFIG_INVALID\]\n$/);
}

describe("check and start-up on files the parsers used to throw on", () => {
  for (const name of FILES) {
    test(`${name}: check and run exit 65 with file:line:col`, () => {
      const file = `${INVALID}${name}.yaml`;
      assertRefused(run(["check", file]), file);
      assertRefused(run(["run", file]), file);
    });
  }

  test("a 100,000-deep nesting and a 9-level alias bomb are refused quickly (times printed)", (t) => {
    const deep = join(dir, "deep.yaml");
    writeFileSync(deep, `global:\n  probe_name: p\ngroups: {}\ntargets: ${"[".repeat(100_000)}\n`);
    const blockDeep = join(dir, "block-deep.yaml");
    writeFileSync(blockDeep, `global:\n  probe_name: p\ngroups: {}\ntargets:\n  ${"- ".repeat(100_000)}x\n`);
    const bomb = `${INVALID}yaml-alias-bomb.yaml`;
    for (const file of [deep, blockDeep, bomb]) {
      const r = run(["check", file]);
      assertRefused(r, file);
      t.diagnostic(`check ${file.split("/").pop()}: ${Math.round(r.ms)} ms`);
      // A process start is ~0.3 s; expanding the bomb would take minutes and gigabytes.
      assert.ok(r.ms < 30_000, `${file}: ${r.ms} ms`);
    }
  });
});
