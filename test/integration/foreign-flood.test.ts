// Foreign replies stay in the kernel (issue 11 item 9): while the engine probes, a lab namespace
// floods the prober with ICMP echo replies carrying random identifiers and TCP SYN-ACKs with random
// acknowledgement numbers to our source ports. Before, the ICMP filter accepted every echo identifier
// and the TCP filter every acknowledgement, so each of them woke JavaScript, uncounted. Now the
// filters accept only the keys of the recent iterations: almost nothing of the flood is read (the
// engine's `received` count), and the probes are all answered.
// Needs root (lab namespaces, raw sockets, python3, nftables); runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { flood } from "./lib/flood.js";
import { planAndEngine, series, sources, warmUp } from "./lib/labkit.js";

const PORTS: [number, number] = [61000, 61003];
const COUNT = 20_000; // of each kind

describe("a flood of foreign echo replies and SYN-ACKs does not reach JavaScript (needs root)", () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ targets: [{ name: "pinged" }, { name: "flood" }] });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("40,000 foreign replies during probing: under 1 % read by the engine, every probe answered", async () => {
    const t = lab.target("pinged");
    const f = lab.target("flood");
    const src = await sources(t);
    // Count what reached the prober's host, to know the flood was really there.
    await lab.exec(undefined, "nft", ["-f", "-"], {
      input: [
        "table inet npf_flood {",
        "  counter echo {}",
        "  counter synack {}",
        "  chain in { type filter hook input priority -300; policy accept;",
        `    ip saddr ${f.v4} icmp type echo-reply counter name echo`,
        `    ip saddr ${f.v4} tcp flags & (syn | ack) == syn | ack counter name synack`,
        "  }",
        "}",
        "",
      ].join("\n"),
    });
    const targets = [
      series("ping", "ICMPping", "ipv4", t.v4, src.ipv4, { nbPackets: 20, timeout: 1, ports: PORTS }),
      series("syn", "TCPsyn", "ipv4", t.v4, src.ipv4, { nbPackets: 20, timeout: 1, ports: PORTS }),
    ];
    const { plan, engine } = planAndEngine(targets);
    const src4 = await sources(f);
    let received = 0;
    let sent = 0;
    let answered = 0;
    try {
      await warmUp();
      let over = false;
      const done = flood(lab, {
        ns: f.ns,
        src: f.v4,
        dst: src4.ipv4,
        ports: PORTS,
        count: COUNT,
        rate: 0,
      }).finally(() => {
        over = true;
      });
      let iterations = 0;
      while (!over || iterations < 2) {
        const r = await engine.run(plan);
        iterations++;
        received += r.received;
        for (const s of r.series) {
          sent += s.sent;
          answered += s.sent - s.lost - s.unreachable;
        }
      }
      const fl = await done;
      // One more iteration collects whatever was read after the last one.
      const last = await engine.run(plan);
      received += last.received;
      for (const s of last.series) {
        sent += s.sent;
        answered += s.sent - s.lost - s.unreachable;
      }
      assert.deepEqual([fl.echo, fl.synack], [COUNT, COUNT]);
      const counters = await lab.exec(undefined, "nft", ["list", "counters", "table", "inet", "npf_flood"]);
      const arrived = [...counters.stdout.matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
      assert.deepEqual(arrived, [COUNT, COUNT], "the whole flood reached the prober's host");
      assert.equal(answered, sent, "every probe answered despite the flood");
      const foreign = received - answered;
      assert.ok(
        foreign <= (2 * COUNT) / 100,
        `${foreign} of ${2 * COUNT} foreign replies were read by the engine`,
      );
    } finally {
      engine.close();
      await lab.exec(undefined, "nft", ["delete", "table", "inet", "npf_flood"]);
    }
  });
});
