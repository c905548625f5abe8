// Probing tools for the fabric tests, independent of netprobify's engine: UDP datagrams and TCP SYNs
// from chosen source ports with a chosen TTL (UDP via the socket option, TCP via an nftables rule
// in the prober's output hook), and a decoder of the ICMP errors a capture saw, telling which
// router answered which flow.

import dgram from "node:dgram";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../src/lab/exec.js";
import type { Fabric } from "../../src/lab/fabric.js";
import type { PcapRecord } from "../../src/lab/lab.js";

export interface IcmpReply {
  /** The router or target that answered. */
  from: string;
  kind: "ttl" | "unreach";
  /** Protocol (6, 17, 1/58) and source port (ICMP: the echo identifier) of the quoted probe. */
  proto: number;
  sport: number;
}

/** Decodes ICMP/ICMPv6 time exceeded and destination unreachable in Ethernet frames. */
export function icmpReplies(records: readonly PcapRecord[]): IcmpReply[] {
  const out: IcmpReply[] = [];
  for (const { data: d } of records) {
    const etype = d.readUInt16BE(12);
    if (etype === 0x0800) {
      const ip = 14;
      if (d[ip + 9] !== 1) continue;
      const icmp = ip + ((d[ip] ?? 0) & 15) * 4;
      const type = d[icmp];
      if (type !== 11 && type !== 3) continue;
      const inner = icmp + 8;
      const innerL4 = inner + ((d[inner] ?? 0) & 15) * 4;
      const proto = d[inner + 9] ?? 0;
      const sport = proto === 1 ? d.readUInt16BE(innerL4 + 4) : d.readUInt16BE(innerL4);
      const from = [...d.subarray(ip + 12, ip + 16)].join(".");
      out.push({ from, kind: type === 11 ? "ttl" : "unreach", proto, sport });
    } else if (etype === 0x86dd) {
      const ip = 14;
      if (d[ip + 6] !== 58) continue;
      const icmp = ip + 40;
      const type = d[icmp];
      if (type !== 3 && type !== 1) continue;
      const inner = icmp + 8;
      const proto = d[inner + 6] ?? 0;
      const sport = proto === 58 ? d.readUInt16BE(inner + 44) : d.readUInt16BE(inner + 40);
      out.push({ from: v6(d.subarray(ip + 8, ip + 24)), kind: type === 3 ? "ttl" : "unreach", proto, sport });
    }
  }
  return out;
}

function v6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Canonical form (RFC 5952) through the URL parser's IPv6 serializer.
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}

/** Sends `count` UDP datagrams from each source port to dst:33434 with the given TTL. */
export async function sendUdp(
  src: string,
  dst: string,
  ports: number[],
  ttl: number,
  count = 1,
): Promise<void> {
  for (const port of ports) {
    const s = dgram.createSocket(dst.includes(":") ? "udp6" : "udp4");
    await new Promise<void>((res, rej) => {
      s.once("error", rej);
      s.bind({ port, address: src, exclusive: true }, () => res());
    });
    s.setTTL(ttl);
    for (let i = 0; i < count; i++) {
      await new Promise<void>((res, rej) =>
        s.send(Buffer.from("fabric"), 33434, dst, (e) => (e ? rej(e) : res())),
      );
    }
    s.close();
  }
}

/** Opens a TCP connection (one SYN) from each source port, then abandons it. */
export async function sendSyn(src: string, dst: string, ports: number[]): Promise<void> {
  for (const port of ports) {
    const s = net.connect({ host: dst, port: 80, localAddress: src, localPort: port });
    s.on("error", () => {
      // Time exceeded or RST: either is fine, the capture tells.
    });
    await sleep(2);
    s.destroy();
  }
}

/** Makes TCP SYNs from ports lo..hi leave the prober with this TTL / hop limit (0 removes). */
export async function tcpTtl(lo: number, hi: number, ttl: number): Promise<void> {
  const rules =
    ttl > 0
      ? [`    tcp sport ${lo}-${hi} ip ttl set ${ttl}`, `    tcp sport ${lo}-${hi} ip6 hoplimit set ${ttl}`]
      : [];
  const nft = [
    "table inet fabric_test",
    "delete table inet fabric_test",
    "table inet fabric_test {",
    "  chain output {",
    "    type filter hook output priority 0; policy accept;",
    ...rules,
    "  }",
    "}",
  ];
  await run("nft", ["-f", "-"], { input: `${nft.join("\n")}\n` });
}

/** Runs `send` with a capture on the prober's link and returns the ICMP errors it brought back. */
export async function probe(f: Fabric, send: () => Promise<void>): Promise<IcmpReply[]> {
  const cap = await f.lab.capture({ iface: f.proberIf, filter: "icmp or icmp6" });
  await send();
  // Every answer is one router hop or four away on an idle fabric: 500 ms is plenty even on a busy
  // machine, and a late one only shows as a missing answer, which the tests report with the data.
  await sleep(500);
  const { records } = await cap.stop();
  return icmpReplies(records);
}

/** Which answering address each source port's probes saw (the first answer; all listed in `all`). */
export function bySport(replies: readonly IcmpReply[]): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const r of replies) m.set(r.sport, [...(m.get(r.sport) ?? []), r.from]);
  return m;
}

/** The spine (1-based) whose traceroute address is `addr`, or 0. */
export function spineOf(f: Fabric, addr: string): number {
  const l = f.links.find((x) => x.id.startsWith("leaf1-") && (x.to.v4 === addr || x.to.v6 === addr));
  return l?.spine ?? 0;
}

export function range(lo: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + i);
}
