// The ICMP and ICMPv6 filters on hand-made packets: echo replies with our identifiers and errors that
// quote one of our probes pass; foreign ICMP (other identifiers, other types, quotes of other packets,
// quotes too short to check, extension headers) is dropped. Each case is also checked against the
// independent predicate of the property test.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BpfError } from "../../src/bpf/errors.js";
import { type IcmpFilterOptions, icmpFilter, icmpv6Filter } from "../../src/bpf/icmp.js";
import { ACCEPT, MAX_RANGES } from "../../src/bpf/match.js";
import { run } from "./interp.js";
import { ACK, echo, icmp, icmpError, ipv4, ipv6, SYN, tcp, udp } from "./packets.js";
import { icmpExpectedV4, icmpExpectedV6 } from "./predicates.js";

type Case = [name: string, pkt: Buffer, expected: boolean];

function check(v6: boolean, opts: IcmpFilterOptions, cases: Case[]): void {
  const prog = v6 ? icmpv6Filter(opts) : icmpFilter(opts);
  const predicate = v6 ? icmpExpectedV6 : icmpExpectedV4;
  for (const [name, pkt, expected] of cases) {
    const { verdict } = run(prog, pkt);
    assert.equal(verdict, expected ? ACCEPT : 0, `${name}: verdict ${verdict}`);
    assert.equal(predicate(opts, pkt), expected, `${name}: predicate disagrees`);
  }
}

const opts: IcmpFilterOptions = {
  echoReplyIds: [{ lo: 100, hi: 110 }, 500],
  quotedPorts: { lo: 65000, hi: 65100 },
  quotedEchoIds: [{ lo: 100, hi: 110 }],
};

// IPv4: what the raw socket sees is the outer IPv4 header, then the ICMP message.
const out4 = (m: Buffer, options?: Buffer) => ipv4({ proto: 1, ...(options ? { options } : {}) }, m);
// The first 8 bytes of the quoted transport header, as RFC 792 guarantees at least.
const first8 = (b: Buffer) => b.subarray(0, 8);
const q4udp = (sport: number) => ipv4({ proto: 17, dst: "198.18.0.2", src: "198.18.0.1" }, udp(sport, 33434));
const q4tcp = (sport: number, dport = 80) => ipv4({ proto: 6 }, first8(tcp({ sport, dport, flags: SYN })));
const q4echo = (type: number, id: number) => ipv4({ proto: 1 }, echo(type, id, 1));
const unreach4 = (q: Buffer) => out4(icmpError(3, 3, q));
const exceeded4 = (q: Buffer) => out4(icmpError(11, 0, q));

describe("bpf ICMPv4 filter", () => {
  test("echo replies with our identifiers pass, others and echo requests do not", () => {
    check(false, opts, [
      ["echo reply id 100", out4(echo(0, 100, 1)), true],
      ["echo reply id 110", out4(echo(0, 110, 1)), true],
      ["echo reply id 500", out4(echo(0, 500, 9)), true],
      ["echo reply id 99", out4(echo(0, 99, 1)), false],
      ["echo reply id 111", out4(echo(0, 111, 1)), false],
      ["echo reply id 499", out4(echo(0, 499, 1)), false],
      ["our echo request looping back", out4(echo(8, 100, 1)), false],
      ["echo reply cut inside the id", out4(echo(0, 100, 1)).subarray(0, 25), false],
      ["echo reply behind IP options", out4(echo(0, 105, 1), Buffer.from([1, 1, 1, 1])), true],
    ]);
  });

  test("errors quoting our UDP, TCP and echo probes pass", () => {
    check(false, opts, [
      ["port unreachable quoting UDP 65000", unreach4(q4udp(65000)), true],
      ["port unreachable quoting UDP 65100", unreach4(q4udp(65100)), true],
      ["host unreachable quoting TCP 65050 (8 bytes)", unreach4(q4tcp(65050)), true],
      ["time exceeded quoting UDP 65000", exceeded4(q4udp(65000)), true],
      ["time exceeded quoting echo request 105", exceeded4(q4echo(8, 105)), true],
      ["unreachable behind outer IP options", out4(icmpError(3, 1, q4udp(65001)), Buffer.alloc(8, 1)), true],
    ]);
  });

  test("errors quoting other packets, other ICMP types and truncated quotes are dropped", () => {
    const optsQuote = ipv4({ proto: 17, options: Buffer.from([1, 1, 1, 1]) }, udp(65000, 53));
    const laterFragment = ipv4({ proto: 17, fragment: 0x0010 }, udp(65000, 53));
    const firstFragment = ipv4({ proto: 17, fragment: 0x2000 }, udp(65000, 53));
    const full = unreach4(q4udp(65000));
    check(false, opts, [
      ["quoting UDP 64999", unreach4(q4udp(64999)), false],
      ["quoting UDP 65101", unreach4(q4udp(65101)), false],
      ["quoting TCP to port 65000 from 80", unreach4(q4tcp(80, 65000)), false],
      ["quoting an echo reply with our id", exceeded4(q4echo(0, 105)), false],
      ["quoting an echo request with id 111", exceeded4(q4echo(8, 111)), false],
      ["quoting IPv4 with options", unreach4(optsQuote), false],
      ["quoting a later fragment", unreach4(laterFragment), false],
      ["quoting a first fragment (MF set)", unreach4(firstFragment), true],
      ["quoting GRE", unreach4(ipv4({ proto: 47 }, udp(65000, 1))), false],
      ["redirect (5) quoting our UDP", out4(icmpError(5, 1, q4udp(65000))), false],
      ["source quench (4)", out4(icmpError(4, 0, q4udp(65000))), false],
      ["parameter problem (12)", out4(icmpError(12, 0, q4udp(65000))), false],
      ["timestamp request (13)", out4(icmp(13, 0, Buffer.alloc(16))), false],
      ["not ICMP at all (protocol 6)", ipv4({ proto: 6 }, icmpError(3, 3, q4udp(65000))), false],
      ["quote cut after 1 byte of UDP", full.subarray(0, 20 + 8 + 20 + 1), false],
      ["quote cut after 2 bytes of UDP", full.subarray(0, 20 + 8 + 20 + 2), true],
      ["quote cut inside the quoted IP header", full.subarray(0, 20 + 8 + 9), false],
      ["cut to the ICMP type", full.subarray(0, 21), false],
      ["empty", Buffer.alloc(0), false],
    ]);
  });

  test("options choose the types and quoted protocols", () => {
    check(false, { quotedPorts: opts.quotedPorts, unreachable: false }, [
      ["unreachable", unreach4(q4udp(65000)), false],
      ["time exceeded", exceeded4(q4udp(65000)), true],
      ["echo reply (no ids given)", out4(echo(0, 100, 1)), false],
      ["quoted echo request (no ids given)", exceeded4(q4echo(8, 100)), false],
    ]);
    check(false, { quotedPorts: opts.quotedPorts, quotedProtocols: ["udp"], timeExceeded: false }, [
      ["UDP quote", unreach4(q4udp(65000)), true],
      ["TCP quote", unreach4(q4tcp(65000)), false],
      ["time exceeded", exceeded4(q4udp(65000)), false],
    ]);
    check(false, { echoReplyIds: [7] }, [
      ["echo reply 7", out4(echo(0, 7, 1)), true],
      ["unreachable quoting UDP 65000", unreach4(q4udp(65000)), false],
    ]);
  });

  test("the largest identifier sets still assemble and match at both ends", () => {
    const ids = Array.from({ length: MAX_RANGES }, (_, i) => ({ lo: i * 1000, hi: i * 1000 + 10 }));
    const big = { echoReplyIds: ids, quotedEchoIds: ids, quotedPorts: opts.quotedPorts };
    check(false, big, [
      ["id 0", out4(echo(0, 0, 1)), true],
      ["id 63010", out4(echo(0, 63010, 1)), true],
      ["id 63011", out4(echo(0, 63011, 1)), false],
      ["quoted id 62005", exceeded4(q4echo(8, 62005)), true],
      ["quoted id 62011", exceeded4(q4echo(8, 62011)), false],
    ]);
  });

  test("invalid options are refused with NPF_BPF_PARAM", () => {
    const bad = (o: unknown, pattern: RegExp) =>
      assert.throws(
        () => icmpFilter(o as IcmpFilterOptions),
        (e: unknown) => e instanceof BpfError && e.code === "NPF_BPF_PARAM" && pattern.test(e.message),
      );
    bad({}, /accept nothing/);
    bad({ unreachable: true }, /need quotedPorts or quotedEchoIds/);
    bad({ echoReplyIds: [] }, /non-empty list/);
    bad({ echoReplyIds: [70000] }, /echoReplyIds\[0\] must be an integer/);
    bad({ echoReplyIds: [{ lo: 5, hi: 4 }] }, /lo 5 is greater than hi 4/);
    bad({ echoReplyIds: Array.from({ length: MAX_RANGES + 1 }, (_, i) => i * 2) }, /65 disjoint ranges/);
    bad({ quotedPorts: { lo: 1, hi: 2 }, quotedProtocols: ["sctp"] }, /quotedProtocols/);
    bad({ quotedPorts: { lo: 1, hi: 2 }, quotedProtocols: [] }, /quotedProtocols is empty/);
    // Adjacent and overlapping values merge, so 65 values in one run are a single range.
    assert.doesNotThrow(() => icmpFilter({ echoReplyIds: Array.from({ length: 65 }, (_, i) => i) }));
  });
});

// IPv6: the raw socket sees the ICMPv6 header at 0; quotes are IPv6 packets (40-byte header).
const e6 = (type: number, id: number) => echo(type, id, 1, Buffer.alloc(8), false);
const err6 = (type: number, q: Buffer) => icmpError(type, 0, q, false);
const q6udp = (sport: number) => ipv6(17, udp(sport, 33434));
const q6tcp = (sport: number) => ipv6(6, tcp({ sport, dport: 443, flags: SYN }));
const q6echo = (type: number, id: number) => ipv6(58, e6(type, id));

describe("bpf ICMPv6 filter", () => {
  test("echo replies (129) with our identifiers pass", () => {
    check(true, opts, [
      ["echo reply 100", e6(129, 100), true],
      ["echo reply 500", e6(129, 500), true],
      ["echo reply 111", e6(129, 111), false],
      ["echo request 100 (ours, looping back)", e6(128, 100), false],
      ["echo reply cut to 5 bytes", e6(129, 100).subarray(0, 5), false],
    ]);
  });

  test("unreachable (1) and time exceeded (3) quoting our packets pass, other quotes do not", () => {
    const hopByHop = ipv6(0, Buffer.concat([Buffer.from([17, 0, 1, 4, 0, 0, 0, 0]), udp(65000, 53)]));
    check(true, opts, [
      ["port unreachable quoting UDP 65000", err6(1, q6udp(65000)), true],
      ["unreachable quoting TCP 65100", err6(1, q6tcp(65100)), true],
      ["time exceeded quoting UDP 65050", err6(3, q6udp(65050)), true],
      ["time exceeded quoting echo request 110", err6(3, q6echo(128, 110)), true],
      ["quoting UDP 64999", err6(1, q6udp(64999)), false],
      ["quoting an echo reply", err6(3, q6echo(129, 100)), false],
      ["quoting echo request 99", err6(3, q6echo(128, 99)), false],
      ["quoting a hop-by-hop extension header, then UDP 65000", err6(1, hopByHop), false],
      ["quoting an IPv4 packet", err6(1, Buffer.concat([q4udp(65000), Buffer.alloc(40)])), false],
      ["packet too big (2) quoting UDP 65000", err6(2, q6udp(65000)), false],
      ["parameter problem (4) quoting UDP 65000", err6(4, q6udp(65000)), false],
      ["neighbour solicitation (135)", icmp(135, 0, Buffer.alloc(20), false), false],
      ["router advertisement (134)", icmp(134, 0, Buffer.alloc(12), false), false],
      ["quote cut after 1 byte of UDP", err6(1, q6udp(65000)).subarray(0, 49), false],
      ["quote cut after 2 bytes of UDP", err6(1, q6udp(65000)).subarray(0, 50), true],
    ]);
  });

  test("options choose the types and quoted protocols", () => {
    check(true, { quotedPorts: opts.quotedPorts, quotedProtocols: ["tcp"], timeExceeded: false }, [
      ["TCP quote", err6(1, q6tcp(65000)), true],
      ["UDP quote", err6(1, q6udp(65000)), false],
      ["time exceeded", err6(3, q6tcp(65000)), false],
      ["echo reply", e6(129, 100), false],
    ]);
  });

  test("the same SYN-ACK bytes never pass as ICMPv6", () => {
    check(true, opts, [["a TCP segment", tcp({ sport: 443, dport: 65000, flags: SYN | ACK }), false]]);
  });
});
