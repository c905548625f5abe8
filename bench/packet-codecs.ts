// Micro-benchmark of the packet codecs on the hot path: full probe builds (with padding and all
// checksums), RFC 1624 patches of a precomputed probe, and the parsers raw sockets feed (replies and
// ICMP errors). Prints packets/s per operation as a table, and JSON with --json.
// Run: npx tsc -p tsconfig.json && node dist/bench/packet-codecs.js [--json]
import {
  addressBytes,
  buildPacket,
  ICMP,
  IPV4,
  type PacketOptions,
  parseIcmp,
  parseIPv4Packet,
  parseIPv6Packet,
  parseIPv6Transport,
  patch16,
  patch32,
  pseudoSum4,
  TCP,
  TcpFlag,
  writeChecksum,
  writeIcmpErrorHeader,
  writeIPv4Header,
  writeTcpHeader,
} from "../src/packet/index.js";

const v4 = { src: addressBytes("198.18.0.1"), dst: addressBytes("198.18.1.1") };
const v6 = { src: addressBytes("fd18::1"), dst: addressBytes("fd18:1::1") };

function rate(name: string, fn: (i: number) => number, ms = 400): { name: string; perSecond: number } {
  let sink = 0;
  for (let i = 0; i < 20000; i++) sink += fn(i);
  let n = 0;
  const start = process.hrtime.bigint();
  const stop = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < stop) {
    for (let k = 0; k < 1000; k++) sink += fn(n++);
    now = process.hrtime.bigint();
  }
  if (sink === -1) console.log(sink);
  return { name, perSecond: Math.round(n / (Number(now - start) / 1e9)) };
}

const buf = new Uint8Array(2048);
const syn4: PacketOptions = {
  protocol: "tcp-syn",
  ...v4,
  srcPort: 40000,
  dstPort: 443,
  seq: 1,
  id: 1,
  df: true,
  dscp: 0,
};
const results = [
  rate("build IPv4 TCP SYN (40 B)", (i) => {
    syn4.seq = i;
    return buildPacket(buf, 0, syn4);
  }),
  rate("build IPv4 UDP 1000 B", (i) =>
    buildPacket(buf, 0, {
      protocol: "udp",
      ...v4,
      srcPort: 40000,
      dstPort: 33434,
      tag: i,
      payloadSize: 1000,
    }),
  ),
  rate("build IPv6 ICMP echo 64 B", (i) =>
    buildPacket(buf, 0, {
      protocol: "icmp-echo",
      ...v6,
      icmpId: 7,
      seq: i & 0xffff,
      flowLabel: 5,
      payloadSize: 64,
    }),
  ),
  rate("patch IPv4 SYN seq + IP ID (RFC 1624)", (i) => {
    patch32(buf, 20 + TCP.SEQ, i, 20 + TCP.CHECKSUM);
    patch16(buf, IPV4.ID, i, IPV4.CHECKSUM);
    return 1;
  }),
];

// Replies to parse.
const synAck = new Uint8Array(40);
writeTcpHeader(synAck, 20, {
  srcPort: 443,
  dstPort: 40000,
  seq: 9,
  ack: 2,
  flags: TcpFlag.SYN | TcpFlag.ACK,
  window: 1,
});
writeChecksum(synAck, 20, 20, pseudoSum4(v4.dst, 0, v4.src, 0, 6, 20), 20 + TCP.CHECKSUM);
writeIPv4Header(synAck, 0, {
  totalLength: 40,
  id: 0,
  df: true,
  ttl: 60,
  protocol: 6,
  src: v4.dst,
  dst: v4.src,
});
const probe = new Uint8Array(2048);
const pn = buildPacket(probe, 0, {
  protocol: "udp",
  ...v4,
  srcPort: 40000,
  dstPort: 33434,
  tag: 5,
  payloadSize: 100,
});
const unreach = new Uint8Array(28 + pn);
writeIcmpErrorHeader(unreach, 20, 3, 3);
unreach.set(probe.subarray(0, pn), 28);
writeChecksum(unreach, 20, 8 + pn, 0, 20 + ICMP.CHECKSUM);
writeIPv4Header(unreach, 0, {
  totalLength: unreach.length,
  id: 0,
  df: false,
  ttl: 64,
  protocol: 1,
  src: v4.dst,
  dst: v4.src,
});
const echo6 = new Uint8Array(104);
buildPacket(echo6, 0, { protocol: "icmp-echo", ...v6, icmpId: 1, seq: 1, payloadSize: 64 });

results.push(
  rate("parse IPv4 SYN-ACK (raw socket entry)", () => parseIPv4Packet(synAck, 0, 40)?.tcp?.ack ?? 0),
  rate(
    "parse IPv4 ICMP port unreachable + quote",
    () => parseIPv4Packet(unreach, 0, unreach.length)?.protocol ?? 0,
  ),
  rate("parse ICMP error from ICMP header only", () => (parseIcmp(unreach, 20, unreach.length - 20) ? 1 : 0)),
  rate("parse IPv6 ICMPv6 echo (whole packet)", () => parseIPv6Packet(echo6, 0, 104)?.protocol ?? 0),
  rate(
    "parse IPv6 ICMPv6 echo (raw socket entry)",
    () => parseIPv6Transport(echo6, 40, 64, 58)?.protocol ?? 0,
  ),
);

if (process.argv.includes("--json")) console.log(JSON.stringify(results, null, 1));
else
  for (const r of results)
    console.log(`${r.name.padEnd(46)} ${(r.perSecond / 1e6).toFixed(2).padStart(7)} M/s`);
