// NETPROBIFY_SHARD_INDEX (src/config/shard-env.ts), as a StatefulSet pod passes its ordinal
// (deploy/kubernetes/): `netprobify check` run with the variable reports the index it replaced, and
// refuses values that do not fit the file's count, with the variable named in the message.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BIN } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-shard-env-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(shard: string): string {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    f,
    `global: {probe_name: k8s, interval: 30, nb_proc: 1, logging_level: INFO, dns_update_interval: 0, prometheus_port: 9100${shard}}
groups: {g: {}}
targets:
  t: {type: ICMPping, destination: 198.18.1.1}
`,
  );
  return f;
}

function check(f: string, value: string | undefined, json = true) {
  const env = { ...process.env };
  delete env.NETPROBIFY_SHARD_INDEX;
  if (value !== undefined) env.NETPROBIFY_SHARD_INDEX = value;
  return spawnSync(process.execPath, [BIN, "check", ...(json ? ["--json"] : []), f], {
    env,
    encoding: "utf8",
  });
}

describe("NETPROBIFY_SHARD_INDEX", () => {
  test("replaces global.shard.index; the count stays the file's; unset or empty leaves the file's", () => {
    const f = file(", shard: {index: 0, count: 3}");
    for (const [value, index] of [
      ["2", 2],
      [" 1\n", 1],
      [undefined, 0],
      ["", 0],
    ] as const) {
      const r = check(f, value);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).summary.shard,
        { index, count: 3 },
        `value ${JSON.stringify(value)}`,
      );
    }
    const human = check(f, "2", false);
    assert.match(human.stdout, /^shard: index 2 of 0\.\.2 \(inventory targets split over 3 instances\)$/m);
  });

  test("the file may leave the index to the variable", () => {
    const f = file(", shard: {count: 4}");
    const r = check(f, "3");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).summary.shard, { index: 3, count: 4 });
    assert.equal(check(f, undefined).status, 65, "without it the index is missing");
  });

  test("an index not below the count, not a number, or without global.shard refuses the file (65)", () => {
    const cases: [string, string, RegExp][] = [
      [
        ", shard: {index: 0, count: 3}",
        "3",
        /NETPROBIFY_SHARD_INDEX=3 is not below global\.shard\.count \(3\)/,
      ],
      [
        ", shard: {index: 0, count: 3}",
        "web-2",
        /NETPROBIFY_SHARD_INDEX must be a shard index \(0, 1, \.\.\.\), got "web-2"/,
      ],
      [", shard: {index: 0, count: 3}", "-1", /must be a shard index/],
      ["", "1", /NETPROBIFY_SHARD_INDEX=1 needs global\.shard in the file/],
    ];
    for (const [shard, value, message] of cases) {
      const r = check(file(shard), value, false);
      assert.equal(r.status, 65, `${value}: ${r.stdout}`);
      assert.match(r.stderr, message);
    }
  });
});
