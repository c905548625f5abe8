// Builds the network every netprobify integration test and benchmark probes: child namespaces
// ("targets", an optional "router", "impair" stages) wired by veth pairs to the test's namespace,
// which must itself be a sealed namespace made by src/lab/enter.sh (checked by assertIsolated()).
// Targets answer from their kernel (SYN-ACK, RST, ICMP port unreachable, echo reply) with ICMP rate
// limits off unless asked; whole ranges are routed to a target's loopback so thousands of addresses
// answer; loss comes from nftables, delay/jitter/duplication/reordering from a C stage (impair.c).
// destroy() removes everything and also runs on process exit; enter.sh covers crashes and kill -9.
//
//   test ns ── nl<s>-<i> ═══ eth0 [target]                       (direct)
//   test ns ── nl<s>-<i> ═══ tohost [impair] totgt ═══ eth0 [target]   (impairment stage on the path)
//   test ns ── nl<s>-<i> ═══ uplink [router] down<j> ═══ eth0 [target]  (behind the router)

import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { AddressPlan, type AddrRange, type LinkAddrs, SLOTS } from "./addr.js";
import {
  ipBatch,
  LabError,
  ProcessSet,
  type RunOptions,
  type RunResult,
  run,
  runSync,
  setSysctls,
} from "./exec.js";
import { type Direction, type Impairment, ImpairStage, setLoss } from "./impair.js";
import { assertIsolated } from "./isolation.js";
import { helperBinary } from "./native.js";
import { type Capture, type CaptureOptions, startCapture } from "./pcap.js";

export type { AddrRange } from "./addr.js";
export type { Direction, Impairment } from "./impair.js";
export { assertIsolated } from "./isolation.js";
export type { Capture, PcapFile, PcapRecord } from "./pcap.js";
export { parsePcap } from "./pcap.js";

/** "off": ICMP error rate limits disabled (default). "linux": the kernel defaults, like a real router. */
export type IcmpRateLimit = "off" | "linux";

export interface TargetSpec {
  /** Short name, [a-z0-9]{1,8}; the namespace is nl<slot>p<pid>-<name>. */
  name: string;
  /** Addresses routed to the target's loopback in addition to its link address (0 = none). */
  rangeSize?: number;
  /** Ports with a listening socket (SYN-ACK); every other TCP port answers RST. */
  tcpPorts?: number[];
  /** Put an impairment stage between the test namespace and the target (true = no impairment yet). */
  impair?: boolean | { to?: Impairment; from?: Impairment };
  /** Connect the target behind the router instead of directly (needs `router`). */
  behindRouter?: boolean;
  icmpRateLimit?: IcmpRateLimit;
}

export interface RouterSpec {
  icmpRateLimit?: IcmpRateLimit;
}

export interface LabSpec {
  targets?: TargetSpec[];
  router?: RouterSpec | boolean;
}

export interface LabTarget {
  name: string;
  ns: string;
  /** The target's own (link) addresses. */
  v4: string;
  v6: string;
  /** Interface in the test namespace on the path to this target (the router link if behind it). */
  hostIf: string;
  /** The target's interface toward the test namespace, inside `ns`. */
  targetIf: string;
  range?: AddrRange;
  impair?: ImpairStage;
  /** Namespace of the impairment stage, if any. */
  impairNs?: string;
}

export interface LabRouter {
  ns: string;
  v4: string;
  v6: string;
  hostIf: string;
  /** Routed by the router to an `unreachable` route: ICMP host unreachable / no route. */
  unreachable: AddrRange;
  /** Routed by the router to a `prohibit` route: ICMP administratively prohibited. */
  prohibit: AddrRange;
}

const NAME = /^[a-z0-9]{1,8}$/;
const live = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const lab of live) lab.destroySync();
  });
}

export const ICMP_UNLIMITED = {
  "net.ipv4.icmp_ratelimit": 0,
  "net.ipv4.icmp_msgs_per_sec": 10_000_000,
  "net.ipv4.icmp_msgs_burst": 10_000_000,
  "net.ipv6.icmp.ratelimit": 0,
};

/** Claims a free slot with an abstract unix socket: atomic, and released by the kernel if we die. */
async function claimSlot(): Promise<{ slot: number; server: Server }> {
  for (let slot = 0; slot < SLOTS; slot++) {
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen({ path: `\0netprobify-lab-slot-${slot}` }, () => resolve(true));
    });
    if (ok) {
      server.unref();
      return { slot, server };
    }
  }
  throw new LabError("LAB_EXHAUSTED", `all ${SLOTS} lab slots are in use in this namespace`);
}

export class Lab {
  readonly targets = new Map<string, LabTarget>();
  router: LabRouter | undefined;
  readonly namespaces: string[] = [];
  readonly hostIfs: string[] = [];
  readonly procs = new ProcessSet();
  private destroyed = false;
  private readonly captureDirs: string[] = [];
  private nextHostIf = 0;

  constructor(
    readonly slot: number,
    private readonly slotServer: Server,
    readonly plan: AddressPlan,
  ) {}

  get prefix(): string {
    return `nl${this.slot}p${process.pid}-`;
  }

  target(name: string): LabTarget {
    const t = this.targets.get(name);
    if (!t) throw new LabError("LAB_BAD_ARGUMENT", `no target named ${name}`);
    return t;
  }

  /** Runs a command in a child namespace (undefined = the test namespace). */
  exec(
    ns: string | undefined,
    cmd: string,
    args: readonly string[],
    opts: RunOptions = {},
  ): Promise<RunResult> {
    return run(cmd, args, { ...opts, ns });
  }

  /** Starts a long-running helper in a namespace; the lab kills it on destroy(). */
  spawn(ns: string | undefined, cmd: string, args: readonly string[]): ChildProcess {
    return this.procs.spawn(ns, cmd, args);
  }

  /** Starts tcpdump (nanosecond timestamps) in a namespace on an interface. */
  async capture(opts: CaptureOptions): Promise<Capture> {
    const c = await startCapture(this.procs, opts);
    this.captureDirs.push(c.dir);
    return c;
  }

  /** nftables random loss for one target (only on some source ports if given); pct 0 removes it. */
  setLoss(name: string, pct: number, direction: Direction = "to", sports?: readonly number[]): Promise<void> {
    return setLoss(this.target(name).ns, pct, direction, sports);
  }

  /** Changes a target's impairment stage at run time. */
  setImpairment(name: string, direction: Direction, imp: Impairment): Promise<void> {
    const stage = this.target(name).impair;
    if (!stage)
      throw new LabError("LAB_BAD_ARGUMENT", `target ${name} was created without an impairment stage`);
    return stage.set(direction, imp);
  }

  async addNamespace(suffix: string, sysctls: Record<string, string | number>): Promise<string> {
    const ns = `${this.prefix}${suffix}`;
    await run("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    await ipBatch(ns, ["link set dev lo up"]);
    // No duplicate address detection: it holds link-local addresses tentative for ~1 s, which
    // delays the first neighbour discovery and so the first IPv6 replies.
    await setSysctls(ns, {
      "net.ipv6.conf.all.accept_dad": 0,
      "net.ipv6.conf.default.accept_dad": 0,
      ...sysctls,
    });
    return ns;
  }

  newHostIf(): string {
    const name = `nl${this.slot}-${this.nextHostIf++}`;
    this.hostIfs.push(name);
    return name;
  }

  /** Kills helpers, deletes veths and namespaces, frees the slot. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    await this.procs.killAll();
    const del = this.hostIfs.map((i) => `link del dev ${i}`);
    if (del.length > 0)
      await run("ip", ["-force", "-batch", "-"], { input: `${del.join("\n")}\n`, allowFail: true });
    for (const ns of this.namespaces) await run("ip", ["netns", "del", ns], { allowFail: true });
    this.removeCaptureFiles();
    this.slotServer.close();
  }

  /** Synchronous teardown for process exit, where nothing can be awaited. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    this.procs.killAllSync();
    for (const i of this.hostIfs) runSync("ip", ["link", "del", "dev", i]);
    for (const ns of this.namespaces) runSync("ip", ["netns", "del", ns]);
    this.removeCaptureFiles();
    this.slotServer.close();
  }

  /** Captures never stopped leave their file in the host's temporary directory: removed here. */
  private removeCaptureFiles(): void {
    for (const d of this.captureDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

async function startResponder(lab: Lab, ns: string, ports: number[]): Promise<void> {
  if (ports.length === 0) return;
  for (const p of ports) {
    if (!(Number.isInteger(p) && p > 0 && p < 65536))
      throw new LabError("LAB_BAD_ARGUMENT", `bad TCP port ${p}`);
  }
  const bin = await helperBinary("responder");
  const child = lab.procs.spawn(ns, bin, ports.map(String));
  await lab.procs.waitForLine(child, `responder in ${ns}`, /ready/);
}

/** Host-side veths: no DAD (see addNamespace), set before the link goes up. */
export async function noDad(ns: string | undefined, dev: string): Promise<void> {
  await setSysctls(ns, { [`net.ipv6.conf.${dev}.accept_dad`]: 0 });
}

/** Creates a veth pair; `ns` undefined = the test namespace. The peer is created in `peerNs`. */
export async function addVeth(
  ns: string | undefined,
  name: string,
  mac: string | undefined,
  peerNs: string,
  peerName: string,
  peerMac: string | undefined,
): Promise<void> {
  const args = ns === undefined ? [] : ["-n", ns];
  args.push("link", "add", "name", name);
  if (mac) args.push("address", mac);
  args.push("type", "veth", "peer", "name", peerName);
  if (peerMac) args.push("address", peerMac);
  if (peerNs !== ns) args.push("netns", peerNs);
  await run("ip", args);
}

/**
 * Addresses, a permanent neighbour entry for the other end (no ARP or neighbour discovery: the
 * first probe is not delayed, no resolution traffic crosses impairments or captures) and link up.
 */
export function linkAddrLines(dev: string, l: LinkAddrs, near: boolean): string[] {
  const [a4, a6] = near ? [l.nearV4, l.nearV6] : [l.farV4, l.farV6];
  const [o4, o6, omac] = near ? [l.farV4, l.farV6, l.farMac] : [l.nearV4, l.nearV6, l.nearMac];
  return [
    `addr add ${a4}/30 dev ${dev}`,
    `addr add ${a6}/64 dev ${dev} nodad`,
    `neigh replace ${o4} lladdr ${omac} dev ${dev} nud permanent`,
    `neigh replace ${o6} lladdr ${omac} dev ${dev} nud permanent`,
    `link set dev ${dev} up`,
  ];
}

async function buildRouter(lab: Lab, spec: RouterSpec): Promise<LabRouter> {
  const sys: Record<string, string | number> = {
    "net.ipv4.ip_forward": 1,
    "net.ipv6.conf.all.forwarding": 1,
    "net.ipv4.conf.all.send_redirects": 0,
    "net.ipv4.conf.default.send_redirects": 0,
    ...(spec.icmpRateLimit === "linux" ? {} : ICMP_UNLIMITED),
  };
  const ns = await lab.addNamespace("router", sys);
  const hostIf = lab.newHostIf();
  const l = lab.plan.link();
  await addVeth(undefined, hostIf, l.nearMac, ns, "uplink", l.farMac);
  await noDad(undefined, hostIf);
  await ipBatch(undefined, linkAddrLines(hostIf, l, true));
  const unreachable = lab.plan.range(256);
  const prohibit = lab.plan.range(256);
  const lines = [
    ...linkAddrLines("uplink", l, false),
    `route add default via ${l.nearV4}`,
    `route add ::/0 via ${l.nearV6}`,
  ];
  if (spec.icmpRateLimit === "linux") {
    // Real routes: the kernel's own errors, with its own limits. For IPv4 those come from ip_error(),
    // limited by net.ipv4.route.error_cost/error_burst, which are global (not per namespace) on this
    // kernel: about 1 error per second per source after a burst of 5, as on a real Linux router.
    lines.push(
      `route add unreachable ${unreachable.v4Cidr}`,
      `route add unreachable ${unreachable.v6Cidr}`,
      `route add prohibit ${prohibit.v4Cidr}`,
      `route add prohibit ${prohibit.v6Cidr}`,
    );
  }
  await ipBatch(ns, lines);
  if (spec.icmpRateLimit !== "linux") {
    // Unlimited: ip_error()'s global limiter cannot be lifted per namespace, so the same errors are
    // sent by nftables `reject` in the forward hook, which only obeys the per-namespace ICMP limits
    // (disabled here). Without a route the packets would not reach the forward hook: they get an
    // on-link route to a dead-end veth pair, never used because the reject comes first.
    await addVeth(ns, "sink0", undefined, ns, "sink1", undefined);
    await ipBatch(ns, [
      "link set dev sink0 up",
      "link set dev sink1 up",
      `route add ${unreachable.v4Cidr} dev sink0`,
      `route add ${unreachable.v6Cidr} dev sink0`,
      `route add ${prohibit.v4Cidr} dev sink0`,
      `route add ${prohibit.v6Cidr} dev sink0`,
    ]);
    const nft = [
      "table inet netprobify_router {",
      "  chain forward {",
      "    type filter hook forward priority 0; policy accept;",
      `    ip daddr ${unreachable.v4Cidr} reject with icmp type host-unreachable`,
      `    ip6 daddr ${unreachable.v6Cidr} reject with icmpv6 type no-route`,
      `    ip daddr ${prohibit.v4Cidr} reject with icmp type admin-prohibited`,
      `    ip6 daddr ${prohibit.v6Cidr} reject with icmpv6 type admin-prohibited`,
      "  }",
      "}",
    ];
    await run("nft", ["-f", "-"], { ns, input: `${nft.join("\n")}\n` });
  }
  await ipBatch(undefined, [
    `route add ${unreachable.v4Cidr} via ${l.farV4}`,
    `route add ${unreachable.v6Cidr} via ${l.farV6}`,
    `route add ${prohibit.v4Cidr} via ${l.farV4}`,
    `route add ${prohibit.v6Cidr} via ${l.farV6}`,
  ]);
  return { ns, v4: l.farV4, v6: l.farV6, hostIf, unreachable, prohibit };
}

async function buildTarget(lab: Lab, spec: TargetSpec): Promise<LabTarget> {
  if (!NAME.test(spec.name) || lab.targets.has(spec.name)) {
    throw new LabError("LAB_BAD_ARGUMENT", `target name must be unique and match ${NAME}: ${spec.name}`);
  }
  const router = lab.router;
  if (spec.behindRouter && !router) throw new LabError("LAB_BAD_ARGUMENT", "behindRouter needs a router");
  if (spec.behindRouter && spec.impair) {
    throw new LabError("LAB_BAD_ARGUMENT", "a target behind the router cannot have an impairment stage");
  }
  const ns = await lab.addNamespace(`t${spec.name}`, spec.icmpRateLimit === "linux" ? {} : ICMP_UNLIMITED);
  const l = lab.plan.link();
  const range = spec.rangeSize ? lab.plan.range(spec.rangeSize) : undefined;
  const t: LabTarget = { name: spec.name, ns, v4: l.farV4, v6: l.farV6, hostIf: "", targetIf: "eth0" };
  if (range) t.range = range;

  // The near end of the link: the test namespace, or the router for targets behind it.
  const nearNs = spec.behindRouter ? router?.ns : undefined;
  let nearIf: string;
  if (spec.behindRouter && router) {
    nearIf = `down${l.index}`;
    t.hostIf = router.hostIf;
    await addVeth(router.ns, nearIf, l.nearMac, ns, "eth0", l.farMac);
  } else {
    nearIf = lab.newHostIf();
    t.hostIf = nearIf;
    if (spec.impair) {
      const ins = await lab.addNamespace(`i${spec.name}`, {
        "net.ipv6.conf.all.disable_ipv6": 1,
        "net.ipv6.conf.default.disable_ipv6": 1,
      });
      t.impairNs = ins;
      await addVeth(undefined, nearIf, l.nearMac, ins, "tohost", undefined);
      await addVeth(ins, "totgt", undefined, ns, "eth0", l.farMac);
      await ipBatch(ins, ["link set dev tohost up", "link set dev totgt up"]);
    } else {
      await addVeth(undefined, nearIf, l.nearMac, ns, "eth0", l.farMac);
    }
  }
  await noDad(nearNs, nearIf);
  await ipBatch(nearNs, linkAddrLines(nearIf, l, true));
  const targetLines = [
    ...linkAddrLines("eth0", l, false),
    `route add default via ${l.nearV4}`,
    `route add ::/0 via ${l.nearV6}`,
  ];
  if (range) {
    targetLines.push(`route add local ${range.v4Cidr} dev lo`, `route add local ${range.v6Cidr} dev lo`);
    // IPv6 range addresses are also assigned: Linux sends an ICMPv6 error (UDP port unreachable) from
    // the offending packet's destination only when that address is assigned, else from eth0's; a
    // real host answers from its own address, and only the destination's errors answer a probe.
    for (const a of range.all6()) targetLines.push(`addr add ${a}/128 dev lo nodad`);
  }
  await ipBatch(ns, targetLines);
  if (range) {
    await ipBatch(nearNs, [
      `route add ${range.v4Cidr} via ${l.farV4}`,
      `route add ${range.v6Cidr} via ${l.farV6}`,
    ]);
  }
  if (spec.behindRouter && router) {
    // The test namespace reaches the target's link and range through the router.
    const lines = [`route add ${l.v4Cidr} via ${router.v4}`, `route add ${l.v6Cidr} via ${router.v6}`];
    if (range)
      lines.push(`route add ${range.v4Cidr} via ${router.v4}`, `route add ${range.v6Cidr} via ${router.v6}`);
    await ipBatch(undefined, lines);
  }
  if (t.impairNs) {
    t.impair = await ImpairStage.start(lab.procs, t.impairNs, "tohost", "totgt");
    const imp = typeof spec.impair === "object" ? spec.impair : {};
    if (imp.to) await t.impair.set("to", imp.to);
    if (imp.from) await t.impair.set("from", imp.from);
  }
  await startResponder(lab, ns, spec.tcpPorts ?? []);
  return t;
}

/** Checks isolation, then builds the topology. Always destroy() it (it also goes on process exit). */
export async function createLab(spec: LabSpec = {}): Promise<Lab> {
  await assertIsolated();
  const { slot, server } = await claimSlot();
  const lab = new Lab(slot, server, new AddressPlan(slot));
  live.add(lab);
  installExitHook();
  try {
    if (spec.router) lab.router = await buildRouter(lab, spec.router === true ? {} : spec.router);
    for (const t of spec.targets ?? []) lab.targets.set(t.name, await buildTarget(lab, t));
  } catch (e) {
    await lab.destroy();
    throw e;
  }
  return lab;
}
