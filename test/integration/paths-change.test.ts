// A path change on the lab's leaf–spine fabric while the real daemon probes with trace-on-loss
// (issue 15): leaf1's multipath routes are re-weighted so that flows move to other spines. The open
// incident's retrace sees the new hop lists, counts the change and traces again, and nothing is
// blamed for the move; flows moved onto a faulty member link get that link named. Linux multipath
// routes split the hash space in ranges by weight, in next-hop order (hash-threshold): weights
// [1, 3, 0, 0] keep spine 1's quarter and give the other three quarters to spine 2, so the test knows
// which flows move without knowing their hashes. Needs root (fabric, raw sockets).
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createFabric, type Fabric } from "../../src/lab/fabric.js";
import {
  type FabricDaemon,
  labels,
  type PathsDoc,
  pathsDoc,
  startDaemon,
  suspects,
} from "./lib/fabric-daemon.js";
import { scrape, until, value } from "./lib/scrape.js";

const PORT = 19172;
const TARGETS = ["t4", "t6"] as const;
const TRACING = ", path_tracing_packets_per_second: 4000, path_tracing_budget: 20000";
const runs: FabricDaemon[] = [];

/** The address spine k answers TTL 2 from (its interface toward leaf1), per target's family. */
function spineAddr(fabric: Fabric, k: number, d: "t4" | "t6"): string {
  const end = fabric.links.find((l) => l.id === `leaf1-spine${k}`)!.to;
  return d === "t4" ? end.v4 : end.v6;
}

function spineOf(fabric: Fabric, addr: string | null | undefined, d: "t4" | "t6"): number {
  for (let k = 1; k <= 4; k++) if (spineAddr(fabric, k, d) === addr) return k;
  return 0;
}

/** Every suspect link and per-packet report seen in any scrape of the run. */
interface Seen {
  blamed: Set<string>;
  perPacket: boolean;
}

/** Polls /metrics and /paths until `cond` holds; every scrape's suspects are collected into `seen`. */
async function watch(
  run: FabricDaemon,
  seen: Seen,
  what: string,
  cond: (body: string, doc: PathsDoc) => boolean,
  ms: number,
): Promise<{ body: string; doc: PathsDoc }> {
  const deadline = Date.now() + ms;
  let body = "";
  let doc: PathsDoc | undefined;
  while (Date.now() < deadline) {
    try {
      body = await scrape(run.port);
      doc = await pathsDoc(run.port);
      for (const d of TARGETS) {
        for (const s of suspects(body, d)) seen.blamed.add(`${d} ${s.from} -> ${s.to}`);
        if (value(body, `netprobify_path_per_packet{${labels(d)}}`) === 1) seen.perPacket = true;
      }
      if (cond(body, doc)) return { body, doc };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const lines = body
    .split("\n")
    .filter((l) => /^netprobify_path_(suspect|changes|distinct|incidents|trace)/.test(l));
  assert.fail(
    `${what}: not within ${ms} ms\n${lines.join("\n")}\n${JSON.stringify(doc, null, 1)}\n${run.log().slice(-4000)}`,
  );
}

const incident = (doc: PathsDoc, d: string) => doc.incidents.find((i) => i.destination === d);

describe("path changes on the 4-way fabric (needs root)", () => {
  after(async () => {
    for (const r of runs.splice(0)) await r.stop();
  });

  test("a route change while probing is followed: new hop lists, the change counted, nothing blamed for it (needs root)", async () => {
    const fabric = await createFabric({ ways: 4, targets: 2, families: ["ipv4", "ipv6"] });
    const run = startDaemon(fabric, PORT, TRACING);
    runs.push(run);
    await fabric.fault("spine1-leaf2", { blackhole: true, direction: "forward" });
    const seen: Seen = { blamed: new Set(), perPacket: false };
    const first = await watch(
      run,
      seen,
      "spine 1's link named and traced in full for both targets",
      (b, doc) => TARGETS.every((d) => suspects(b, d).length > 0 && incident(doc, d)?.phase === "monitor"),
      120_000,
    );
    // Move every healthy flow to one spine R, chosen so that at least one traced healthy flow of t4
    // is elsewhere now: spine 1 keeps its hash range, so its (flagged) flows stay where they are.
    const healthy = incident(first.doc, "t4")!.flows.filter((f) => !f.flagged);
    const now = healthy.map((f) => spineOf(fabric, f.hops[1], "t4")).filter((k) => k > 1);
    assert.ok(now.length > 0, `healthy t4 flows on spines 2-4: ${JSON.stringify(healthy)}`);
    const r = now[0] === 2 ? 3 : 2;
    const weights = [1, 0, 0, 0];
    weights[r - 1] = 3;
    const changesBefore = value(first.body, `netprobify_path_changes_total{${labels("t4")}}`) ?? 0;
    await fabric.changePath(weights);

    const moved = (doc: PathsDoc, d: "t4" | "t6") => {
      const inc = incident(doc, d);
      if (inc?.phase !== "monitor") return false;
      return inc.flows.every((f) => {
        const k = spineOf(fabric, f.hops[1], d);
        return f.flagged ? k === 1 : k === r;
      });
    };
    const { body, doc } = await watch(
      run,
      seen,
      `the traces follow the flows to spine ${r}`,
      (b, d) =>
        (value(b, `netprobify_path_changes_total{${labels("t4")}}`) ?? 0) > changesBefore &&
        moved(d, "t4") &&
        moved(d, "t6"),
      150_000,
    );
    for (const d of TARGETS) {
      const inc = incident(doc, d)!;
      assert.equal(inc.verdict?.kind, "link", `${d}: ${JSON.stringify(inc.verdict)}`);
      assert.equal(inc.verdict?.from, spineAddr(fabric, 1, d), `${d}: still spine 1's link`);
      // Two paths left among the traced flows: the flagged ones through spine 1, the others through R.
      assert.equal(value(body, `netprobify_path_distinct_paths{${labels(d)}}`), 2, d);
      assert.equal(inc.distinct_paths, 2, d);
    }
    assert.ok((value(body, `netprobify_path_changes_total{${labels("t4")}}`) ?? 0) >= 1);
    // Nothing but spine 1's link was ever blamed, before, during or after the change.
    for (const b of seen.blamed) {
      const [d] = b.split(" ") as ["t4" | "t6"];
      assert.ok(
        b.startsWith(`${d} ${spineAddr(fabric, 1, d)} -> `),
        `blamed: ${[...seen.blamed].join(", ")}`,
      );
    }
    assert.equal(seen.perPacket, false, "no per-packet balancer reported");
    // The per-flow series carry the reply's TTL (IPv4) and hop limit (IPv6): 64 less three routers.
    for (const d of TARGETS) {
      const ttls = body
        .split("\n")
        .filter((l) => l.startsWith(`netprobify_path_flow_reply_ttl{${labels(d)}`))
        .map((l) => Number(l.split(" ").pop()));
      assert.ok(ttls.includes(61), `${d}: reply TTLs ${ttls}`);
      assert.ok(
        ttls.every((t) => t === 61 || t === 0),
        `${d}: reply TTLs ${ttls} (0: a flow never answered)`,
      );
    }
    assert.match(run.log(), /path incident verdict/);
    await run.stop();
    runs.splice(runs.indexOf(run), 1);
  });

  test("flows a route change moves onto a faulty member link: that link is named (needs root)", async () => {
    const fabric = await createFabric({ ways: 4, targets: 2, families: ["ipv4", "ipv6"] });
    // Spine 4 carries no flow toward the targets yet, and its link to leaf2 drops everything.
    await fabric.changePath([1, 1, 1, 0]);
    await fabric.fault("spine4-leaf2", { blackhole: true, direction: "forward" });
    const run = startDaemon(fabric, PORT, TRACING);
    runs.push(run);
    const quiet = await until(
      "20 iterations",
      (b) => (value(b, `netprobify_iterations_total{probe_name="lab"}`) ?? 0) >= 20,
      { port: PORT, ms: 60_000, relevant: /netprobify_path|iterations/, context: run.log },
    );
    assert.equal(value(quiet, `netprobify_path_incidents_open{probe_name="lab"}`), 0, "nothing lost yet");
    await fabric.changePath([1, 1, 1, 1]);
    const seen: Seen = { blamed: new Set(), perPacket: false };
    const { doc } = await watch(
      run,
      seen,
      "a suspect link for both targets",
      (b, d) => TARGETS.every((t) => suspects(b, t).length > 0 && incident(d, t)?.verdict?.kind === "link"),
      120_000,
    );
    for (const d of TARGETS) {
      const inc = incident(doc, d)!;
      assert.equal(inc.verdict?.from, spineAddr(fabric, 4, d), `${d}: ${JSON.stringify(inc.verdict)}`);
      for (const f of inc.flows.filter((x) => x.flagged)) assert.equal(spineOf(fabric, f.hops[1], d), 4, d);
    }
    for (const b of seen.blamed) {
      const [d] = b.split(" ") as ["t4" | "t6"];
      assert.ok(
        b.startsWith(`${d} ${spineAddr(fabric, 4, d)} -> `),
        `blamed: ${[...seen.blamed].join(", ")}`,
      );
    }
    assert.equal(seen.perPacket, false);
    await run.stop();
    runs.splice(runs.indexOf(run), 1);
  });
});
