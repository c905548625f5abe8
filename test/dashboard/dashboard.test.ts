// The shipped Grafana dashboard's structure: the variables the issue asks for, every panel on the
// data source variable, every query filtered by the probe variable, panels inside Grafana's 24-column
// grid without overlaps, and docs/dashboard.md generated from it. Its queries are run against a real
// Prometheus in test/integration/prometheus.test.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { allValues, loadDashboard, panelsOf, queriesOf, substitute } from "./dashboard.js";
import { blockInDoc, DOC_PATH, dashboardMarkdown } from "./doc.js";

const d = loadDashboard();
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
const DS_UID = "${datasource}";

describe("Grafana dashboard grafana/netprobify.json", () => {
  test("has the variables datasource, probe_name, type and destination", () => {
    const vars = d.templating.list.map((v) => `${v.name}:${v.type}`);
    assert.deepEqual(vars, ["datasource:datasource", "probe_name:query", "type:custom", "destination:query"]);
    for (const v of d.templating.list.slice(1)) {
      assert.ok(v.multi && v.includeAll && v.allValue, `${v.name}: several values and All`);
    }
  });

  test("rows overview, per target and self-health; every panel reads the datasource variable", () => {
    assert.deepEqual(
      d.panels.filter((p) => p.type === "row").map((p) => p.title),
      ["Overview", "Per target", "Self-health"],
    );
    const ids = new Set<number>();
    for (const { panel } of panelsOf(d)) {
      assert.ok(!ids.has(panel.id), `panel id ${panel.id} is unique`);
      ids.add(panel.id);
      assert.equal(panel.datasource?.uid, DS_UID, panel.title);
      assert.ok(panel.targets?.length, `${panel.title} has queries`);
      for (const t of panel.targets ?? [])
        assert.equal((t as { datasource?: { uid: string } }).datasource?.uid, DS_UID);
      assert.ok(panel.description, `${panel.title} has a description`);
    }
  });

  test("every query filters by probe_name, per-target ones by destination and type", () => {
    for (const { row, panel, target } of queriesOf(d)) {
      assert.match(target.expr, /probe_name=~"\$probe_name"/, `${panel.title}: ${target.expr}`);
      if (row === "Per target") {
        assert.match(target.expr, /destination=~"\$destination"/, `${panel.title}: ${target.expr}`);
        if (/_(loss_ratio|loss_total|sent_total|round_trip_seconds)\b/.test(target.expr))
          assert.match(target.expr, /\$\{type\}/, `${panel.title}: ${target.expr}`);
      }
      // Substitution leaves no variable behind.
      const q = substitute(target.expr, { ...allValues(d), probe_name: "lab" }, { __rate_interval: "1m" });
      assert.doesNotMatch(q, /\$|\[\[/, q);
    }
  });

  test("panels fit the 24-column grid and do not overlap", () => {
    const cells = new Map<string, string>();
    for (const p of d.panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title}: x ${g.x} w ${g.w}`);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          const k = `${x},${y}`;
          assert.ok(!cells.has(k), `${p.title} overlaps ${cells.get(k)} at ${k}`);
          cells.set(k, p.title);
        }
    }
  });

  test("docs/dashboard.md shows its structure (refresh: npm run docs:dashboard)", () => {
    assert.equal(blockInDoc(readFileSync(DOC_PATH, "utf8")), dashboardMarkdown(d));
  });
});
