// Probes refused on this host are failed sends counted by errno, never network loss: a full qdisc
// (tbf), an nftables OUTPUT drop or reject, a route removed in the middle of an iteration, a packet
// larger than the MTU. Each run checks the same books: per target sent + refused = planned, the
// refusals equal what the kernel itself counted (qdisc drops, nftables counters), no refused probe
// reached the wire and every sent one did, and lost equals the sent probes the wire saw unanswered
// (a tcpdump capture at the target is the referee). Needs root (lab namespaces, raw sockets, tc, nft,
// tcpdump); runs inside src/lab/enter.sh.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { IterationResult } from "../../src/engine/engine.js";
import { ProbeState } from "../../src/engine/inflight.js";
import type { ProbeKind } from "../../src/engine/plan.js";
import { run } from "../../src/lab/exec.js";
import { createLab, type Lab, type LabTarget } from "../../src/lab/lab.js";
import { kernelSources } from "../../src/targets/source.js";
import { buildPlan, labEngine, type PlanTargetInput, warmUp, wireProbes } from "./support.js";

const PORTS = { srcPortA: 61100, srcPortZ: 61115 };

async function target(
  name: string,
  type: ProbeKind,
  family: "ipv4" | "ipv6",
  addresses: string[],
  nbPackets: number,
  extra: Partial<PlanTargetInput> = {},
): Promise<PlanTargetInput> {
  const src = (await kernelSources([[addresses[0]!, family]])).get(addresses[0]!)!;
  return {
    name,
    type,
    family,
    addresses,
    dstPort: type === "TCPsyn" ? 80 : 33434,
    nbPackets,
    dontFragment: true,
    payloadSize: type === "UDPunreachable" ? 12 : undefined,
    timeout: 1,
    groups: [{ name: "g", ...PORTS, dscp: 0, src }],
    ...extra,
  };
}

const planned = (t: PlanTargetInput) => t.addresses.length * t.nbPackets;
const sum = (r: IterationResult, k: "sent" | "lost" | "failed") => r.series.reduce((n, s) => n + s[k], 0);

/** Runs one iteration with a capture at the target as the referee. */
async function probe(
  lab: Lab,
  t: LabTarget,
  targets: PlanTargetInput[],
  pps?: number,
  during?: () => unknown,
) {
  const engine = labEngine(targets, pps === undefined ? {} : { pps });
  try {
    await warmUp();
    const cap = await lab.capture({ ns: t.ns, iface: t.targetIf, bufferKiB: 65536 });
    const running = engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
    await during?.();
    const r = await running;
    return { r, wire: wireProbes((await cap.stop()).records) };
  } finally {
    engine.close();
  }
}

/** The books every run must balance, whatever refused the probes. */
function assertBooks(targets: PlanTargetInput[], { r, wire }: Awaited<ReturnType<typeof probe>>): void {
  for (const t of targets) {
    const s = r.series.find((x) => x.target === t.name)!;
    assert.equal(s.sent + s.failed, planned(t), `${t.name}: sent ${s.sent} + refused ${s.failed} = planned`);
  }
  const byErrno = [...r.sendErrors.values()].reduce((a, b) => a + b, 0);
  assert.equal(byErrno, sum(r, "failed"), "every refusal is counted under an errno");
  let leftRefused = 0;
  let missingSent = 0;
  let unanswered = 0;
  for (let i = 0; i < r.inflight.count; i++) {
    const w = wire.get(r.inflight.keyOf(i));
    if (r.inflight.state[i] === ProbeState.SendFailed) {
      if (w) leftRefused++;
      continue;
    }
    if (!w) missingSent++;
    else if (w.rxNs === undefined) unanswered++;
  }
  assert.equal(leftRefused, 0, "no refused probe reached the target");
  assert.equal(missingSent, 0, "every sent probe reached the target");
  assert.equal(sum(r, "lost"), unanswered, "lost = sent probes unanswered on the wire (no false loss)");
}

/** Drops counted by the tbf qdisc (handle 10:) on dev. */
async function tbfDrops(dev: string): Promise<number> {
  const out = (await run("tc", ["-s", "qdisc", "show", "dev", dev])).stdout;
  const m = /qdisc tbf 10:[^\n]*\n\s*Sent \d+ bytes \d+ pkt \(dropped (\d+)/.exec(out);
  assert.ok(m, `no tbf drop counter in: ${out}`);
  return Number(m[1]);
}

async function nft(script: string): Promise<void> {
  await run("nft", ["-f", "-"], { input: script });
}

async function nftCounter(name: string): Promise<number> {
  const out = (await run("nft", ["list", "counter", "inet", "sendpath", name])).stdout;
  const m = /packets (\d+)/.exec(out);
  assert.ok(m, `no packet count in: ${out}`);
  return Number(m[1]);
}

describe("local refusals are counted by errno, never as loss (needs root)", () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ targets: [{ name: "q", rangeSize: 64 }] });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("a full tbf qdisc (2 mbit, limit 3000 B): refused = the qdisc's drops, ENOBUFS, 0 false loss", async () => {
    const t = lab.target("q");
    const targets = [
      await target("syn4", "TCPsyn", "ipv4", t.range!.all4(60), 40),
      await target("ping6", "ICMPping", "ipv6", t.range!.all6(60), 40),
    ];
    const dev = t.hostIf;
    // The tbf holds only the probes (nftables puts them in an htb class above it; the rest goes
    // around it: the kernel's own router solicitations and MLD reports on a fresh link would
    // otherwise share its drops).
    const tc = (...args: string[]) => run("tc", [...args.join(" ").split(" ")]);
    await tc(`qdisc replace dev ${dev} root handle 1: htb`);
    await tc(`class add dev ${dev} parent 1: classid 1:1 htb rate 10gbit`);
    await tc(`qdisc add dev ${dev} parent 1:1 handle 10: tbf rate 2mbit burst 3000 limit 3000`);
    await nft(`table inet sendpath_tbf {
      chain out {
        type filter hook output priority 0;
        tcp sport ${PORTS.srcPortA}-${PORTS.srcPortZ} meta priority set 1:1
        icmpv6 type echo-request meta priority set 1:1
      }
    }`);
    try {
      const before = await tbfDrops(dev);
      const res = await probe(lab, t, targets); // unpaced: far faster than 2 mbit
      const drops = (await tbfDrops(dev)) - before;
      assertBooks(targets, res);
      const refused = sum(res.r, "failed");
      assert.ok(refused > 0 && sum(res.r, "sent") > 0, `refused ${refused}, sent ${sum(res.r, "sent")}`);
      assert.equal(refused, drops, "reported refused = the qdisc's drop count");
      assert.deepEqual([...res.r.sendErrors], [["ENOBUFS", refused]]);
    } finally {
      await run("tc", ["qdisc", "del", "dev", dev, "root"], { allowFail: true });
      await run("nft", ["delete", "table", "inet", "sendpath_tbf"], { allowFail: true });
    }
  });

  test("nftables OUTPUT drop and reject: EPERM, each refused probe seen once by the firewall", async () => {
    const t = lab.target("q");
    const [pass4, drop4, reject4] = t.range!.all4(3);
    const [pass6, drop6] = t.range!.all6(2);
    // One address per target, a sent probe before the refused ones in every run of a family: a
    // sender that resends a refused packet to learn its errno makes the firewall count it twice.
    const targets = [
      await target("pass4", "TCPsyn", "ipv4", [pass4!], 20),
      await target("drop4", "TCPsyn", "ipv4", [drop4!], 20),
      await target("reject4", "TCPsyn", "ipv4", [reject4!], 20),
      await target("pass6", "ICMPping", "ipv6", [pass6!], 20),
      await target("drop6", "ICMPping", "ipv6", [drop6!], 20),
    ];
    await nft(`table inet sendpath {
      counter drop4 {}
      counter reject4 {}
      counter drop6 {}
      chain out {
        type filter hook output priority 0;
        ip daddr ${drop4} counter name drop4 drop
        ip daddr ${reject4} counter name reject4 reject with icmp type admin-prohibited
        ip6 daddr ${drop6} counter name drop6 drop
      }
    }`);
    try {
      const res = await probe(lab, t, targets);
      assertBooks(targets, res);
      const by = (name: string) => res.r.series.find((s) => s.target === name)!;
      for (const name of ["drop4", "reject4", "drop6"])
        assert.deepEqual([by(name).sent, by(name).failed, by(name).lost], [0, 20, 0], name);
      for (const name of ["pass4", "pass6"]) assert.deepEqual([by(name).sent, by(name).lost], [20, 0], name);
      assert.deepEqual([...res.r.sendErrors], [["EPERM", 60]]);
      for (const name of ["drop4", "reject4", "drop6"])
        assert.equal(await nftCounter(name), 20, `${name}: the firewall saw each probe once, not retried`);
    } finally {
      await run("nft", ["delete", "table", "inet", "sendpath"], { allowFail: true });
    }
  });

  test("a route removed and one made unreachable mid-run: ENETUNREACH / EHOSTUNREACH from then on", async () => {
    const t = lab.target("q");
    const r = t.range!;
    const targets = [
      await target("syn4", "TCPsyn", "ipv4", r.all4(10), 60),
      await target("syn6", "TCPsyn", "ipv6", r.all6(10), 60),
    ];
    try {
      // 1,200 probes at 1,000/s: the routes change about halfway.
      const res = await probe(lab, t, targets, 1000, async () => {
        await new Promise((ok) => setTimeout(ok, 500));
        await run("ip", ["route", "replace", "unreachable", r.v4Cidr]);
        await run("ip", ["-6", "route", "del", r.v6Cidr]);
      });
      assertBooks(targets, res);
      const by = (name: string) => res.r.series.find((s) => s.target === name)!;
      assert.ok(by("syn4").sent > 0 && by("syn6").sent > 0, "probes before the change went out");
      assert.deepEqual([...res.r.sendErrors].sort(), [
        ["EHOSTUNREACH", by("syn4").failed],
        ["ENETUNREACH", by("syn6").failed],
      ]);
      assert.ok(by("syn4").failed > 0 && by("syn6").failed > 0);
      assert.equal(sum(res.r, "lost"), 0);
    } finally {
      await run("ip", ["route", "replace", r.v4Cidr, "via", t.v4]);
      await run("ip", ["-6", "route", "replace", r.v6Cidr, "via", t.v6]);
    }
  });

  test("a neighbour that never resolves is no send error: the kernel answers this host itself ~3 s later", async () => {
    // What the docs say about ARP failure, checked: nothing to count at send time, one ICMP host
    // unreachable per probe generated by this host (from its own address) when resolution fails.
    const t = lab.target("q");
    const [a, b, c, d] = t.range!.all4(1)[0]!.split(".").map(Number) as [number, number, number, number];
    const nowhere = `${a}.${b}.${c + 20}.${d + 8}`; // on the link, owned by nobody: ARP goes unanswered
    await run("ip", ["route", "add", `${nowhere}/32`, "dev", t.hostIf]);
    const outUnreach = async () => {
      const lines = (await run("cat", ["/proc/net/snmp"])).stdout
        .split("\n")
        .filter((l) => l.startsWith("Icmp:"));
      const [names, values] = lines.map((l) => l.split(/\s+/)) as [string[], string[]];
      return Number(values[names.indexOf("OutDestUnreachs")]);
    };
    try {
      const targets = [await target("nb4", "TCPsyn", "ipv4", [nowhere], 5, { timeout: 4 })];
      const before = await outUnreach();
      const engine = labEngine(targets);
      try {
        await warmUp();
        const r = await engine.run(buildPlan(targets, () => assert.fail("sources are fixed")));
        assert.deepEqual([r.series[0]!.sent, r.series[0]!.failed, [...r.sendErrors]], [5, 0, []]);
      } finally {
        engine.close();
      }
      // Resolution gives up after 3 solicitations 1 s apart; allow for a loaded machine.
      const deadline = Date.now() + 8000;
      while ((await outUnreach()) - before < 5 && Date.now() < deadline)
        await new Promise((ok) => setTimeout(ok, 100));
      assert.equal((await outUnreach()) - before, 5, "one ICMP host unreachable per probe, from this host");
      assert.match((await run("ip", ["neigh", "show", nowhere])).stdout, /FAILED/);
    } finally {
      await run("ip", ["route", "del", `${nowhere}/32`], { allowFail: true });
    }
  });

  test("a probe larger than the MTU: EMSGSIZE, the others answered", async () => {
    const t = lab.target("q");
    const [a4, b4] = t.range!.all4(2);
    const [a6] = t.range!.all6(1);
    const targets = [
      await target("big4", "TCPsyn", "ipv4", [a4!], 10, { payloadSize: 1600 }),
      await target("big6", "ICMPping", "ipv6", [a6!], 10, { payloadSize: 1600 }),
      await target("small4", "TCPsyn", "ipv4", [b4!], 10),
    ];
    const res = await probe(lab, t, targets);
    assertBooks(targets, res);
    assert.deepEqual([...res.r.sendErrors], [["EMSGSIZE", 20]]);
    const small = res.r.series.find((s) => s.target === "small4")!;
    assert.deepEqual([small.sent, small.lost], [10, 0]);
  });
});
