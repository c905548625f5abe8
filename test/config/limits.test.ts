// The reading limits (src/config/limits.ts, aliases.ts): what used to escape as the YAML libraries'
// own errors (exit 70 with a stack trace, a dead daemon on reload) is a ConfigError with a position
// and a stable rule; the depth scan never refuses a real file and never lets a parser overflow.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { expandedValues, MAX_DEPTH, nestingTooDeep } from "../../src/config/limits.js";
import { loadConfigText } from "../../src/config/load.js";
import { parseConfigSource, parsePositioned } from "../../src/config/source.js";
import { locateInText } from "../../src/config/text-locate.js";
import { ConfigError } from "../../src/errors.js";
import { FIXTURES } from "../support/paths.js";

const GLOBAL = `global:
  probe_name: lab
  interval: 30
  nb_proc: 1
  logging_level: INFO
  prometheus_port: 8000
  dns_update_interval: 300
`;

/** The single error a text is refused with, as rule and line:col. */
function refusal(text: string): { rule: string; at: string; message: string } {
  try {
    loadConfigText("t.yaml", text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${(err as Error)?.stack}`);
    const d = err.diagnostics.find((x) => x.severity === "error")!;
    assert.ok(d.pos, `no position: ${d.message}`);
    return { rule: d.rule, at: `${d.pos.line}:${d.pos.col}`, message: d.message };
  }
  assert.fail("the text loaded");
}

describe("reading limits", () => {
  test("an unresolved alias is a yaml-alias error at the alias, wherever it is", () => {
    assert.deepEqual(refusal(`${GLOBAL}groups:\n  g:\n    src_ipv4: *nope\n`), {
      rule: "yaml-alias",
      at: "10:15",
      message: "unresolved alias *nope: no anchor &nope is defined before it",
    });
    // In global (where js-yaml's data path is never taken) and as a merge source.
    assert.equal(refusal("global:\n  probe_name: *nope\ngroups: {}\n").rule, "yaml-alias");
    assert.equal(refusal(`${GLOBAL}groups:\n  g:\n    <<: *nope\n`).rule, "yaml-alias");
    // An alias of the map it is in is a cycle: it expands forever.
    assert.equal(refusal(`${GLOBAL}groups: &g\n  g: *g\n`).rule, "yaml-aliases");
  });

  test("a merge key on a non-map is a yaml-merge error at its value", () => {
    assert.deepEqual(refusal(`${GLOBAL}groups:\n  g:\n    <<: 5\n`).at, "10:9");
    assert.equal(refusal(`${GLOBAL}groups:\n  g:\n    <<: 5\n`).rule, "yaml-merge");
    assert.equal(refusal(`${GLOBAL}x: &l [1]\ngroups:\n  g:\n    <<: [*l]\n`).rule, "yaml-merge");
    assert.equal(refusal(`${GLOBAL}groups:\n  g:\n    <<: [{a: 1}, "s"]\n`).rule, "yaml-merge");
  });

  test("an alias bomb is refused before it expands, pointing at its first alias", () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
    }
    const bomb = `${levels.join("\n")}\n${GLOBAL}groups: {}\n`;
    const t0 = performance.now();
    const r = refusal(bomb);
    assert.equal(r.rule, "yaml-aliases");
    assert.equal(r.at, "2:8");
    // The positioned parser refuses it too (the path taken when js-yaml refuses a file).
    const p = parsePositioned("t.yaml", `${bomb}bad: [\n`);
    assert.ok(p.diagnostics.length > 0);
    const q = parsePositioned("t.yaml", bomb);
    assert.equal(q.diagnostics[0]!.rule, "yaml-aliases");
    assert.ok(performance.now() - t0 < 30_000, "no expansion (minutes if expanded)");
  });

  test("expandedValues counts shared nodes as often as they are used, and stops past the limit", () => {
    const leaf = [1, 2, 3];
    assert.equal(expandedValues({ a: leaf, b: leaf }), 1 + 2 * 4);
    let node: unknown = leaf;
    for (let i = 0; i < 40; i++) node = [node, node];
    assert.ok(expandedValues(node, 1000) > 1000);
  });

  test("nesting deeper than the limit is refused before parsing, in flow and in block style", () => {
    const flow = refusal(`${GLOBAL}groups: {}\ntargets: ${"[".repeat(100_000)}\n`);
    assert.equal(flow.rule, "yaml-depth");
    assert.equal(flow.at, `9:${10 + MAX_DEPTH - 1}`);
    assert.equal(refusal(`${GLOBAL}groups: {}\ntargets:\n  ${"- ".repeat(100_000)}x\n`).rule, "yaml-depth");
    let indented = `${GLOBAL}groups: {}\ntargets:\n`;
    for (let i = 1; i < 300; i++) indented += `${" ".repeat(i)}k${i}:\n`;
    assert.equal(refusal(indented).rule, "yaml-depth");
    assert.equal(refusal(`${GLOBAL}groups: {}\ntargets: ${"{a: ".repeat(5000)}\n`).rule, "yaml-depth");
  });

  test("the depth estimate is never below the real depth of nested lists and maps", () => {
    for (let depth = 1; depth <= MAX_DEPTH + 5; depth++) {
      const flow = `a: ${"[".repeat(depth - 1)}1${"]".repeat(depth - 1)}\n`;
      let block = "";
      for (let i = 0; i < depth; i++) block += `${"  ".repeat(i)}${i % 2 ? "- " : ""}k${i}:\n`;
      for (const text of [flow, block]) {
        const refused = nestingTooDeep(text) !== undefined;
        if (depth > MAX_DEPTH) assert.ok(refused, `depth ${depth} not refused:\n${text.slice(0, 200)}`);
        // Nor far above it: the block text nests about 1.5 levels per line.
        if (text === flow && depth <= MAX_DEPTH) assert.ok(!refused, `flow depth ${depth} refused`);
        if (text === block && depth <= 60) assert.ok(!refused, `block depth ${depth} refused`);
      }
    }
  });

  test("quoted strings, comments and block scalars do not count as nesting", () => {
    const text = `${GLOBAL}groups: {}\ntargets:\n  t:\n    type: ICMPping\n    destination: 198.18.1.1\n    description: "${"[".repeat(500)}" # ${"{".repeat(500)}\n  u:\n    type: ICMPping\n    destination: 198.18.1.2\n    description: |\n      ${"[".repeat(500)}\n      ${"- ".repeat(500)}\n`;
    assert.equal(nestingTooDeep(text), undefined);
    assert.equal(loadConfigText("t.yaml", text).targets.size, 2);
  });

  test("no valid fixture comes near the limit, and the scan is cheap", () => {
    const dir = `${FIXTURES}config/valid/`;
    for (const f of readdirSync(dir)) {
      const text = readFileSync(dir + f, "utf8");
      assert.equal(nestingTooDeep(text, 8), undefined, f);
      assert.deepEqual(parseConfigSource(f, text).diagnostics, []);
    }
  });
});

describe("file size", () => {
  test("a file over 8 MiB, or an endless one, is refused without being read whole", async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { loadConfig } = await import("../../src/config/load.js");
    const dir = mkdtempSync(join(tmpdir(), "npf-limits-"));
    try {
      const big = join(dir, "big.yaml");
      writeFileSync(big, `${GLOBAL}groups: {}\n#${"x".repeat(9 * 1024 * 1024)}\n`);
      for (const file of [big, "/dev/zero"]) {
        await assert.rejects(loadConfig(file), (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.diagnostics[0]!.rule, "file-too-large");
          assert.deepEqual(err.diagnostics[0]!.pos, { line: 1, col: 1 });
          return true;
        });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("positions when the positioned parser cannot help", () => {
  test("a bad indentation in a long file (the yaml parser overflowed its stack) is located by js-yaml", () => {
    const lines = [...GLOBAL.trimEnd().split("\n"), ...Array(20_000).fill("  nb_proc: 1")];
    lines.splice(600, 0, " !!timestamp 2001-12-14");
    const r = refusal(`${lines.join("\n")}\ngroups: {}\n`);
    assert.equal(r.rule, "yaml-syntax");
    assert.equal(r.at, "601:2");
    assert.doesNotMatch(r.message, /call stack/);
  });

  test("locateInText follows the key path through indentation", () => {
    const text = "global:\n  interval: 1\ntargets:\n  a:\n    interval: 2\n  b:\n    - dst_port: 3\n";
    assert.deepEqual(locateInText(text, ["targets", "a", "interval"]), { line: 5, col: 5 });
    assert.deepEqual(locateInText(text, ["global", "interval"]), { line: 2, col: 3 });
    assert.deepEqual(locateInText(text, ["targets", "b", 0, "dst_port"]), { line: 7, col: 5 });
    assert.deepEqual(locateInText(text, ["targets", "zzz"]), { line: 3, col: 1 });
    assert.equal(locateInText(text, ["nothing"]), undefined);
  });
});
