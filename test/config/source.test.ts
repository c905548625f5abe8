// The configuration's two YAML readers agree: js-yaml (YAML 1.1 schema) gives the data, the `yaml`
// library's positioned document gives line and column when a diagnostic needs them. On every
// fixture and on the YAML 1.1 scalars that differ from YAML 1.2, both give the same data; where
// js-yaml refuses a text, the positioned parser's messages are used.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { describe, test } from "node:test";
import { parseConfigSource, parsePositioned } from "../../src/config/source.js";
import { FIXTURES, REPO } from "../support/paths.js";

const files = [`${FIXTURES}config/valid/`, `${FIXTURES}config/invalid/`, `${REPO}examples/`].flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && statSync(dir + f).isFile())
    .map((f) => dir + f),
);

describe("configuration source: fast data, positions on demand", () => {
  test("both readers give the same data and diagnostics for every fixture", () => {
    assert.ok(files.length > 40, `${files.length} fixtures`);
    for (const f of files) {
      const text = readFileSync(f, "utf8");
      const fast = parseConfigSource(f, text);
      const slow = parsePositioned(f, text);
      assert.deepEqual(fast.data, slow.data, f);
      assert.deepEqual(fast.diagnostics, slow.diagnostics, f);
    }
  });

  test("YAML 1.1 scalars, merges and anchors read as PyYAML reads them", () => {
    const text = `global:
  a: yes
  b: Off
  c: 0777
  d: 0x1F
  e: 1_000
  f: 1:20
  g: ~
  h: '012'
  i: .inf
base: &b {x: 1, q: 1}
m:
  <<: *b
  q: 2
`;
    const fast = parseConfigSource("t.yaml", text).data as Record<string, Record<string, unknown>>;
    assert.deepEqual(fast.global, {
      a: true,
      b: false,
      c: 511,
      d: 31,
      e: 1000,
      f: 80,
      g: null,
      h: "012",
      i: Infinity,
    });
    assert.deepEqual(
      fast.m,
      { x: 1, q: 2 },
      "an explicit key overrides a merged one (js-yaml refuses it: the positioned reading stands)",
    );
    assert.deepEqual(fast, parsePositioned("t.yaml", text).data);
    // PyYAML reads a float only with a dot: 1e3 is a string there, and here.
    assert.equal(
      (parseConfigSource("t.yaml", "global: {t: 1e3}\n").data as { global: { t: unknown } }).global.t,
      "1e3",
    );
  });

  test("positions are found on demand; refused texts keep the positioned parser's messages", () => {
    const src = parseConfigSource("t.yaml", "global:\n  probe_name: x\n  interval: 30\n");
    assert.deepEqual(src.diagnostics, []);
    assert.deepEqual(src.locate(["global", "interval"]), { line: 3, col: 13 });
    assert.deepEqual(src.locateKey(["global", "interval"]), { line: 3, col: 3 });
    const dup = parseConfigSource("t.yaml", "global:\n  a: 1\n  a: 2\n");
    assert.equal(dup.diagnostics[0]!.rule, "duplicate-key");
    assert.match(dup.diagnostics[0]!.message, /already defined at line 2/);
    const bad = parseConfigSource("t.yaml", "global: [unclosed\n");
    assert.equal(bad.diagnostics[0]!.rule, "yaml-syntax");
    assert.equal(parseConfigSource("t.yaml", "").diagnostics[0]!.rule, "empty-file");
  });
});
