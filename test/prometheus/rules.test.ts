// The shipped Prometheus rules (prometheus/*.yml) pass `promtool check rules`, their unit tests
// (prometheus/tests/*.yml) pass `promtool test rules`, and those unit tests cover every rule: each
// alert has a case where it fires and one where it stays silent, each recording rule an expression
// test. Needs Debian's prometheus package (promtool), which .ci/run installs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { REPO } from "../support/paths.js";

const DIR = `${REPO}prometheus/`;
const RULE_FILES = ["alerts.yml", "recording.yml"].map((f) => DIR + f);
const TEST_FILES = readdirSync(`${DIR}tests`)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => `${DIR}tests/${f}`);

interface RuleFile {
  groups: {
    name: string;
    rules: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string> }[];
  }[];
}
interface UnitTests {
  tests: {
    alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
    promql_expr_test?: { expr: string }[];
  }[];
}

function promtool(...args: string[]): string {
  return execFileSync("promtool", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const rules = RULE_FILES.flatMap((f) =>
  (parse(readFileSync(f, "utf8")) as RuleFile).groups.flatMap((g) => g.rules),
);
const cases = TEST_FILES.flatMap((f) => (parse(readFileSync(f, "utf8")) as UnitTests).tests);

describe("shipped Prometheus rules", () => {
  test("promtool check rules accepts them", () => {
    const out = promtool("check", "rules", ...RULE_FILES);
    assert.match(out, /SUCCESS: \d+ rules found/);
  });

  test("promtool test rules: every unit test passes", () => {
    assert.ok(TEST_FILES.length >= 3, `unit test files: ${TEST_FILES.join(", ")}`);
    const out = promtool("test", "rules", ...TEST_FILES);
    assert.equal((out.match(/SUCCESS/g) ?? []).length, TEST_FILES.length, out);
  });

  test("every alert has a firing and a silent unit test case", () => {
    const alerts = rules.flatMap((r) => (r.alert ? [r.alert] : []));
    assert.ok(alerts.length >= 15, `alerts: ${alerts.join(", ")}`);
    assert.equal(new Set(alerts).size, alerts.length, "alert names are unique");
    const checks = cases.flatMap((c) => c.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = checks.filter((c) => c.alertname === a);
      assert.ok(
        mine.some((c) => c.exp_alerts.length > 0),
        `${a}: no unit test where it fires`,
      );
      assert.ok(
        mine.some((c) => c.exp_alerts.length === 0),
        `${a}: no unit test where it stays silent`,
      );
    }
    for (const c of checks)
      assert.ok(alerts.includes(c.alertname), `test of an unknown alert ${c.alertname}`);
  });

  test("every recording rule has an expression test", () => {
    const records = rules.flatMap((r) => (r.record ? [r.record] : []));
    assert.ok(records.length >= 8);
    const exprs = cases.flatMap((c) => c.promql_expr_test ?? []).map((t) => t.expr);
    for (const r of records)
      assert.ok(
        exprs.some((e) => e.includes(r)),
        `${r}: no promql_expr_test`,
      );
  });

  test("the original's documented rules are among the alerts (any probe_name, any probe type)", () => {
    const expr = (name: string) => rules.find((r) => r.alert === name)?.expr.replace(/\s+/g, " ") ?? "";
    assert.match(expr("NetprobifyLoss"), /_loss_ratio.*\* 100 > 0\.1/);
    assert.match(expr("NetprobifyLatency"), /_round_trip_seconds", percentile="95".*\* 1000 > 100/);
    assert.match(expr("NetprobifyIterationTooLong"), /^app_iteration_time_seconds > 90$/);
    assert.match(expr("NetprobifyNothingSent"), /increase\(.*_sent_total"}\[10m\]\)\) == 0/);
    assert.match(expr("NetprobifyReloadFailed"), /^app_reload_conf_failed_status > 0$/);
    assert.match(expr("NetprobifyExporterDown"), /^up\{job="netprobify"\} == 0$/);
    assert.match(expr("NetprobifyLatencyOverThreshold"), /threshold\{type="latency"/);
  });

  test("docs/deployment.md lists every alert with its for: and severity", () => {
    const doc = readFileSync(`${REPO}docs/deployment.md`, "utf8");
    const alerts = rules.filter((r) => r.alert);
    for (const r of alerts) {
      const line = doc.split("\n").find((l) => l.startsWith(`| \`${r.alert}\` |`));
      assert.ok(line, `${r.alert} is documented`);
      const cells = line.split("|").map((c) => c.trim());
      assert.equal(cells[3], r.for ?? "", `${r.alert}: for`);
      assert.equal(cells[4], r.labels?.severity, `${r.alert}: severity`);
    }
    const documented = doc.match(/^\| `Netprobify\w+` \|/gm) ?? [];
    assert.equal(documented.length, alerts.length, "no alert documented that does not exist");
  });
});
