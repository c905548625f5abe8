// The catalog is the single declaration of every metric: the compat metrics keep the names, types and
// labels users' alert rules and dashboards read (pinned here, copied from the compatibility contract),
// new metrics follow Prometheus naming, the registry serves exactly the catalog, and docs/metrics.md
// shows exactly the catalog's table.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import { CATALOG, catalogMarkdown, type MetricDecl } from "../../src/metrics/catalog.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { DOC_PATH, tableInDoc } from "./doc-table.js";
import { BASE_CONFIG, config, GLOBAL, iteration, parseExposition, series } from "./exposition.js";

const S = "probe_name, destination, address_family, state, group";
const T = "probe_name, destination, address_family";

/** The compatibility contract's metric table: name -> [type, labels]. */
const COMPAT: Record<string, [string, string]> = {
  tcpsyn_sent_total: ["counter", S],
  tcpsyn_loss_total: ["counter", S],
  tcpsyn_loss_ratio: ["gauge", S],
  tcpsyn_round_trip_seconds: ["gauge", `${S}, percentile`],
  tcpsyn_match_ack_fail_count: ["gauge", T],
  tcpsyn_port_mismatch_count: ["gauge", T],
  icmp_sent_total: ["counter", S],
  icmp_loss_total: ["counter", S],
  icmp_loss_ratio: ["gauge", S],
  icmp_round_trip_seconds: ["gauge", `${S}, percentile`],
  udp_unreachable_sent_total: ["counter", S],
  udp_unreachable_loss_total: ["counter", S],
  udp_unreachable_loss_ratio: ["gauge", S],
  udp_unreachable_round_trip_seconds: ["gauge", `${S}, percentile`],
  udp_unreachable_port_mismatch_count: ["gauge", T],
  threshold: ["gauge", "probe_name, destination, address_family, type, state, alert_level, group"],
  app_host_resolution_status: ["gauge", T],
  app_host_resolution_change_total: ["counter", T],
  app_time_ooo_total: ["counter", `${T}, group`],
  app_iteration_time_seconds: ["gauge", "probe_name"],
  app_target_name_dup_total: ["counter", "target_name"],
  app_process_timed_out_total: ["counter", "probe_name"],
  app_reload_conf_failed_status: ["gauge", "probe_name"],
  netprobify_info: ["gauge", "version"],
};

const decls = CATALOG as readonly MetricDecl[];

describe("metric catalog", () => {
  test("every compat metric is declared with its contract type and labels, and marked compat", () => {
    for (const [name, [type, labels]] of Object.entries(COMPAT)) {
      const d = decls.find((m) => m.name === name);
      assert.ok(d, `${name} missing`);
      assert.deepEqual([d.type, d.labels.join(", "), d.origin], [type, labels, "compat"], name);
    }
    assert.deepEqual(
      decls
        .filter((m) => m.origin === "compat")
        .map((m) => m.name)
        .sort(),
      Object.keys(COMPAT).sort(),
    );
  });

  test("names are declared once; new metrics follow Prometheus naming", () => {
    assert.equal(new Set(decls.map((m) => m.name)).size, decls.length);
    for (const m of decls) {
      assert.match(m.name, /^[a-z_][a-z0-9_]*$/, m.name);
      assert.equal(new Set(m.labels).size, m.labels.length, `${m.name}: repeated label`);
      assert.ok(m.help.length > 10, `${m.name}: help`);
      if (m.origin !== "new") continue;
      assert.match(m.name, /^netprobify_/, m.name);
      // Counters end in _total; gauges never do.
      assert.equal(m.name.endsWith("_total"), m.type === "counter", m.name);
    }
  });

  test("the registry serves each catalog metric once, with the catalog's HELP and TYPE", async () => {
    const m = new Metrics({ version: "1", processMetrics: false });
    // The histogram is served only when the configuration asks for it.
    const c = loadConfigText("catalog.yaml", `${GLOBAL()}  rtt_histogram: true\n${BASE_CONFIG}`);
    m.applyConfig(c);
    m.recordIteration(c, iteration([series("web", "g1", { sent: 1, rtts: Float64Array.of(0.001) })]));
    const e = parseExposition(await m.metricsText());
    assert.deepEqual(
      [...e.type.keys()],
      decls.map((d) => d.name),
    );
    for (const d of decls) {
      assert.equal(e.type.get(d.name), d.type, d.name);
      assert.equal(e.help.get(d.name), d.help, d.name);
    }
    // Every served sample carries exactly its metric's declared labels.
    for (const s of e.samples) {
      const base = s.name.replace(/_(bucket|sum|count)$/, "");
      const d =
        decls.find((x) => x.name === s.name) ?? decls.find((x) => x.name === base && x.type === "histogram");
      assert.ok(d, s.name);
      const le = s.name.endsWith("_bucket") ? ["le"] : [];
      assert.deepEqual(Object.keys(s.labels), [...le, ...d.labels], s.name); // prom-client puts le first
    }
  });

  test("the metrics served beside the catalog are prom-client's process_* and nodejs_*, each in docs/metrics.md", async () => {
    const m = new Metrics({ version: "1" });
    m.applyConfig(config());
    const e = parseExposition((await m.snapshot()).body.toString());
    const others = [...e.type.keys()].filter((n) => !decls.some((d) => d.name === n));
    for (const n of ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"])
      assert.ok(others.includes(n), n);
    const doc = readFileSync(DOC_PATH, "utf8");
    for (const n of others) {
      assert.match(n, /^(process|nodejs)_/);
      const documented =
        doc.includes(`\`${n}\``) ||
        doc.includes(
          n.replace(
            /_(min|max|mean|stddev|p50|p90|p99)_seconds$/,
            "_{min,max,mean,stddev,p50,p90,p99}_seconds",
          ),
        );
      assert.ok(documented, `${n} is named in docs/metrics.md`);
    }
  });

  test("docs/metrics.md shows exactly the catalog's table (refresh: node dist/test/metrics/doc-table.js --write)", () => {
    const doc = readFileSync(DOC_PATH, "utf8");
    assert.equal(tableInDoc(doc), catalogMarkdown());
    for (const d of decls) assert.ok(doc.includes(`\`${d.name}\``), d.name);
  });
});
