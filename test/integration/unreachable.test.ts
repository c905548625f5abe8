// Only the destination answers (issue 11 item 8): a router's ICMP error (host unreachable,
// administratively prohibited, time exceeded) for a probe is not an answer. Before, it counted as
// one, with the router's RTT: a dead host behind a live router showed 0 % loss. Each probe type ×
// family goes to destinations the lab router answers for (an `unreachable` route, a `prohibit` route,
// a TTL forced to 1 on the way out), and to a live target behind the same router. The probes to the
// dead destinations are all unreachable (lost in the compat loss ratio), counted by ICMP type/code,
// with the router as the sender; the live target's are all answered.
// Needs root (lab namespaces, raw sockets, nftables); runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { IterationResult } from "../../src/engine/engine.js";
import { lossRatio } from "../../src/engine/results.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { FAMILIES, type Fam, KINDS, planAndEngine, series, seriesOf, sources, warmUp } from "./lib/labkit.js";
import type { PlanTargetInput } from "./support.js";

const N = 4;
const UDP_SIZE = 16;

describe("ICMP errors from a router make probes unreachable, not answered (needs root)", () => {
  let lab: Lab;
  let r: IterationResult;
  const names: { name: string; fate: "dead" | "prohibit" | "ttl" | "live"; family: Fam }[] = [];

  before(async () => {
    lab = await createLab({ router: true, targets: [{ name: "far", behindRouter: true, rangeSize: 16 }] });
    const far = lab.target("far");
    const router = lab.router!;
    const src = await sources(far);
    // TTL 1 on the way out for two range addresses: the router answers "time exceeded".
    const ttl = { ipv4: far.range!.v4(7), ipv6: far.range!.v6(7) };
    await lab.exec(undefined, "nft", ["-f", "-"], {
      input: [
        "table inet npf_ttl {",
        "  chain out { type filter hook output priority -150; policy accept;",
        `    ip daddr ${ttl.ipv4} ip ttl set 1`,
        `    ip6 daddr ${ttl.ipv6} ip6 hoplimit set 1`,
        "  }",
        "}",
        "",
      ].join("\n"),
    });
    const dst = {
      dead: (f: Fam) => (f === "ipv4" ? router.unreachable.v4(5) : router.unreachable.v6(5)),
      prohibit: (f: Fam) => (f === "ipv4" ? router.prohibit.v4(5) : router.prohibit.v6(5)),
      ttl: (f: Fam) => ttl[f],
      live: (f: Fam) => (f === "ipv4" ? far.range!.v4(3) : far.range!.v6(3)),
    };
    const targets: PlanTargetInput[] = [];
    for (const fate of ["dead", "prohibit", "ttl", "live"] as const)
      for (const type of KINDS)
        for (const family of FAMILIES) {
          const name = `${fate}-${type}-${family}`;
          names.push({ name, fate, family });
          targets.push(
            series(name, type, family, dst[fate](family), src[family], {
              nbPackets: N,
              timeout: 0.5,
              payloadSize: type === "UDPunreachable" ? UDP_SIZE : undefined,
              ports: [61000, 61003],
            }),
          );
        }
    const { plan, engine } = planAndEngine(targets);
    try {
      await warmUp();
      r = await engine.run(plan);
    } finally {
      engine.close();
    }
  });
  after(async () => {
    // The table lives in the test namespace, which later test files of the same run share.
    await lab?.exec(undefined, "nft", ["delete", "table", "inet", "npf_ttl"]).catch(() => {});
    await lab?.destroy();
  });

  // Linux: unreachable route -> host unreachable (3/1) / no route (1/0); prohibit route -> 3/13 / 1/1;
  // TTL 1 -> time exceeded in transit (11/0 / 3/0).
  const CODE: Record<"dead" | "prohibit" | "ttl", Record<Fam, string>> = {
    dead: { ipv4: "3/1", ipv6: "1/0" },
    prohibit: { ipv4: "3/13", ipv6: "1/1" },
    ttl: { ipv4: "11/0", ipv6: "3/0" },
  };

  test("router errors: every probe unreachable, 100 % loss, counted by ICMP type/code, none answered", () => {
    for (const { name, fate, family } of names) {
      if (fate === "live") continue;
      const s = seriesOf(r, name);
      assert.deepEqual(
        {
          sent: s.sent,
          lost: s.lost,
          unreachable: s.unreachable,
          samples: s.rtts.length,
          loss: lossRatio(s),
        },
        { sent: N, lost: 0, unreachable: N, samples: 0, loss: 1 },
        name,
      );
      assert.deepEqual([...s.unreachableBy], [[CODE[fate][family], N]], name);
      assert.equal(s.icmpErrors.size, 0, `${name}: no error counted as an answer`);
    }
  });

  test("the live target behind the same router: every probe answered, 0 % loss", () => {
    for (const { name, fate } of names) {
      if (fate !== "live") continue;
      const s = seriesOf(r, name);
      assert.deepEqual([s.sent, s.lost, s.unreachable, lossRatio(s)], [N, 0, 0, 0], name);
    }
  });

  test("the sender of the errors is the router, for the log; answered + lost + unreachable = sent", () => {
    const router = lab.router!;
    assert.deepEqual([...r.foreign.unreachableFrom.keys()].sort(), [router.v4, router.v6].sort());
    const from = [...r.foreign.unreachableFrom.values()].reduce((a, b) => a + b, 0);
    assert.equal(from, 3 * KINDS.length * FAMILIES.length * N, "one error per unreachable probe");
    for (const s of r.series) {
      const answered = s.sent - s.lost - s.unreachable;
      assert.equal(answered, s.unreachable > 0 ? 0 : N, s.target);
    }
  });
});
