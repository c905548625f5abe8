// The in-memory history (src/web/history.ts): rings that keep exactly the retention, gaps for
// iterations a series was not in, RTT codes precise to 0.03 %, and reloads that keep unchanged
// targets' history and drop removed or changed ones.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfigText } from "../../src/config/load.js";
import {
  BYTES_PER_ITERATION,
  bytesPerSeriesPerHour,
  capacityFor,
  decodeRtt,
  encodeRtt,
  History,
} from "../../src/web/history.js";
import { BASE_CONFIG, series } from "../metrics/exposition.js";

export function webConfig(o: { retention?: number; interval?: number; body?: string; extra?: string } = {}) {
  return loadConfigText(
    "web-test.yaml",
    `global:
  probe_name: lab
  interval: ${o.interval ?? 30}
  nb_proc: 1
  logging_level: INFO
  prometheus_port: 8000
  dns_update_interval: 0
  history_retention: ${o.retention ?? 86400}
${o.extra ?? ""}${o.body ?? BASE_CONFIG}`,
  );
}

export const ms = (...v: number[]) => Float64Array.from(v.map((x) => x / 1000)).sort();

describe("history rings", () => {
  test("the RTT code keeps 0.03 % from 1 µs to 100 s; 0 is no sample", () => {
    for (const s of [1e-6, 3.3e-5, 0.000123, 0.0101, 0.25, 1.5, 99]) {
      const back = decodeRtt(encodeRtt(s))!;
      assert.ok(Math.abs(back - s) / s < 3e-4, `${s} → ${back}`);
    }
    assert.equal(decodeRtt(0), null);
  });

  test("capacity is retention / interval; bytes per series per hour follow", () => {
    assert.equal(capacityFor(86400, 30), 2880);
    assert.equal(capacityFor(3600, 0), 3600);
    assert.equal(capacityFor(86400, 0), 17_280, "at most 24 h at 5 s");
    assert.equal(BYTES_PER_ITERATION, 24);
    assert.equal(bytesPerSeriesPerHour(30), 120 * 24);
  });

  test("keeps exactly the last retention / interval iterations, oldest overwritten", () => {
    const c = webConfig({ retention: 300, interval: 60 }); // 5 iterations
    const h = new History(86400, 30);
    h.applyConfig(c);
    assert.equal(h.capacity, 5);
    for (let i = 0; i < 8; i++)
      h.record(c, 1000 + i * 60, [series("web", "g1", { sent: 10 + i, lost: 1, rtts: ms(5 + i, 6 + i) })]);
    const s = h.get("web/g1")!;
    const slots = h.slotsIn(0, 1e12);
    assert.deepEqual(
      slots.map((x) => h.read(s, x).t),
      [1180, 1240, 1300, 1360, 1420],
    );
    assert.deepEqual(
      slots.map((x) => h.read(s, x).sent),
      [13, 14, 15, 16, 17],
    );
    const last = h.read(s, slots[4]!);
    assert.ok(Math.abs(last.rtt[0]! - 0.012) < 1e-5 && Math.abs(last.rtt[6]! - 0.013) < 1e-5);
    assert.ok(Math.abs(last.rtt[3]! - 0.0125) < 1e-5, "p50 interpolated as the metrics do");
    assert.equal(h.bytes, 5 * 8 + 1 * 5 * BYTES_PER_ITERATION);
  });

  test("an iteration without the series is a gap, not last retention's value", () => {
    const c = webConfig({ retention: 180, interval: 60 }); // 3 iterations
    const h = new History(86400, 30);
    h.applyConfig(c);
    h.record(c, 0, [series("web", "g1", { sent: 5 }), series("udp", "g1", { sent: 3 })]);
    h.record(c, 60, [series("udp", "g1", { sent: 3 })]);
    h.record(c, 120, [series("udp", "g1", { sent: 3 })]);
    h.record(c, 180, [series("udp", "g1", { sent: 3 })]); // overwrites slot 0 (web's 5)
    const s = h.get("web/g1")!;
    const read = h.slotsIn(0, 1e12).map((x) => h.read(s, x));
    assert.deepEqual(
      read.map((r) => r.gap),
      [true, true, true],
    );
    assert.deepEqual(read[0]!.rtt, [null, null, null, null, null, null, null]);
  });

  test("lost counts unreachable probes; errors count every ICMP error", () => {
    const c = webConfig();
    const h = new History(86400, 30);
    h.applyConfig(c);
    h.record(c, 0, [
      series("udp", "g1", {
        sent: 10,
        lost: 2,
        unreachable: 3,
        unreachableBy: new Map([["3/1", 3]]),
        icmpErrors: new Map([["3/3", 4]]),
      }),
    ]);
    const s = h.get("udp/g1")!;
    const r = h.read(s, h.slotsIn(0, 1)[0]!);
    assert.deepEqual([r.sent, r.lost, r.errors], [10, 5, 7]);
    assert.equal(s.lastLossRatio, 0.5);
    assert.deepEqual(Object.fromEntries(s.icmpErrors), { "3/1": 3, "3/3": 4 });
  });

  test("a reload keeps unchanged targets' history and drops removed, changed and ungrouped ones", () => {
    const c1 = webConfig();
    const h = new History(86400, 30);
    h.applyConfig(c1);
    h.record(c1, 0, [
      series("web", "g1", { sent: 10 }),
      series("web", "g2", { sent: 10 }),
      series("udp", "g1", { sent: 3 }),
      series("ping6", "g1", { sent: 4 }),
    ]);
    const body = BASE_CONFIG.replace("dst_port: 33434", "dst_port: 33435") // udp changed
      .replace("    explicit_groups: {exclude_from: [g2]}\n", "    explicit_groups: {exclude_from: [g1]}\n"); // ping6 leaves g1
    const c2 = webConfig({ body });
    h.applyConfig(c2);
    assert.deepEqual([...h.series()].map((s) => s.id).sort(), ["web/g1", "web/g2"]);
    assert.equal(h.read(h.get("web/g1")!, h.slotsIn(0, 1)[0]!).sent, 10);
    h.applyConfig(webConfig({ body: BASE_CONFIG.replace(/ {2}web:[\s\S]*?(?= {2}ping6:)/, "") }));
    assert.equal(h.seriesCount, 0);
  });

  test("a new retention keeps the newest iterations that fit", () => {
    const c = webConfig({ retention: 600, interval: 60 });
    const h = new History(86400, 30);
    h.applyConfig(c);
    for (let i = 0; i < 7; i++) h.record(c, i * 60, [series("web", "g1", { sent: i + 1 })]);
    h.applyConfig(webConfig({ retention: 180, interval: 60 }));
    const s = h.get("web/g1")!;
    assert.deepEqual(
      h.slotsIn(0, 1e9).map((x) => h.read(s, x).sent),
      [5, 6, 7],
    );
    h.record(c, 420, [series("web", "g1", { sent: 8 })]);
    assert.deepEqual(
      h.slotsIn(0, 1e9).map((x) => h.read(s, x).sent),
      [6, 7, 8],
    );
  });

  test("recording allocates no per-series arrays once the series exist", () => {
    const c = webConfig();
    const h = new History(86400, 30);
    h.applyConfig(c);
    h.record(c, 0, [series("web", "g1", { sent: 1 })]);
    const s = h.get("web/g1")!;
    const arrays = [s.sent, s.lost, s.errors, s.rtt];
    for (let i = 1; i < 50; i++) h.record(c, i * 30, [series("web", "g1", { sent: 1, rtts: ms(1) })]);
    assert.deepEqual([s.sent, s.lost, s.errors, s.rtt], arrays);
  });
});
