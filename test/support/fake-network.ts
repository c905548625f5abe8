// A scripted in-memory "network" for engine tests on the fake sockets: it answers each packet the
// engine's TX sockets sent as a script says (a reply from the destination, an ICMP error from a given
// address quoting the probe, or nothing), after a given RTT on the fake clock.
import assert from "node:assert/strict";
import { replyTo } from "../../src/engine/fake-answers.js";
import type { FakeBinding, FakeSentPacket } from "../../src/native/fake.js";
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  type ParsedPacket,
  parseIPv4Packet,
  parseIPv6Packet,
  pseudoSum6,
  TcpFlag,
  writeChecksum,
  writeIcmpErrorHeader,
  writeIPv4Header,
} from "../../src/packet/index.js";

export type Answer =
  | { kind: "none" }
  | { kind: "reply"; rttNs: bigint; times?: number; mutate?: (b: Uint8Array) => void; src?: Uint8Array }
  /** An ICMP error from `src` quoting the probe (its first `quoteBytes` bytes; default all of it). */
  | { kind: "error"; rttNs: bigint; src: Uint8Array; type: number; code: number; quoteBytes?: number };
export type Script = (p: ParsedPacket, sent: FakeSentPacket, index: number) => Answer;

/** An ICMP / ICMPv6 error of `a.type`/`a.code` from `a.src` quoting `sent` (kernel-delivered form). */
export function errorTo(
  p: ParsedPacket,
  sent: FakeSentPacket,
  a: { src: Uint8Array; type: number; code: number; quoteBytes?: number },
): { protocol: number; bytes: Uint8Array } {
  const v4 = p.family === 4;
  const ipOff = v4 ? 20 : 0;
  const quote = sent.bytes.subarray(0, Math.min(sent.bytes.length, a.quoteBytes ?? sent.bytes.length));
  const len = 8 + quote.length;
  const buf = new Uint8Array(ipOff + len);
  const dst = v4 ? sent.bytes.subarray(12, 16) : sent.bytes.subarray(8, 24);
  const protocol = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  writeIcmpErrorHeader(buf, ipOff, a.type, a.code);
  buf.set(quote, ipOff + 8);
  writeChecksum(buf, ipOff, len, v4 ? 0 : pseudoSum6(a.src, 0, dst, 0, 58, len), ipOff + 2);
  if (v4)
    writeIPv4Header(buf, 0, { totalLength: 20 + len, id: 1, df: false, ttl: 60, protocol, src: a.src, dst });
  return { protocol, bytes: buf };
}

/** Answers every new packet sent by the engine's TX sockets according to `script`. */
export function network(fake: FakeBinding, script: Script): { stop(): void } {
  let seen = 0;
  let probes = 0;
  const pending: { at: bigint; inject: () => void }[] = [];
  const tick = setInterval(() => {
    for (; seen < fake.sent.length; seen++) {
      const sent = fake.sent[seen]!;
      const p =
        sent.socket.family === 4
          ? parseIPv4Packet(sent.bytes, 0, sent.bytes.length)
          : parseIPv6Packet(sent.bytes, 0, sent.bytes.length);
      assert.ok(p, "the engine sends well-formed packets");
      if (p.tcp && p.tcp.flags & TcpFlag.RST) continue;
      const a = script(p, sent, probes++);
      if (a.kind === "none") continue;
      const r = a.kind === "error" ? errorTo(p, sent, a) : replyTo(p, sent);
      if (a.kind === "reply") a.mutate?.(r.bytes);
      for (let k = 0; k < (a.kind === "reply" ? (a.times ?? 1) : 1); k++) {
        pending.push({
          at: sent.tsNs + a.rttNs,
          inject: () =>
            fake.inject({
              family: p.family,
              protocol: r.protocol,
              bytes: r.bytes,
              src: a.src ?? sent.dst,
              tsNs: sent.tsNs + a.rttNs,
              hopLimit: 60,
            }),
        });
      }
    }
    // Deliver what is due on the fake clock, then let the clock follow real time loosely.
    fake.advance(1_000_000n);
    for (let k = pending.length - 1; k >= 0; k--) {
      if (pending[k]!.at <= fake.clockNs) {
        pending[k]!.inject();
        pending.splice(k, 1);
      }
    }
  }, 1);
  return { stop: () => clearInterval(tick) };
}
