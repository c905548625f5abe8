import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { INCIDENT_PROBE_LIMIT, TRACE_BUDGET } from "../../src/paths/budget.js";
import { analyzeIncident } from "../../src/paths/verdict.js";
import { faultScenarios, runScenario, simulateIncident, type Tally } from "./fabric-sim.js";

// Seeded, so the counts are the same on every run; 20 incidents per scenario keeps it a few seconds
// (`npm run bench:verdict` runs more and prints every scenario).
const RUNS = 20;
const analyze = (t: Parameters<typeof analyzeIncident>[0]) => analyzeIncident(t).verdict;

function share(tallies: Tally[]): number {
  return tallies.reduce((n, t) => n + t.correct, 0) / tallies.reduce((n, t) => n + t.runs, 0);
}

describe("paths/verdict on a simulated leaf-spine fabric", () => {
  it("names the faulty member link (1 %, 5 %, 100 %, either direction, 2-16 ways) in >= 95 % of incidents", (t) => {
    for (const rl of [[], ["leaf1"]] as const) {
      const tallies = faultScenarios([...rl]).map((sc) => runScenario(sc, RUNS, analyze));
      for (const loss of ["1%", "5%", "100%"]) {
        const some = tallies.filter((x) => x.scenario.includes(` ${loss} `));
        const s = share(some);
        t.diagnostic(
          `rate-limited:[${rl.join()}] loss ${loss}: ${(s * 100).toFixed(1)} % of ${some.length * RUNS}`,
        );
        assert.ok(s >= 0.95, `loss ${loss}: ${s}`);
      }
      for (const x of tallies) assert.ok(x.maxProbes <= INCIDENT_PROBE_LIMIT && x.maxProbes >= TRACE_BUDGET);
      const worst = tallies.reduce((a, b) => (b.correct < a.correct ? b : a));
      t.diagnostic(`worst scenario: ${worst.scenario} ${worst.correct}/${worst.runs}`);
      assert.ok(worst.correct / worst.runs >= 0.85, worst.scenario);
    }
  });

  it("names no suspect link on healthy fabrics (false alarms traced, rate limiting on) in >= 99 %", (t) => {
    const tallies: Tally[] = [];
    for (const width of [2, 4, 8, 16]) {
      for (const rateLimited of [[], ["leaf1"], ["leaf1", "spines", "leaf2"]] as const) {
        tallies.push(runScenario({ width, rateLimited: [...rateLimited] }, RUNS * 4, analyze));
        // Noisy: 2e-4 per link and direction, up to 0.16 % of destination probes, above BACKGROUND_MISS.
        tallies.push(
          runScenario({ width, rateLimited: [...rateLimited], background: 2e-4 }, RUNS * 4, analyze),
        );
      }
    }
    const s = share(tallies);
    t.diagnostic(`healthy: no suspect in ${(s * 100).toFixed(2)} % of ${tallies.length * RUNS * 4}`);
    assert.ok(s >= 0.99, String(s));
  });

  it("names no suspect link under uniform loss on every member (1 %, 5 %, either direction, 2-16 ways) in >= 99 %", (t) => {
    const tallies: Tally[] = [];
    for (const loss of [0.01, 0.05]) {
      for (const width of [2, 4, 8, 16]) {
        for (const direction of ["forward", "reverse"] as const) {
          for (const rateLimited of [[], ["leaf1"]] as const) {
            const sc = { width, uniform: { loss, direction }, rateLimited: [...rateLimited] };
            tallies.push(runScenario(sc, RUNS, analyze));
          }
        }
      }
    }
    const s = share(tallies);
    t.diagnostic(`uniform: no suspect in ${(s * 100).toFixed(2)} % of ${tallies.length * RUNS}`);
    assert.ok(s >= 0.99, String(s));
  });

  it("recognises a per-packet balancer on every width", () => {
    for (const width of [2, 4, 8, 16]) {
      for (let seed = 1; seed <= 5; seed++) {
        const v = analyze(simulateIncident({ width, seed, perPacket: true }).traces);
        assert.equal(v.kind, "per-packet");
        if (v.kind === "per-packet") assert.equal(v.ttl, 2);
      }
    }
  });
});
