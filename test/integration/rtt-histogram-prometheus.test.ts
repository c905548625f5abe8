// netprobify_rtt_seconds sums across targets and probes in a real Prometheus (Debian's package): two
// daemons (probe_name a and b) each ping a near target and one behind a 5 ms delay stage, Prometheus
// scrapes both every second, and PromQL identities evaluated at one instant hold exactly: every
// answered probe is in the histogram, the near targets' answers are the aggregate's ≤ 2.5 ms bucket,
// and the aggregate median falls between the two targets' RTTs. Needs root (lab, raw sockets).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { type Prometheus, startDaemon, startPrometheus, waitFor } from "./lib/promlab.js";

const PORTS = [19171, 19172];
const PROM_PORT = 19179;

describe("the RTT histogram aggregated by Prometheus (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let prom: Prometheus;
  const daemons: ReturnType<typeof startDaemon>[] = [];
  before(async () => {
    lab = await createLab({
      targets: [{ name: "near" }, { name: "far", impair: { to: { delayMs: 5 } } }],
    });
    dir = mkdtempSync(join(tmpdir(), "npf-rtt-hist-"));
    ["a", "b"].forEach((name, i) => {
      const config = join(dir, `${name}.yaml`);
      writeFileSync(
        config,
        `global: {probe_name: ${name}, interval: 1, nb_proc: 1, logging_level: WARNING, prometheus_port: ${PORTS[i]}, prometheus_address: 127.0.0.1, dns_update_interval: 0, rtt_histogram: true}
groups:
  standard: {}
targets:
  near: {type: ICMPping, destination: "${lab.target("near").v4}", nb_packets: 4, timeout: 0.5}
  far: {type: ICMPping, destination: "${lab.target("far").v4}", nb_packets: 4, timeout: 0.5}
`,
      );
      daemons.push(startDaemon(config));
    });
    prom = await startPrometheus(lab, dir, {
      port: PROM_PORT,
      targets: PORTS.map((p) => `127.0.0.1:${p}`),
      ruleFiles: [],
    });
  });
  after(async () => {
    for (const d of daemons) d.proc.kill("SIGKILL");
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("sums across probes and targets: counts, buckets and the aggregate median", async () => {
    const one = async (expr: string) => Number((await prom.query(expr))[0]?.value[1]);
    const up = await waitFor(
      30_000,
      async () => (await one("count(count by (probe_name) (netprobify_rtt_seconds_count > 0))")) === 2,
    );
    assert.ok(up, daemons.map((d) => d.log()).join("\n"));
    // Every answered probe, of both probes and both targets, is in the summed histogram.
    assert.equal(
      await one("sum(netprobify_rtt_seconds_count) - (sum(icmp_sent_total) - sum(icmp_loss_total))"),
      0,
    );
    // The near targets (well under 2.5 ms) are exactly the aggregate's 2.5 ms bucket; the far ones
    // (over 5 ms) are all above it.
    assert.equal(
      await one(
        'sum(netprobify_rtt_seconds_bucket{le="0.0025"}) - sum(netprobify_rtt_seconds_count{destination="near"})',
      ),
      0,
    );
    assert.equal(
      await one(
        'sum(netprobify_rtt_seconds_bucket{le="0.005"}) - sum(netprobify_rtt_seconds_count{destination="near"})',
      ),
      0,
    );
    // Both targets answer as often: the aggregate median lies between the two groups of RTTs.
    const p25 = await one("histogram_quantile(0.25, sum by (le) (netprobify_rtt_seconds_bucket))");
    const p75 = await one("histogram_quantile(0.75, sum by (le) (netprobify_rtt_seconds_bucket))");
    assert.ok(p25 <= 0.0025, `aggregate p25 ${p25}`);
    assert.ok(p75 > 0.005 && p75 <= 0.01, `aggregate p75 ${p75}`);
    // Split by probe type with the type label.
    assert.equal(await one('count(netprobify_rtt_seconds_count{type="ICMPping"})'), 4);
  });
});
