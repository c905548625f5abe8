// The TCP reply filter on hand-made packets: replies to our probes pass, everything else (other ports,
// other flags, acknowledgements outside the window, other protocols, truncated packets) is dropped,
// with IPv4 options shifting the TCP header. Each case is also checked against the independent
// predicate the property test relies on, so the predicate itself is pinned to these expectations.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BpfError } from "../../src/bpf/errors.js";
import { ACCEPT } from "../../src/bpf/match.js";
import { type TcpReplyFilterOptions, tcpReplyFilter } from "../../src/bpf/tcp.js";
import { run } from "./interp.js";
import { ACK, ECE, FIN, ipv4, PSH, RST, SYN, type TcpFields, tcp } from "./packets.js";
import { tcpReplyExpected } from "./predicates.js";

type Case = [name: string, pkt: Buffer, expected: boolean];

function check(opts: TcpReplyFilterOptions, cases: Case[]): void {
  const prog = tcpReplyFilter(opts);
  for (const [name, pkt, expected] of cases) {
    const { verdict } = run(prog, pkt);
    assert.equal(verdict, expected ? ACCEPT : 0, `${name}: verdict ${verdict}`);
    assert.equal(tcpReplyExpected(opts, pkt), expected, `${name}: predicate disagrees`);
  }
}

const ports = { lo: 65000, hi: 65100 };
const reply = (f: Partial<TcpFields>): TcpFields => ({
  sport: 443,
  dport: 65000,
  flags: SYN | ACK,
  seq: 7,
  ...f,
});

/** The same reply cases for both families; `wrap` turns a TCP header into what the socket sees. */
function replyCases(wrap: (t: Buffer) => Buffer): Case[] {
  const c = (name: string, f: Partial<TcpFields>, expected: boolean): Case => [
    name,
    wrap(tcp(reply(f))),
    expected,
  ];
  return [
    c("SYN-ACK to the lowest port, ack in window", { ack: 1001 }, true),
    c("SYN-ACK to the highest port", { dport: 65100, ack: 2001 }, true),
    c("RST-ACK, ack in window", { flags: RST | ACK, ack: 1500 }, true),
    c("plain RST (no ack number)", { flags: RST, ack: 0 }, true),
    c("SYN-ACK with PSH and ECE", { flags: SYN | ACK | PSH | ECE, ack: 1001 }, true),
    c("port below the range", { dport: 64999, ack: 1001 }, false),
    c("port above the range", { dport: 65101, ack: 1001 }, false),
    c("our own SYN looping back", { sport: 65000, dport: 443, flags: SYN, ack: 1001 }, false),
    c("a SYN to one of our ports", { flags: SYN, ack: 1001 }, false),
    c("a bare ACK", { flags: ACK, ack: 1001 }, false),
    c("FIN-ACK", { flags: FIN | ACK, ack: 1001 }, false),
    c("SYN-ACK with FIN", { flags: SYN | ACK | FIN, ack: 1001 }, false),
    c("SYN-RST", { flags: SYN | RST | ACK, ack: 1001 }, false),
    c("SYN-ACK acking below the window", { ack: 1000 }, false),
    c("SYN-ACK acking above the window", { ack: 2002 }, false),
    c("RST-ACK acking above the window", { flags: RST | ACK, ack: 2002 }, false),
  ];
}

describe("bpf TCP reply filter", () => {
  const opts4: TcpReplyFilterOptions = { family: 4, ports, ackWindow: { lo: 1000, hi: 2000 } };
  const opts6: TcpReplyFilterOptions = { ...opts4, family: 6 };

  test("IPv4: replies to our ports pass, other ports and flags do not", () => {
    check(
      opts4,
      replyCases((t) => ipv4({ proto: 6 }, t)),
    );
  });

  test("IPv6: the same, with the TCP header at offset 0", () => {
    check(
      opts6,
      replyCases((t) => t),
    );
  });

  test("IPv4 options (IHL 6 and 15) move the TCP header; the filter follows", () => {
    const synAck = tcp(reply({ ack: 1001 }));
    // Option bytes that would look like a matching port and flags if the filter assumed IHL 5.
    const decoy = Buffer.from([0x01, 0x01, 0xfd, 0xe8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x12, 1, 1]);
    const wrongPort = tcp(reply({ dport: 80, ack: 1001 }));
    check(opts4, [
      ["IHL 6 (one NOP word)", ipv4({ proto: 6, options: Buffer.from([1, 1, 1, 1]) }, synAck), true],
      ["IHL 15 (40 option bytes)", ipv4({ proto: 6, options: Buffer.alloc(40, 1) }, synAck), true],
      [
        "decoy options, foreign port",
        ipv4({ proto: 6, options: Buffer.concat([decoy, Buffer.alloc(24, 1)]) }, wrongPort),
        false,
      ],
    ]);
  });

  test("other protocols and truncated packets are dropped", () => {
    const good = ipv4({ proto: 6 }, tcp(reply({ ack: 1001 })));
    const asUdp = ipv4({ proto: 17 }, tcp(reply({ ack: 1001 })));
    const cases: Case[] = [
      ["complete", good, true],
      ["protocol UDP", asUdp, false],
    ];
    for (const len of [0, 9, 10, 20, 23, 24, 33, 34])
      cases.push([`cut to ${len} bytes`, good.subarray(0, len), len >= 34]);
    check(opts4, cases);
    const tcp6 = tcp(reply({ ack: 1001 }));
    check(
      opts6,
      [13, 14].map((len): Case => [`IPv6 cut to ${len}`, tcp6.subarray(0, len), len >= 14]),
    );
  });

  test("an ack window wrapping through 2^32 - 1 → 0", () => {
    const opts: TcpReplyFilterOptions = { family: 6, ports, ackWindow: { lo: 0xffffff00, hi: 0x100 } };
    const at = (ack: number, expected: boolean): Case => [`ack ${ack}`, tcp(reply({ ack })), expected];
    check(opts, [
      at(0xffffff00, false), // ack - 1 = 0xfffffeff, just below lo
      at(0xffffff01, true), // ack - 1 = lo
      at(0, true), // ack - 1 = 0xffffffff
      at(1, true), // ack - 1 = 0
      at(0x101, true), // ack - 1 = hi
      at(0x102, false),
      at(0x80000000, false),
    ]);
    // Without wrap, ack = 0 means ack - 1 = 0xffffffff: outside 0..10.
    check({ family: 6, ports, ackWindow: { lo: 0, hi: 10 } }, [
      at(0, false),
      at(1, true),
      at(11, true),
      at(12, false),
    ]);
    // The whole sequence space: every ack passes.
    check({ family: 6, ports, ackWindow: { lo: 5, hi: 4 } }, [
      at(0, true),
      at(5, true),
      at(0xffffffff, true),
    ]);
  });

  test("accept selects the reply kinds; without a window any ack passes", () => {
    const c = (name: string, f: Partial<TcpFields>, expected: boolean): Case => [
      name,
      tcp(reply(f)),
      expected,
    ];
    check({ family: 6, ports, accept: { synAck: false } }, [
      c("SYN-ACK", { ack: 99 }, false),
      c("RST-ACK", { flags: RST | ACK, ack: 123456 }, true),
      c("RST", { flags: RST }, true),
    ]);
    check({ family: 6, ports, accept: { rst: false, rstAck: false } }, [
      c("SYN-ACK", { ack: 0 }, true),
      c("RST-ACK", { flags: RST | ACK }, false),
      c("RST", { flags: RST }, false),
    ]);
    check({ family: 6, ports: { lo: 0, hi: 65535 } }, [c("any port", { dport: 0 }, true)]);
  });

  test("invalid options are refused with NPF_BPF_PARAM", () => {
    const bad = (opts: unknown, pattern: RegExp) =>
      assert.throws(
        () => tcpReplyFilter(opts as TcpReplyFilterOptions),
        (e: unknown) => e instanceof BpfError && e.code === "NPF_BPF_PARAM" && pattern.test(e.message),
      );
    bad({ family: 4, ports: { lo: 10, hi: 9 } }, /lo 10 is greater than hi 9/);
    bad({ family: 4, ports: { lo: 1, hi: 65536 } }, /ports.hi must be an integer in 0..65535/);
    bad({ family: 4, ports: { lo: -1, hi: 2 } }, /ports.lo/);
    bad({ family: 4, ports: { lo: 1.5, hi: 2 } }, /ports.lo/);
    bad({ family: 4 }, /ports must be/);
    bad({ family: 5, ports }, /family must be 4 or 6/);
    bad(
      { family: 6, ports, accept: { synAck: false, rstAck: false, rst: false } },
      /every reply kind is disabled/,
    );
    bad({ family: 6, ports, ackWindow: { lo: 0, hi: 2 ** 32 } }, /ackWindow.hi/);
  });
});
