// A second faulty member while an incident is open (docs/paths.md, "Follow-up incidents"): the real
// daemon probes across the lab's 4-way fabric; spine 2's link to leaf2 blackholes and is named; then
// spine 3's fails too, and a follow-up incident names it while the first still names spine 2, for the
// IPv4 (UDP) and the IPv6 (TCP) target; no other link is blamed at any scrape. Needs root (fabric,
// raw sockets).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createFabric, type Fabric } from "../../src/lab/fabric.js";
import { type FabricDaemon, pathsDoc, startDaemon, suspects } from "./lib/fabric-daemon.js";
import { until } from "./lib/scrape.js";

const PORT = 19174;
const TARGETS = ["t4", "t6"] as const;
const TRACING = ", path_tracing_packets_per_second: 4000, path_tracing_budget: 20000";

/** The address spine k answers TTL 2 from (its interface toward leaf1), per target's family. */
function spineAddr(fabric: Fabric, k: number, d: "t4" | "t6"): string {
  const end = fabric.links.find((l) => l.id === `leaf1-spine${k}`)!.to;
  return d === "t4" ? end.v4 : end.v6;
}

describe("a second faulty member while an incident is open (needs root)", () => {
  let run: FabricDaemon | undefined;
  after(async () => {
    await run?.stop();
  });

  test("spine 2's link named, then spine 3's by a follow-up, the first still named; nothing else blamed (needs root)", async () => {
    const fabric = await createFabric({ ways: 4, targets: 2, families: ["ipv4", "ipv6"] });
    run = startDaemon(fabric, PORT, TRACING);
    const blamed = new Set<string>();
    const froms = (body: string, d: "t4" | "t6") => {
      const list = suspects(body, d).map((s) => s.from);
      for (const s of suspects(body, d)) blamed.add(`${d} ${s.from} -> ${s.to}`);
      return list;
    };
    const watch = (what: string, cond: (body: string) => boolean) =>
      until(what, cond, {
        port: PORT,
        ms: 150_000,
        relevant: /netprobify_path_(suspect|incidents|trace|anomaly)/,
        context: () => run!.log().slice(-4000),
      });

    await fabric.fault("spine2-leaf2", { blackhole: true, direction: "forward" });
    await watch("spine 2's link named for both targets", (b) =>
      TARGETS.every((d) => froms(b, d).includes(spineAddr(fabric, 2, d))),
    );
    await fabric.fault("spine3-leaf2", { blackhole: true, direction: "forward" });
    const body = await watch("spine 3's link named too, spine 2's still", (b) =>
      TARGETS.every((d) => {
        const f = froms(b, d);
        return f.includes(spineAddr(fabric, 2, d)) && f.includes(spineAddr(fabric, 3, d));
      }),
    );
    const allowed = new Set(
      TARGETS.flatMap((d) => [2, 3].map((k) => `${d} ${spineAddr(fabric, k, d)} -> *`)),
    );
    assert.deepEqual(
      [...blamed].filter((b) => !allowed.has(b)),
      [],
      "only the two blackholed links (far end silent) ever blamed",
    );
    for (const d of TARGETS) assert.equal(suspects(body, d).length, 2, `${d}: two suspect links`);
    const doc = await pathsDoc(PORT);
    for (const d of TARGETS) {
      const incidents = doc.incidents.filter((i) => i.destination === d && i.verdict?.kind === "link");
      assert.deepEqual(
        incidents.map((i) => i.verdict?.from).sort(),
        [spineAddr(fabric, 2, d), spineAddr(fabric, 3, d)].sort(),
      );
      // Each incident's flagged flows cross the spine it names.
      for (const i of incidents)
        for (const f of i.flows.filter((x) => x.flagged)) assert.equal(f.hops[1], i.verdict?.from);
    }
    assert.match(run.log(), /path incident follow-up opened/);
  });
});
