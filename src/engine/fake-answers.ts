// What a target answers to a probe, in the form the kernel delivers it to a raw socket (IPv4 with its
// IP header, IPv6 from the transport header): an echo reply, a SYN-ACK (an open port) or a RST-ACK (a
// closed one), or an ICMP port unreachable quoting a UDP probe. Used by the engine's warm-up
// (warmup.ts) and the offline daemon bench to answer every probe sent to the fake sockets
// (answerEverySend), and by the engine tests' scripted fake network.
import type { FakeBinding, FakeSentPacket } from "../native/fake.js";
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  type ParsedPacket,
  parseIPv4Packet,
  parseIPv6Packet,
  pseudoSum4,
  pseudoSum6,
  TcpFlag,
  writeChecksum,
  writeIcmpEcho,
  writeIcmpErrorHeader,
  writeIPv4Header,
  writeTcpHeader,
} from "../packet/index.js";

/**
 * Builds the kernel-delivered form of a reply to `sent` (IPv4: with IP header; IPv6: transport only);
 * a TCP probe is answered as by a closed port (RST-ACK) when `closed`, else by an open one (SYN-ACK).
 */
export function replyTo(
  p: ParsedPacket,
  sent: FakeSentPacket,
  closed = false,
): { protocol: number; bytes: Uint8Array } {
  const v4 = p.family === 4;
  const ipOff = v4 ? 20 : 0;
  const buf = new Uint8Array(ipOff + 8 + sent.bytes.length);
  const src = sent.dst;
  const dst = v4 ? sent.bytes.subarray(12, 16) : sent.bytes.subarray(8, 24);
  let len: number;
  let protocol: number;
  if (p.tcp) {
    protocol = IPPROTO_TCP;
    writeTcpHeader(buf, ipOff, {
      srcPort: p.tcp.dstPort,
      dstPort: p.tcp.srcPort,
      seq: closed ? 0 : 7,
      ack: (p.tcp.seq + 1) >>> 0,
      flags: closed ? TcpFlag.RST | TcpFlag.ACK : TcpFlag.SYN | TcpFlag.ACK,
      window: 1000,
    });
    len = 20;
    const ps = v4 ? pseudoSum4(src, 0, dst, 0, 6, 20) : pseudoSum6(src, 0, dst, 0, 6, 20);
    writeChecksum(buf, ipOff, 20, ps, ipOff + 16);
  } else if (p.icmp?.kind === "echo") {
    protocol = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    writeIcmpEcho(buf, ipOff, v4 ? 0 : 129, p.icmp.id, p.icmp.seq);
    len = 8;
    writeChecksum(buf, ipOff, 8, v4 ? 0 : pseudoSum6(src, 0, dst, 0, 58, 8), ipOff + 2);
  } else {
    // UDP: port unreachable quoting the whole probe.
    protocol = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    writeIcmpErrorHeader(buf, ipOff, v4 ? 3 : 1, v4 ? 3 : 4);
    buf.set(sent.bytes, ipOff + 8);
    len = 8 + sent.bytes.length;
    writeChecksum(buf, ipOff, len, v4 ? 0 : pseudoSum6(src, 0, dst, 0, 58, len), ipOff + 2);
  }
  if (v4) writeIPv4Header(buf, 0, { totalLength: 20 + len, id: 1, df: false, ttl: 60, protocol, src, dst });
  return { protocol, bytes: buf.subarray(0, ipOff + len) };
}

/**
 * Answers every probe the fake sockets send (not our RSTs) `rttNs` later on the fake clock, on each
 * turn of the event loop, and moves the fake clock on by as much; sent packets are let go once
 * answered. With `closedEvery` n > 0, every n-th TCP probe is answered as by a closed port (RST-ACK),
 * the others by an open one. Stops with stop().
 */
export function answerEverySend(
  fake: FakeBinding,
  rttNs: bigint,
  /** Told of each sent packet that does not parse (tests: the engine builds none). */
  unparsed?: (sent: FakeSentPacket) => void,
  closedEvery = 0,
): { stop(): void } {
  let running = true;
  let tcp = 0;
  const turn = () => {
    if (!running) return;
    for (const sent of fake.sent) {
      const b = sent.bytes;
      const p = sent.socket.family === 4 ? parseIPv4Packet(b, 0, b.length) : parseIPv6Packet(b, 0, b.length);
      if (!p) unparsed?.(sent);
      if (!p || (p.tcp && p.tcp.flags & TcpFlag.RST)) continue;
      const closed = p.tcp !== undefined && closedEvery > 0 && ++tcp % closedEvery === 0;
      const r = replyTo(p, sent, closed);
      fake.inject({
        family: p.family,
        protocol: r.protocol,
        bytes: r.bytes,
        src: sent.dst,
        tsNs: sent.tsNs + rttNs,
      });
    }
    fake.sent.length = 0;
    fake.advance(rttNs);
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    stop: () => {
      running = false;
    },
  };
}
