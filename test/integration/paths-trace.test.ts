// Trace-on-loss end to end on the lab's leaf–spine fabric (issue 15): the real daemon probes a
// target across a 4-way fabric; with every probe lost on one member link, the flows through it are
// flagged, traced with their own 5-tuple, and the daemon names that link in /metrics
// (netprobify_path_suspect_link) and /paths; a healthy fabric opens no incident and blames nothing; a
// per-packet fabric is reported as per-packet, never as a link. Needs root (fabric, raw sockets).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createFabric } from "../../src/lab/fabric.js";
import { type FabricDaemon, labels, pathsDoc, startDaemon } from "./lib/fabric-daemon.js";
import { until, value } from "./lib/scrape.js";

const PORT = 19171;

const runs: FabricDaemon[] = [];

async function start(spec: { perPacket?: boolean }, extra = ""): Promise<FabricDaemon> {
  const fabric = await createFabric({ ways: 4, targets: 2, families: ["ipv4", "ipv6"], ...spec });
  const run = startDaemon(fabric, PORT, `, path_tracing_packets_per_second: 4000${extra}`, "");
  runs.push(run);
  return run;
}

async function stop(run: FabricDaemon): Promise<void> {
  await run.stop();
  runs.splice(runs.indexOf(run), 1);
}

const paths = () => pathsDoc(PORT);

describe("trace-on-loss on the 4-way fabric (needs root)", () => {
  after(async () => {
    for (const r of [...runs]) await stop(r);
  });

  test("100 % loss on one member link: that link is named in /metrics and /paths (IPv4 UDP, IPv6 TCP)", async () => {
    const run = await start({});
    const link = run.fabric.links.find((l) => l.id === "spine2-leaf2")!;
    const before = run.fabric.links.find((l) => l.id === "leaf1-spine2")!;
    await run.fabric.fault("spine2-leaf2", { blackhole: true, direction: "forward" });
    // The spine the flows through the link answer from (TTL 2), and leaf2 behind it (TTL 3).
    const spine = { t4: before.to.v4, t6: before.to.v6 };
    const leaf2 = { t4: link.to.v4, t6: link.to.v6 };
    const named = (body: string, d: "t4" | "t6") =>
      body
        .split("\n")
        .filter((l) => l.startsWith(`netprobify_path_suspect_link{${labels(d)}`))
        .map((l) => ({
          from: /from="([^"]+)"/.exec(l)![1],
          to: /to="([^"]+)"/.exec(l)![1],
          v: Number(l.split(" ").pop()),
        }));
    const body = await until(
      "a suspect link for both targets",
      (b) => named(b, "t4").length > 0 && named(b, "t6").length > 0,
      {
        port: PORT,
        ms: 120_000,
        relevant: /netprobify_path_(suspect|anomaly|incidents|trace)/,
        context: run.log,
      },
    );
    for (const d of ["t4", "t6"] as const) {
      const [s] = named(body, d);
      assert.equal(s!.from, spine[d], `${d}: blamed ${JSON.stringify(s)}`);
      assert.ok(s!.to === "*" || s!.to === leaf2[d], `${d}: to ${s!.to}`);
      assert.ok(s!.v > 0.9, `${d}: estimated loss ${s!.v}`);
      assert.ok((value(body, `netprobify_path_distinct_paths{${labels(d)}}`) ?? 0) >= 2);
    }
    assert.ok((value(body, `netprobify_path_trace_probes_sent_total{probe_name="lab"}`) ?? 0) > 0);
    const doc = await paths();
    assert.equal(doc.enabled, true);
    for (const d of ["t4", "t6"] as const) {
      const inc = doc.incidents.find((i) => i.destination === d)!;
      assert.equal(inc.verdict?.kind, "link");
      assert.equal(inc.verdict?.from, spine[d]);
      // Every flagged flow went through spine 2; a healthy one through another spine.
      for (const f of inc.flows.filter((x) => x.flagged)) assert.equal(f.hops[1], spine[d]);
      assert.ok(inc.flows.some((f) => !f.flagged && f.hops[1] !== spine[d] && f.hops[1] !== null));
    }
    assert.match(run.log(), /path incident verdict/);
    await stop(run);
  });

  test("a healthy fabric: no incident, no suspect link", async () => {
    const run = await start({});
    const body = await until(
      "20 iterations",
      (b) => (value(b, `netprobify_iterations_total{probe_name="lab"}`) ?? 0) >= 20,
      { port: PORT, ms: 60_000, relevant: /netprobify_path|iterations/, context: run.log },
    );
    assert.ok(!body.includes("netprobify_path_suspect_link{"));
    assert.equal(value(body, `netprobify_path_incidents_open{probe_name="lab"}`), 0);
    assert.equal(value(body, `netprobify_path_trace_probes_sent_total{probe_name="lab"}`), 0);
    assert.deepEqual((await paths()).incidents, []);
    await stop(run);
  });

  test("a per-packet balancer with loss on one member link: reported as per-packet, no link blamed", async () => {
    // Per-packet spraying spreads the link's loss over every flow: no flow stands out, so this
    // incident is opened by trace_on_loss: any.
    const run = await start({ perPacket: true }, ", trace_on_loss: any");
    await run.fabric.fault("spine2-leaf2", { loss: 0.2, direction: "forward" });
    const body = await until(
      "per-packet on t4",
      (b) => value(b, `netprobify_path_per_packet{${labels("t4")}}`) === 1,
      {
        port: PORT,
        ms: 120_000,
        relevant: /netprobify_path_(per_packet|suspect|incidents|trace)/,
        context: run.log,
      },
    );
    assert.ok(!body.includes(`netprobify_path_suspect_link{${labels("t4")}`));
    const inc = (await paths()).incidents.find((i) => i.destination === "t4")!;
    assert.equal(inc.verdict?.kind, "per-packet");
    await stop(run);
  });
});
