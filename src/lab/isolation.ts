// The lab's safety interlock. Probes may only reach namespaces the run created, so before building
// anything the lab checks that it runs inside src/lab/enter.sh (NETPROBIFY_LAB=1) and that the
// current network namespace is sealed: no default route, no interface except lo and the lab's own
// veths, no address outside loopback, link-local and the lab ranges 198.18.0.0/15 and fd18::/16.
// A test run by mistake in the host namespace stops here instead of sending packets to real hosts.

import { LabError, run } from "./exec.js";

/** Host-side veth names the lab creates: nl<slot>-<index>. */
export const LAB_IFNAME = /^nl\d+-\d+$/;

interface IpLink {
  ifname: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
}

interface IpAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

function v4InLab(a: string): boolean {
  const [x, y] = a.split(".").map(Number);
  return x === 198 && (y === 18 || y === 19);
}

function allowedAddress(family: string, a: string): boolean {
  if (family === "inet") return a.startsWith("127.") || v4InLab(a);
  const l = a.toLowerCase();
  return l === "::1" || l.startsWith("fe80:") || /^fd18:/.test(l);
}

/** Throws LabError(LAB_NOT_ISOLATED) unless the current namespace is a sealed lab namespace. */
export async function assertIsolated(): Promise<void> {
  if (process.env.NETPROBIFY_LAB !== "1") {
    throw new LabError(
      "LAB_NOT_ISOLATED",
      "NETPROBIFY_LAB is not 1: run this inside the lab, e.g. `sh src/lab/enter.sh node --test dist/test/lab/`",
    );
  }
  const problems: string[] = [];
  for (const fam of ["-4", "-6"]) {
    const r = await run("ip", ["-j", fam, "route", "show", "table", "all", "default"]);
    const routes = JSON.parse(r.stdout || "[]") as { dst: string; type?: string }[];
    const real = routes.filter(
      (x) => x.type !== "unreachable" && x.type !== "prohibit" && x.type !== "blackhole",
    );
    if (real.length > 0) problems.push(`default route present (${fam}): ${JSON.stringify(real)}`);
  }
  const links = JSON.parse((await run("ip", ["-j", "-d", "link", "show"])).stdout || "[]") as IpLink[];
  for (const l of links) {
    if (l.ifname === "lo") continue;
    if (LAB_IFNAME.test(l.ifname) && l.linkinfo?.info_kind === "veth") continue;
    problems.push(`unexpected interface ${l.ifname} (${l.linkinfo?.info_kind ?? l.link_type ?? "?"})`);
  }
  const addrs = JSON.parse((await run("ip", ["-j", "addr", "show"])).stdout || "[]") as IpAddr[];
  for (const a of addrs) {
    for (const i of a.addr_info ?? []) {
      if (!allowedAddress(i.family, i.local))
        problems.push(`address ${i.local} on ${a.ifname} is outside the lab`);
    }
  }
  if (problems.length > 0) {
    throw new LabError("LAB_NOT_ISOLATED", `this namespace is not an isolated lab: ${problems.join("; ")}`);
  }
}
