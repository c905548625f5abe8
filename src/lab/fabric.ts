// A leaf–spine fabric of router namespaces inside the lab, to test per-path (ECMP) probing:
//
//   prober (test ns) ── leaf1 ═╦═ spine1 ═╦═ leaf2 ── tgt (targets on its loopback)
//                              ╠═ spine2 ═╣
//                              ╚═ spineN ═╝        N = 2, 4, 8 or 16 equal-cost paths, both ways
//
// Linux multipath routes hash the 5-tuple (fib_multipath_hash_policy); a tc program clears the
// socket's hash where packets enter leaf1 and leaf2 (see fabric/hash.ts); routers answer TTL
// exceeded from the interface the probe came in by, with configurable ICMP rate limits. Controls:
// faults on one member link (nftables loss/blackhole, delay through the impairment stage), a
// per-packet balancer, a path change. Built on a Lab, so the lab's cleanup guarantees hold.

import type { LinkAddrs } from "./addr.js";
import { ipBatch, LabError, run } from "./exec.js";
import { clearHashAt } from "./fabric/hash.js";
import { nexthops, perPacket, ROUTER_SYSCTLS, rateLimitSysctls } from "./fabric/routing.js";
import type { FabricLink, FabricRouter, FabricSpec, Fault, MemberLink } from "./fabric/types.js";
import { ImpairStage } from "./impair.js";
import { type AddrRange, addVeth, createLab, ICMP_UNLIMITED, type Lab, linkAddrLines, noDad } from "./lab.js";

export type {
  FabricIface,
  FabricLink,
  FabricRouter,
  FabricSpec,
  Family,
  Fault,
  HashPolicy,
  LinkEnd,
} from "./fabric/types.js";

export class Fabric {
  readonly routers: FabricRouter[] = [];
  readonly links: FabricLink[] = [];
  /** Namespace where probes start: the lab's test namespace (undefined = the current one). */
  readonly proberNs: string | undefined = undefined;
  /** The prober's interface toward leaf1 and its addresses. */
  proberIf = "";
  proberV4 = "";
  proberV6 = "";
  /** Target addresses, `spec.targets` per family, all answering from one target namespace. */
  targets!: AddrRange;
  /** Extra source addresses of the prober (`spec.sources`), local to it; undefined without. */
  sources: AddrRange | undefined;
  targetNs = "";
  /** Milliseconds spent in createFabric. */
  buildMs = 0;
  /** Member links with their namespaces and interfaces (internal to the lab). */
  readonly member = new Map<string, MemberLink>();
  private readonly faults = new Map<string, Fault>();
  /** leaf1 → spine links, for the multipath routes. */
  upLinks: LinkAddrs[] = [];
  downTargets: string[] = [];

  constructor(
    readonly lab: Lab,
    readonly spec: FabricSpec,
  ) {}

  router(name: string): FabricRouter {
    const r = this.routers.find((x) => x.name === name);
    if (!r) throw new LabError("LAB_BAD_ARGUMENT", `no router named ${name}`);
    return r;
  }

  link(id: string): FabricLink {
    return this.memberLink(id);
  }

  memberLink(id: string): MemberLink {
    const l = this.member.get(id);
    if (!l) throw new LabError("LAB_BAD_ARGUMENT", `no member link ${id}`);
    return l;
  }

  /** Loss, blackhole and/or delay on one member link; replaces the link's previous fault. */
  async fault(id: string, f: Fault): Promise<void> {
    const l = this.memberLink(id);
    if (f.loss !== undefined && !(f.loss >= 0 && f.loss <= 1))
      throw new LabError("LAB_BAD_ARGUMENT", `loss is a ratio 0..1, got ${f.loss}`);
    if (f.delayMs !== undefined && !l.stage)
      throw new LabError("LAB_BAD_ARGUMENT", `link ${id} has no impairment stage: list it in delayLinks`);
    this.faults.set(id, f);
    await this.applyDrops(l);
    if (l.stage) await this.applyDelay(l, f);
  }

  /** Removes the fault of one member link. */
  async clear(id: string): Promise<void> {
    const l = this.memberLink(id);
    this.faults.delete(id);
    await this.applyDrops(l);
    if (l.stage) await this.applyDelay(l, {});
  }

  /**
   * Re-weights leaf1's multipath routes toward the targets (both families): weights[k-1] for spine
   * k, 0 removes that next hop. Default: spine 1 removed. Flows re-hash as on a real router.
   */
  async changePath(weights?: number[]): Promise<void> {
    const w = weights ?? this.upLinks.map((_, i) => (i === 0 ? 0 : 1));
    if (w.length !== this.upLinks.length || !w.some((x) => x > 0))
      throw new LabError("LAB_BAD_ARGUMENT", `need ${this.upLinks.length} weights, one above 0`);
    const leaf1 = this.router("leaf1").ns;
    const lines: string[] = [];
    for (const dst of this.downTargets) {
      const fam = dst.includes(":") ? 6 : 4;
      lines.push(`route replace ${dst} ${nexthops(this.upLinks, fam, w)}`);
    }
    await ipBatch(leaf1, lines);
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }

  /** Drops are applied where packets arrive: the downstream router (forward), upstream (reverse). */
  private async applyDrops(changed: MemberLink): Promise<void> {
    for (const ns of new Set([changed.upNs, changed.downNs])) {
      const rules: string[] = [];
      for (const [id, f] of this.faults) {
        const l = this.memberLink(id);
        const n = f.blackhole ? 10000 : Math.round((f.loss ?? 0) * 10000);
        if (n === 0) continue;
        const drop = n >= 10000 ? "counter drop" : `numgen random mod 10000 < ${n} counter drop`;
        const dir = f.direction ?? "both";
        if (l.downNs === ns && dir !== "reverse") rules.push(`    iifname "${l.downIf}" ${drop}`);
        if (l.upNs === ns && dir !== "forward") rules.push(`    iifname "${l.upIf}" ${drop}`);
      }
      const nft = [
        "table inet fabric_fault",
        "delete table inet fabric_fault",
        "table inet fabric_fault {",
        "  chain prerouting {",
        "    type filter hook prerouting priority -300; policy accept;",
        ...rules,
        "  }",
        "}",
      ];
      await run("nft", ["-f", "-"], { ns, input: `${nft.join("\n")}\n` });
    }
  }

  private async applyDelay(l: MemberLink, f: Fault): Promise<void> {
    const imp = { delayMs: f.delayMs ?? 0 };
    const dir = f.direction ?? "both";
    await l.stage?.set("to", dir === "reverse" ? { delayMs: 0 } : imp);
    await l.stage?.set("from", dir === "forward" ? { delayMs: 0 } : imp);
  }
}

/**
 * Wires a veth from `upNs`/`upIf` (the prober side) to `downNs`/`downIf`, through an impairment
 * namespace when `stageNs` is given (a transparent bridge: traceroutes do not see it).
 */
async function wire(
  f: Fabric,
  l: LinkAddrs,
  up: [string | undefined, string],
  down: [string, string],
  stageName?: string,
): Promise<ImpairStage | undefined> {
  const [upNs, upIf] = up;
  const [downNs, downIf] = down;
  let stage: ImpairStage | undefined;
  if (stageName) {
    const ins = await f.lab.addNamespace(stageName, {
      "net.ipv6.conf.all.disable_ipv6": 1,
      "net.ipv6.conf.default.disable_ipv6": 1,
    });
    await addVeth(upNs, upIf, l.nearMac, ins, "tohost", undefined);
    await addVeth(ins, "totgt", undefined, downNs, downIf, l.farMac);
    await ipBatch(ins, ["link set dev tohost up", "link set dev totgt up"]);
    stage = await ImpairStage.start(f.lab.procs, ins, "tohost", "totgt");
  } else {
    await addVeth(upNs, upIf, l.nearMac, downNs, downIf, l.farMac);
  }
  if (upNs === undefined) await noDad(undefined, upIf);
  await ipBatch(upNs, linkAddrLines(upIf, l, true));
  await ipBatch(downNs, linkAddrLines(downIf, l, false));
  return stage;
}

async function build(f: Fabric): Promise<void> {
  const { spec, lab } = f;
  const n = spec.ways;
  const fams = spec.families ?? ["ipv4", "ipv6"];
  const sys = {
    ...ROUTER_SYSCTLS,
    ...rateLimitSysctls(spec.icmpRateLimit),
    "net.ipv4.fib_multipath_hash_policy": spec.hashPolicy?.ipv4 ?? 1,
    "net.ipv6.fib_multipath_hash_policy": spec.hashPolicy?.ipv6 ?? 1,
    ...(spec.hashFields?.ipv4 === undefined
      ? {}
      : { "net.ipv4.fib_multipath_hash_fields": spec.hashFields.ipv4 }),
    ...(spec.hashFields?.ipv6 === undefined
      ? {}
      : { "net.ipv6.fib_multipath_hash_fields": spec.hashFields.ipv6 }),
  };
  const spines = Array.from({ length: n }, (_, i) => i + 1);
  const [leaf1, leaf2, tgt, ...spineNs] = await Promise.all([
    lab.addNamespace("leaf1", sys),
    lab.addNamespace("leaf2", sys),
    lab.addNamespace("tgt", ICMP_UNLIMITED),
    ...spines.map((k) => lab.addNamespace(`spine${k}`, sys)),
  ]);
  if (!leaf1 || !leaf2 || !tgt) throw new LabError("LAB_COMMAND", "fabric namespaces missing");
  f.targetNs = tgt;
  // Links in a fixed order: prober–leaf1, leaf1–spineK, spineK–leaf2, leaf2–tgt.
  const entry = lab.plan.link();
  const up = spines.map(() => lab.plan.link());
  const down = spines.map(() => lab.plan.link());
  const last = lab.plan.link();
  f.targets = lab.plan.range(spec.targets);
  f.upLinks = up;
  const delay = new Set(spec.delayLinks ?? []);
  for (const id of delay) {
    const k = Number(/^(?:leaf1-spine(\d+)|spine(\d+)-leaf2)$/.exec(id)?.slice(1).join("") || 0);
    if (!(k >= 1 && k <= n)) throw new LabError("LAB_BAD_ARGUMENT", `delayLinks: no member link ${id}`);
  }

  f.proberIf = lab.newHostIf();
  f.proberV4 = entry.nearV4;
  f.proberV6 = entry.nearV6;
  await wire(f, entry, [undefined, f.proberIf], [leaf1, "down"]);
  await wire(f, last, [leaf2, "tgt"], [tgt, "eth0"]);
  await Promise.all(
    spines.map(async (k, i) => {
      const ns = spineNs[i] as string;
      const u = up[i] as LinkAddrs;
      const d = down[i] as LinkAddrs;
      const [upId, downId] = [`leaf1-spine${k}`, `spine${k}-leaf2`];
      const s1 = await wire(f, u, [leaf1, `s${k}`], [ns, "up"], delay.has(upId) ? `d${k}a` : undefined);
      const s2 = await wire(f, d, [ns, "down"], [leaf2, `s${k}`], delay.has(downId) ? `d${k}b` : undefined);
      const a: MemberLink = {
        id: upId,
        spine: k,
        from: { router: "leaf1", v4: entry.farV4, v6: entry.farV6 },
        to: { router: `spine${k}`, v4: u.farV4, v6: u.farV6 },
        upNs: leaf1,
        upIf: `s${k}`,
        downNs: ns,
        downIf: "up",
      };
      const b: MemberLink = {
        id: downId,
        spine: k,
        from: { router: `spine${k}`, v4: u.farV4, v6: u.farV6 },
        to: { router: "leaf2", v4: d.farV4, v6: d.farV6 },
        upNs: ns,
        upIf: "down",
        downNs: leaf2,
        downIf: `s${k}`,
      };
      if (s1) a.stage = s1;
      if (s2) b.stage = s2;
      f.member.set(upId, a);
      f.member.set(downId, b);
    }),
  );
  for (const k of spines) {
    for (const id of [`leaf1-spine${k}`, `spine${k}-leaf2`]) {
      const { upNs, upIf, downNs, downIf, stage, ...pub } = f.memberLink(id);
      f.links.push(pub);
    }
  }

  // Routes. Downstream prefixes: the targets and the leaf2–tgt link; upstream: default routes.
  const t = f.targets;
  f.downTargets = [
    ...(fams.includes("ipv4") ? [t.v4Cidr, last.v4Cidr] : []),
    ...(fams.includes("ipv6") ? [t.v6Cidr, last.v6Cidr] : []),
  ];

  const l1: string[] = [`route add default via ${entry.nearV4}`, `route add ::/0 via ${entry.nearV6}`];
  for (const dst of f.downTargets) {
    const fam = dst.includes(":") ? 6 : 4;
    l1.push(`route add ${dst} ${nexthops(up, fam, [])}`);
  }
  const l2 = [
    `route add default ${nexthops(down, 4, [], false)}`,
    `route add ::/0 ${nexthops(down, 6, [], false)}`,
  ];
  l2.push(`route add ${t.v4Cidr} via ${last.farV4}`, `route add ${t.v6Cidr} via ${last.farV6}`);
  const tg = [
    `route add default via ${last.nearV4}`,
    `route add ::/0 via ${last.nearV6}`,
    `route add local ${t.v4Cidr} dev lo`,
    `route add local ${t.v6Cidr} dev lo`,
    // Assigned too: ICMPv6 errors then come from the probed address itself (see lab.ts).
    ...t.all6().map((a) => `addr add ${a}/128 dev lo nodad`),
  ];
  const host = f.downTargets.map(
    (dst) => `route add ${dst} via ${dst.includes(":") ? entry.farV6 : entry.farV4}`,
  );
  if (spec.sources) {
    // Local to the prober (raw sockets write any source; a local route delivers the replies), and
    // routed back by leaf1's default route toward the prober. On the prober's link, not on lo: the
    // routes go with the link when the lab is destroyed.
    f.sources = lab.plan.range(spec.sources);
    const s = f.sources;
    host.push(
      `route add local ${s.v4Cidr} dev ${f.proberIf}`,
      `route add local ${s.v6Cidr} dev ${f.proberIf}`,
    );
  }
  await Promise.all([
    ipBatch(leaf1, l1),
    ipBatch(leaf2, l2),
    ipBatch(tgt, tg),
    ipBatch(undefined, host),
    ...spines.map((_, i) =>
      ipBatch(spineNs[i], [
        `route add default via ${(up[i] as LinkAddrs).nearV4}`,
        `route add ::/0 via ${(up[i] as LinkAddrs).nearV6}`,
        ...f.downTargets.map((dst) => {
          const d = down[i] as LinkAddrs;
          return `route add ${dst} via ${dst.includes(":") ? d.farV6 : d.farV4}`;
        }),
      ]),
    ),
  ]);

  if (spec.perPacket) {
    await perPacket(leaf1, "down", up, f.downTargets, true);
    await perPacket(leaf2, "tgt", down, ["0.0.0.0/0", "::/0"], false);
  }
  if (spec.clearHash !== false) {
    await clearHashAt([
      [leaf1, "down"],
      [leaf2, "tgt"],
    ]);
  }

  f.routers.push({
    name: "leaf1",
    ns: leaf1,
    ifaces: [
      { name: "down", v4: entry.farV4, v6: entry.farV6 },
      ...up.map((l, i) => ({ name: `s${i + 1}`, v4: l.nearV4, v6: l.nearV6 })),
    ],
  });
  spines.forEach((k, i) => {
    const u = up[i] as LinkAddrs;
    const d = down[i] as LinkAddrs;
    f.routers.push({
      name: `spine${k}`,
      ns: spineNs[i] as string,
      ifaces: [
        { name: "up", v4: u.farV4, v6: u.farV6 },
        { name: "down", v4: d.nearV4, v6: d.nearV6 },
      ],
    });
  });
  f.routers.push({
    name: "leaf2",
    ns: leaf2,
    ifaces: [
      ...down.map((l, i) => ({ name: `s${i + 1}`, v4: l.farV4, v6: l.farV6 })),
      { name: "tgt", v4: last.nearV4, v6: last.nearV6 },
    ],
  });
}

/** Builds the fabric in a new lab. Always destroy() it; on a build failure everything is removed. */
export async function createFabric(spec: FabricSpec): Promise<Fabric> {
  if (![2, 4, 8, 16].includes(spec.ways)) throw new LabError("LAB_BAD_ARGUMENT", `ways: 2, 4, 8 or 16`);
  if (!(Number.isInteger(spec.targets) && spec.targets >= 1))
    throw new LabError("LAB_BAD_ARGUMENT", `targets must be a positive integer`);
  const started = performance.now();
  const lab = await createLab();
  const f = new Fabric(lab, spec);
  try {
    await build(f);
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  f.buildMs = performance.now() - started;
  return f;
}
