// The filters attached to real raw sockets (SO_ATTACH_FILTER through the native addon), fed by real
// kernel replies on loopback: SYN-ACKs from a listening socket, RST-ACKs from a closed port, a bare RST,
// echo replies, ICMP port unreachable from closed UDP ports, plus crafted ICMP errors injected through
// a raw TX socket. Needs root, and runs only in a fresh network namespace whose traffic stays on lo
// (`sh src/lab/enter.sh node --test dist/test/bpf/`).
//
// Two checks per filtered socket: (1) exactly the expected replies arrive, and (2) an unfiltered
// control socket of the same protocol saw every packet of the scenario, and the filtered socket got
// exactly those the test interpreter accepts: the kernel and the interpreter agree packet by packet.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import type { BpfProgram } from "../../src/bpf/asm.js";
import { encode } from "../../src/bpf/asm.js";
import { icmpFilter, icmpv6Filter } from "../../src/bpf/icmp.js";
import { tcpReplyFilter } from "../../src/bpf/tcp.js";
import {
  ADDRESS_BYTES,
  allocRecvBuffers,
  IPPROTO,
  META_TRUNCATED,
  type RawSocket,
  RawSockets,
  RECV_META_WORDS,
  SEND_RECORD_WORDS,
  SEND_RESULT_WORDS,
} from "../../src/native/rawsock.js";
import { accepts } from "./interp.js";
import {
  ACK,
  echo,
  icmpError,
  ipv4,
  ipv6,
  LO6,
  pseudo4,
  pseudo6,
  SYN,
  tcp,
  udp,
  withChecksum,
} from "./packets.js";

// A private band of ports and ICMP identifiers: above ip_local_port_range (32768-60999), so no
// connection of another test can use them, and the oracle only looks at packets inside the band.
const BAND = { lo: 63300, hi: 63700 };
const IDS = { lo: 28100, hi: 28200 };
/** The filters' source port range: the probes netprobify would send. */
const R = { lo: 63400, hi: 63499 };
const LISTEN = 63691;
const CLOSED_TCP = 63690;
const CLOSED_UDP = 63692;
const ECHO_IDS = { lo: 28160, hi: 28175 };

const inBand = (p: number) => p >= BAND.lo && p <= BAND.hi;
const inIds = (i: number) => i >= IDS.lo && i <= IDS.hi;

/** Refuses to send unless this is the lab: NETPROBIFY_LAB=1 or a network namespace with only lo. */
function assertLab(): void {
  if (process.getuid?.() !== 0) throw new Error("the kernel BPF test needs root (raw sockets)");
  const ifs = readFileSync("/proc/self/net/dev", "utf8")
    .split("\n")
    .slice(2)
    .map((l) => l.split(":")[0]!.trim())
    .filter((n) => n !== "");
  const onlyLo = ifs.length === 1 && ifs[0] === "lo";
  if (process.env.NETPROBIFY_LAB !== "1" && !onlyLo) {
    throw new Error(
      `refusing to send: interfaces here are [${ifs.join(", ")}]; run inside a fresh namespace, ` +
        "e.g. `sh src/lab/enter.sh node --test dist/test/bpf/`",
    );
  }
  if (!ifs.includes("lo")) throw new Error("no loopback interface in this namespace");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const be16 = (p: Uint8Array, o: number) => (p[o]! << 8) | p[o + 1]!;

/** Where the transport (or ICMP) header starts in what a raw socket of this family delivers. */
const l4 = (family: 4 | 6, p: Uint8Array) => (family === 4 ? (p[0]! & 15) * 4 : 0);

/** "SA>63400": flags (S, A, R, F letters) and destination port of a TCP segment. */
function describeTcp(family: 4 | 6, p: Uint8Array): string {
  const t = l4(family, p);
  const f = p[t + 13]!;
  const name = [
    [0x02, "S"],
    [0x10, "A"],
    [0x04, "R"],
    [0x01, "F"],
  ]
    .filter(([bit]) => f & (bit as number))
    .map(([, n]) => n)
    .join("");
  return `${name}>${be16(p, t + 2)}`;
}

function tcpInScenario(family: 4 | 6, p: Uint8Array): boolean {
  const t = l4(family, p);
  return p.length >= t + 4 && (inBand(be16(p, t)) || inBand(be16(p, t + 2)));
}

/** The quoted packet of an ICMP error: protocol, offset of its transport header, "hbh+" if an IPv6
 * hop-by-hop header came first (skipped here so the scenario can name it). */
function quote(family: 4 | 6, p: Uint8Array): { proto: number; t: number; prefix: string } {
  const q = l4(family, p) + 8;
  if (family === 4) return { proto: p[q + 9] ?? -1, t: q + (p[q]! & 15) * 4, prefix: "" };
  const nh = p[q + 6] ?? -1;
  if (nh !== 0) return { proto: nh, t: q + 40, prefix: "" };
  return { proto: p[q + 40] ?? -1, t: q + 40 + ((p[q + 41] ?? 0) + 1) * 8, prefix: "hbh+" };
}

/** "echo-reply 28160", "unreach udp 63410", "exceeded icmp 28161"... */
function describeIcmp(family: 4 | 6, p: Uint8Array): string {
  const m = l4(family, p);
  const type = p[m]!;
  const names: Record<number, string> =
    family === 4
      ? { 0: "echo-reply", 8: "echo-request", 3: "unreach", 11: "exceeded", 12: "param" }
      : { 129: "echo-reply", 128: "echo-request", 1: "unreach", 3: "exceeded", 4: "param" };
  const kind = names[type] ?? `type${type}`;
  if (kind.startsWith("echo")) return `${kind} ${be16(p, m + 4)}`;
  const { proto, t, prefix } = quote(family, p);
  const pname =
    proto === 6 ? "tcp" : proto === 17 ? "udp" : proto === 1 || proto === 58 ? "icmp" : `p${proto}`;
  return `${kind} ${prefix}${pname} ${pname === "icmp" ? be16(p, t + 4) : be16(p, t)}`;
}

function icmpInScenario(family: 4 | 6, p: Uint8Array): boolean {
  const m = l4(family, p);
  if (p.length < m + 8) return false;
  const type = p[m]!;
  if (type === 0 || type === 8 || type === 128 || type === 129) return inIds(be16(p, m + 4));
  const { proto, t } = quote(family, p);
  if (p.length < t + 6) return false;
  if (proto === 6 || proto === 17) return inBand(be16(p, t)) || inBand(be16(p, t + 2));
  return inIds(be16(p, t + 4));
}

interface Scenario {
  family: 4 | 6;
  protocol: number;
  programs: BpfProgram[];
  /** The descriptions each filtered socket must receive, exactly (order ignored). */
  expected: string[][];
  /** Descriptions the control socket must see (proof that the dropped packets did arrive). */
  controlIncludes: string[];
  describe: (family: 4 | 6, p: Uint8Array) => string;
  mine: (family: 4 | 6, p: Uint8Array) => boolean;
  send: () => Promise<void>;
}

/** Drains everything waiting on a socket. */
function drain(s: RawSocket, into: Uint8Array[]): void {
  const b = allocRecvBuffers(64, 4096);
  for (;;) {
    const n = s.recvBatch(b);
    for (let i = 0; i < n; i++) {
      const o = i * RECV_META_WORDS;
      assert.equal(b.meta[o + 1]! & META_TRUNCATED, 0, "a packet was truncated by the receive slot");
      into.push(b.data.slice(i * b.slotSize, i * b.slotSize + b.meta[o]!));
    }
    if (n < b.slots) return;
  }
}

const sorted = (xs: string[]) => [...xs].sort();

async function runScenario(socks: RawSockets, sc: Scenario): Promise<void> {
  const { family } = sc;
  const opened: RawSocket[] = [];
  try {
    // Filtered sockets first, control last, then flush all: after that every packet reaches all.
    const filtered = sc.programs.map((prog) => {
      const s = socks.openRx(family, sc.protocol, { rxTimestamps: false });
      opened.push(s);
      s.attachFilter(encode(prog));
      return s;
    });
    const control = socks.openRx(family, sc.protocol, { rxTimestamps: false });
    opened.push(control);
    for (const s of opened) drain(s, []);

    await sc.send();

    const got: Uint8Array[][] = filtered.map(() => []);
    const seen: Uint8Array[] = [];
    const deadline = Date.now() + 3000;
    const done = () =>
      got.every((g, i) => g.filter((p) => sc.mine(family, p)).length >= sc.expected[i]!.length);
    while (!done() && Date.now() < deadline) {
      await sleep(10);
      drain(control, seen);
      for (const [i, s] of filtered.entries()) drain(s, got[i]!);
    }
    await sleep(150); // stragglers that should not be there
    drain(control, seen);
    for (const [i, s] of filtered.entries()) drain(s, got[i]!);

    const mine = seen.filter((p) => sc.mine(family, p));
    const seenNames = mine.map((p) => sc.describe(family, p));
    for (const name of sc.controlIncludes) {
      assert.ok(
        seenNames.includes(name),
        `control socket never saw "${name}"; saw ${JSON.stringify(seenNames)}`,
      );
    }
    sc.programs.forEach((prog, i) => {
      const ours = got[i]!.filter((p) => sc.mine(family, p));
      assert.deepEqual(
        sorted(ours.map((p) => sc.describe(family, p))),
        sorted(sc.expected[i]!),
        `filter ${i}: what passed the kernel`,
      );
      const hex = (ps: Uint8Array[]) => sorted(ps.map((p) => Buffer.from(p).toString("hex")));
      assert.deepEqual(
        hex(ours),
        hex(mine.filter((p) => accepts(prog, p))),
        `filter ${i}: the kernel and the interpreter disagree`,
      );
    });
  } finally {
    for (const s of opened) s.close();
  }
}

/** Sends fully built packets (IP header included) to loopback. */
function sendRaw(tx: RawSocket, family: 4 | 6, packets: Uint8Array[]): void {
  const dst = family === 4 ? Uint8Array.from([127, 0, 0, 1]) : LO6;
  const total = packets.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(total);
  const records = new Uint32Array(packets.length * SEND_RECORD_WORDS);
  const addresses = new Uint8Array(ADDRESS_BYTES);
  addresses.set(dst);
  let off = 0;
  packets.forEach((p, i) => {
    data.set(p, off);
    records.set([off, p.length, 0, 0], i * SEND_RECORD_WORDS);
    off += p.length;
  });
  const results = new Uint32Array(packets.length * SEND_RESULT_WORDS);
  const sent = tx.sendBatch({ data, records, addresses }, 0, packets.length, results);
  assert.equal(
    sent,
    packets.length,
    `sendBatch sent ${sent} of ${packets.length}, errno ${results[sent * 2]}`,
  );
}

/** One UDP datagram from `sport` to the closed UDP port, through the kernel's own UDP stack. */
async function udpFrom(family: 4 | 6, sport: number): Promise<void> {
  const host = family === 4 ? "127.0.0.1" : "::1";
  const s = createSocket(family === 4 ? "udp4" : "udp6");
  s.on("error", () => {}); // ICMP errors may surface here; they are what we want, not failures
  await new Promise<void>((r) => s.bind(sport, host, r));
  await new Promise<void>((r, j) => s.send("probe", CLOSED_UDP, host, (e) => (e ? j(e) : r())));
  await sleep(20);
  await new Promise<void>((r) => s.close(r));
}

for (const family of [4, 6] as const) {
  const LOCAL = family === 4 ? "127.0.0.1" : "::1";
  const src6 = LO6;

  /** A TCP segment from `sport` to `dport` on loopback, with a valid checksum. */
  function segment(sport: number, dport: number, flags: number, seq: number, ack = 0): Buffer {
    if (family === 4) {
      const t = tcp({ sport, dport, flags, seq, ack }, pseudo4(LOCAL, LOCAL, 6, 20));
      return ipv4({ proto: 6, src: LOCAL, dst: LOCAL }, t);
    }
    const t = tcp({ sport, dport, flags, seq, ack }, pseudo6(src6, src6, 6, 20));
    return ipv6(6, t, 64, src6, src6);
  }

  /** An ICMP/ICMPv6 message on loopback, checksummed, optionally behind IPv4 options. */
  function icmpPacket(msg: Buffer, options?: Buffer): Buffer {
    if (family === 4) return ipv4({ proto: 1, src: LOCAL, dst: LOCAL, ...(options ? { options } : {}) }, msg);
    return ipv6(58, withChecksum(msg, pseudo6(src6, src6, 58, msg.length), 2), 64, src6, src6);
  }

  const v4 = family === 4;
  const echoMsg = (type: number, id: number) => echo(type, id, 1, Buffer.alloc(16, 0x61), v4);
  // Quoted packets: what one of our probes would look like after leaving this host.
  const quoted = (proto: number, body: Buffer) => (v4 ? ipv4({ proto }, body) : ipv6(proto, body));
  const qUdp = (sport: number) => quoted(17, udp(sport, 33434));
  const qTcp = (sport: number) => quoted(6, tcp({ sport, dport: 80, flags: SYN }).subarray(0, 8));
  const qEcho = (id: number) => quoted(v4 ? 1 : 58, echoMsg(v4 ? 8 : 128, id));
  const T = v4 ? { unreach: 3, exceeded: 11, param: 12 } : { unreach: 1, exceeded: 3, param: 4 };

  describe(`bpf filters on real raw sockets, IPv${family} (needs root, lab namespace)`, () => {
    let socks: RawSockets;
    let tx: RawSocket;
    let server: Server;

    before(async () => {
      assertLab();
      socks = new RawSockets();
      tx = socks.openTx(family, { txTimestamps: false });
      server = createServer((c) => c.destroy());
      await new Promise<void>((r, j) => {
        server.once("error", j);
        server.listen(LISTEN, LOCAL, r);
      });
    });

    after(async () => {
      tx?.close();
      await new Promise((r) => (server?.listening ? server.close(r) : r(undefined)));
    });

    test(`TCP: SYN-ACK, RST-ACK and RST to our ports pass, by port, flags and ack window (needs root)`, async () => {
      await runScenario(socks, {
        family,
        protocol: IPPROTO.TCP,
        programs: [
          tcpReplyFilter({ family, ports: R }),
          tcpReplyFilter({ family, ports: R, ackWindow: { lo: 0xfffffff0, hi: 0x10 } }),
          tcpReplyFilter({
            family,
            ports: R,
            accept: { rstAck: false, rst: false },
            ackWindow: { lo: 1000, hi: 1999 },
          }),
        ],
        expected: [
          ["SA>63400", "SA>63401", "SA>63402", "AR>63499", "R>63403"],
          ["SA>63401", "R>63403"],
          ["SA>63400"],
        ],
        controlIncludes: ["S>63691", "SA>63399", "AR>63500", "SA>63402", "R>63691", "AR>63499"],
        describe: describeTcp,
        mine: tcpInScenario,
        send: async () => {
          sendRaw(tx, family, [
            segment(63400, LISTEN, SYN, 1000), // SA, ack - 1 = 1000
            segment(63401, LISTEN, SYN, 0xffffffff), // SA, ack = 0: ack - 1 wraps to 0xffffffff
            segment(63402, LISTEN, SYN, 0x11), // SA, ack - 1 = 0x11: just outside the wrapping window
            segment(63499, CLOSED_TCP, SYN, 1500), // RST-ACK from a closed port
            segment(63403, CLOSED_TCP, ACK, 5, 777), // a stray ACK: answered by a bare RST
            segment(63399, LISTEN, SYN, 1000), // below the range
            segment(63500, CLOSED_TCP, SYN, 1000), // above the range
          ]);
        },
      });
    });

    test(`ICMP${v4 ? "" : "v6"}: echo replies and errors quoting our probes pass (needs root)`, async () => {
      const ext = v4
        ? ipv4({ proto: 17, options: Buffer.from([1, 1, 1, 1]) }, udp(63450, 33434)) // quoted IPv4 options
        : ipv6(0, Buffer.concat([Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]), udp(63450, 33434)])); // hop-by-hop
      await runScenario(socks, {
        family,
        protocol: v4 ? IPPROTO.ICMP : IPPROTO.ICMPV6,
        programs: [
          (v4 ? icmpFilter : icmpv6Filter)({
            echoReplyIds: [ECHO_IDS],
            quotedPorts: R,
            quotedEchoIds: [ECHO_IDS],
          }),
          (v4 ? icmpFilter : icmpv6Filter)({ quotedPorts: R, quotedProtocols: ["udp"], timeExceeded: false }),
        ],
        expected: [
          [
            "echo-reply 28160",
            "unreach udp 63410",
            "exceeded tcp 63420",
            "exceeded icmp 28161",
            "unreach udp 63430",
          ],
          ["unreach udp 63410", "unreach udp 63430"],
        ],
        controlIncludes: [
          "echo-request 28160",
          "echo-reply 28176",
          "unreach udp 63500",
          "exceeded udp 63599",
          "param udp 63440",
          v4 ? "unreach udp 63450" : "unreach hbh+udp 63450",
        ],
        describe: describeIcmp,
        mine: icmpInScenario,
        send: async () => {
          sendRaw(tx, family, [
            icmpPacket(echoMsg(v4 ? 8 : 128, 28160)), // answered by the kernel: echo reply 28160
            icmpPacket(echoMsg(v4 ? 8 : 128, 28176)), // echo reply with an identifier not ours
            icmpPacket(icmpError(T.exceeded, 0, qTcp(63420), v4)),
            icmpPacket(icmpError(T.exceeded, 0, qUdp(63599), v4)), // quotes a port outside the range
            icmpPacket(icmpError(T.exceeded, 0, qEcho(28161), v4)),
            // Behind outer IPv4 options on IPv4 (the filter must follow IHL); plain on IPv6.
            icmpPacket(icmpError(T.unreach, 1, qUdp(63430), v4), v4 ? Buffer.from([1, 1, 1, 1]) : undefined),
            icmpPacket(icmpError(T.param, 0, qUdp(63440), v4)), // a type we do not accept
            icmpPacket(icmpError(T.unreach, 1, ext, v4)), // a quote that cannot be ours
          ]);
          await udpFrom(family, 63410); // the kernel answers: port unreachable quoting 63410
          await udpFrom(family, 63500); // ... and 63500, outside the range
        },
      });
    });
  });
}
