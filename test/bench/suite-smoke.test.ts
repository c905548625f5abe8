// The benchmark suite (bench/suite.ts, `npm run bench`) in its smoke size, so that it cannot rot:
// every type × family at 0 % and 5 % injected loss, 10 targets × 10 packets, netprobify, the C
// reference and fping, into a temporary directory. Asserts structure and sanity only — every row
// present, the probe counts, reported loss exactly the probes unanswered on the wire — never timings.
// Needs root (the lab); runs in the suite's namespace and its lab is gone when the child exits.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { REPO } from "../support/paths.js";

describe("npm run bench, smoke size (needs root)", () => {
  const dir = mkdtempSync(join(tmpdir(), "npf-bench-smoke-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("every scenario measured, counts right, loss exact against the wire", () => {
    const r = spawnSync(process.execPath, [join(REPO, "dist/bench/suite.js"), "--smoke", "--out", dir], {
      encoding: "utf8",
      timeout: 180_000,
    });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    const j = JSON.parse(readFileSync(join(dir, "suite.json"), "utf8"));
    const md = readFileSync(join(dir, "suite.md"), "utf8");
    assert.equal(r.stdout.trim(), md.trim(), "the table printed is the one written");
    const rows = j.results as {
      scenario: { type: string; family: string; targets: number; packets: number; lossPct: number };
      netprobify: {
        sent: number;
        lost: number;
        failed: number;
        wire: { probes: number; unanswered: number } | null;
        exact: { compared: number; falseLoss: number; lostUnanswered: number; notOnWire: number } | null;
        rttErrorUs: { compared: number } | null;
        startToFirstProbeMs: number | null;
        cpuSecondsAtEnd: number;
        process: { maxRssKiB: number };
      };
      nbProcRuns: { nbProc: number; sent: number; lost: number; socketDrops: number }[];
      c: { probes: number; matched: number } | null;
      fping: { probes: number; matched: number } | null;
    }[];
    const seen = rows.map((x) => `${x.scenario.type} ${x.scenario.family} ${x.scenario.lossPct}`).sort();
    const want = ["ICMPping", "TCPsyn", "UDPunreachable"]
      .flatMap((t) => ["ipv4", "ipv6"].flatMap((f) => [0, 5].map((l) => `${t} ${f} ${l}`)))
      .sort();
    assert.deepEqual(seen, want);
    for (const x of rows) {
      const name = `${x.scenario.type} ${x.scenario.family} ${x.scenario.lossPct} %`;
      const n = x.netprobify;
      assert.equal(x.scenario.targets * x.scenario.packets, 100, name);
      assert.equal(n.sent, 100, name);
      assert.equal(n.failed, 0, name);
      assert.equal(n.wire?.probes, 100, `${name}: the capture saw every probe`);
      assert.equal(n.exact?.compared, 100, name);
      assert.equal(n.exact?.falseLoss, 0, `${name}: no false loss`);
      assert.equal(n.lost, n.wire?.unanswered, `${name}: lost == unanswered on the wire`);
      assert.equal(n.exact?.lostUnanswered, n.lost, name);
      if (x.scenario.lossPct === 0) assert.equal(n.lost, 0, `${name}: nothing lost without loss`);
      assert.equal(n.rttErrorUs?.compared, 100 - n.lost, `${name}: every answered probe's RTT compared`);
      assert.ok(n.startToFirstProbeMs !== null && n.startToFirstProbeMs > 0, name);
      assert.ok(n.cpuSecondsAtEnd > 0 && n.process.maxRssKiB > 0, name);
      // nb_proc 1 and 2 side by side without capture, on the 0 % loss rows
      assert.deepEqual(
        x.nbProcRuns.map((n) => [n.nbProc, n.sent, n.lost, n.socketDrops]),
        x.scenario.lossPct === 0
          ? [
              [1, 100, 0, 0],
              [2, 100, 0, 0],
            ]
          : [],
        `${name}: nb_proc runs`,
      );
      assert.equal(x.c?.probes, 100, `${name}: the C reference sent the same probes`);
      if (x.scenario.lossPct === 0) assert.equal(x.c?.matched, 100, `${name}: C matched all`);
      if (x.scenario.type === "ICMPping") {
        assert.equal(x.fping?.probes, 100, `${name}: fping pinged the same addresses`);
        if (x.scenario.lossPct === 0) assert.equal(x.fping?.matched, 100, name);
      } else assert.equal(x.fping, null, name);
    }
    // The daemon rows: the real daemon, several iterations of both families, beside its reference.
    const daemon = j.daemon as {
      scenario: { type: string; targets: number; packets: number };
      iterations: {
        sent: number;
        lost: number;
        cpuSeconds: number;
        threads: Record<string, { user: number; system: number }>;
      }[];
      daemonUsPerProbe: number;
      ref: { tool: string; probes: number; usPerProbe: number } | null;
    }[];
    assert.deepEqual(daemon.map((d) => d.scenario.type).sort(), ["ICMPping", "TCPsyn", "UDPunreachable"]);
    for (const d of daemon) {
      assert.equal(d.iterations.length, 3, d.scenario.type);
      for (const it of d.iterations) {
        assert.equal(
          it.sent,
          2 * d.scenario.targets * d.scenario.packets,
          `${d.scenario.type}: both families`,
        );
        assert.equal(it.lost, 0, d.scenario.type);
      }
      assert.ok(d.iterations[2]!.cpuSeconds >= d.iterations[0]!.cpuSeconds, d.scenario.type);
      // By thread: the JS thread, Node's start-up threads (V8's workers), the addon's send and
      // receive threads (named npf-*) and the later ones (libuv's pool; at 10 ms ticks they may show
      // 0); together no more than the whole process.
      const last = d.iterations[2]!;
      const byKind = Object.entries(last.threads).map(([k, t]) => [k, t.user + t.system] as const);
      assert.deepEqual(
        byKind.map(([k]) => k).sort(),
        ["later", "main", "receive", "send", "startup"],
        d.scenario.type,
      );
      for (const [k, cpu] of byKind) assert.ok(k === "main" ? cpu > 0 : cpu >= 0, `${d.scenario.type}: ${k}`);
      const sum = byKind.reduce((n, [, cpu]) => n + cpu, 0);
      assert.ok(
        sum <= last.cpuSeconds + 0.01 * byKind.length,
        `${d.scenario.type}: ${sum} ≤ ${last.cpuSeconds}`,
      );
      assert.equal(d.ref?.tool, d.scenario.type === "ICMPping" ? "fping" : "C", d.scenario.type);
      assert.equal(
        d.ref?.probes,
        2 * d.scenario.targets * d.scenario.packets,
        `${d.scenario.type}: same count`,
      );
      assert.ok(Number.isFinite(d.daemonUsPerProbe) && d.ref!.usPerProbe > 0, d.scenario.type);
    }
    for (const heading of [
      "### Rate and cost",
      "### Accuracy and loss",
      "### Targets",
      "### The daemon at steady state",
      "### nb_proc 1 vs 2, no capture (0 % loss)",
    ])
      assert.ok(md.includes(heading), heading);
    assert.equal(j.targets.length > 0, true);
  });
});
