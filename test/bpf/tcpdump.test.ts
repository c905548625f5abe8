// A second, independent opinion: libpcap compiles the same filters from tcpdump's filter language
// (`tcpdump -y RAW -ddd`, raw IPv4 at offset 0 like an AF_INET raw socket), and on random IPv4 packets
// its programs and ours must reach the same verdict in the test interpreter. This checks the builders'
// offsets against libpcap's, and the interpreter against programs it did not see being written.
// libpcap's "ip" / "tcp" / "icmp" also require version 4 and fragment offset 0; the kernel guarantees
// both on an AF_INET raw socket (reassembly happens first), so the packets here are made to satisfy them.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import fc from "fast-check";
import { icmpFilter } from "../../src/bpf/icmp.js";
import type { SockFilter } from "../../src/bpf/opcodes.js";
import { tcpReplyFilter } from "../../src/bpf/tcp.js";
import { icmpPacket, tcpPacket } from "./arbitraries.js";
import { accepts, run } from "./interp.js";

const RUNS = Number(process.env.BPF_PROPERTY_RUNS ?? 3000);

/** libpcap's program for `expr` on raw IP, parsed from tcpdump -ddd (count, then "code jt jf k" lines). */
function pcapCompile(expr: string): SockFilter[] {
  const r = spawnSync("tcpdump", ["-y", "RAW", "-ddd", expr], { encoding: "utf8" });
  if (r.error)
    throw new Error(`tcpdump is needed for this test (apt-get install tcpdump): ${r.error.message}`);
  assert.equal(r.status, 0, `tcpdump -ddd failed: ${r.stderr}`);
  const [count, ...lines] = r.stdout.trim().split("\n");
  const insns = lines.map((l) => {
    const [code, jt, jf, k] = l.trim().split(/\s+/).map(Number);
    return { code: code!, jt: jt!, jf: jf!, k: k! >>> 0 };
  });
  assert.equal(insns.length, Number(count));
  return insns;
}

/** Version 4 and fragment offset 0, as the kernel guarantees; the rest untouched. */
function asDelivered(p: Uint8Array): Uint8Array {
  const b = Uint8Array.from(p);
  if (b.length > 0) b[0] = 0x40 | (b[0]! & 0x0f);
  if (b.length > 7) {
    b[6] = b[6]! & 0xe0;
    b[7] = 0;
  }
  return b;
}

function agree(
  ours: { insns: readonly SockFilter[] },
  theirs: SockFilter[],
  packets: fc.Arbitrary<Uint8Array>,
) {
  let accepted = 0;
  fc.assert(
    fc.property(packets.map(asDelivered), (p) => {
      const a = accepts(ours, p);
      if (a) accepted++;
      assert.equal(a, run(theirs, p).verdict !== 0);
    }),
    { numRuns: RUNS },
  );
  assert.ok(accepted > RUNS / 60, `only ${accepted} of ${RUNS} packets were accepted`);
}

describe("bpf filters against libpcap's compilation of the same rules", () => {
  const ports = { lo: 65000, hi: 65100 };

  test("TCP replies, IPv4", () => {
    const theirs = pcapCompile(
      "tcp dst portrange 65000-65100 and " +
        "(tcp[13] & 0x17 == 0x12 or tcp[13] & 0x17 == 0x14 or tcp[13] & 0x17 == 0x04)",
    );
    const opts = { family: 4 as const, ports };
    agree(tcpReplyFilter(opts), theirs, tcpPacket(opts));
  });

  test("TCP replies with a wrapping ack window, IPv4", () => {
    // ack - 1 in 4294967000..999 (mod 2^32), written the way a person would: two intervals.
    const theirs = pcapCompile(
      "tcp dst portrange 65000-65100 and (tcp[13] & 0x17 == 0x04 or " +
        "((tcp[13] & 0x17 == 0x12 or tcp[13] & 0x17 == 0x14) and " +
        "(tcp[8:4] - 1 >= 4294967000 or tcp[8:4] - 1 <= 999)))",
    );
    const opts = { family: 4 as const, ports, ackWindow: { lo: 4294967000, hi: 999 } };
    agree(tcpReplyFilter(opts), theirs, tcpPacket(opts));
  });

  test("ICMP echo replies and errors quoting our probes, IPv4", () => {
    const theirs = pcapCompile(
      "icmp and (" +
        "(icmp[0] == 0 and icmp[4:2] >= 4096 and icmp[4:2] <= 4111) or " +
        "((icmp[0] == 3 or icmp[0] == 11) and icmp[8] == 0x45 and icmp[14:2] & 0x1fff == 0 and (" +
        "((icmp[17] == 6 or icmp[17] == 17) and icmp[28:2] >= 65000 and icmp[28:2] <= 65100) or " +
        "(icmp[17] == 1 and icmp[28] == 8 and icmp[32:2] >= 4096 and icmp[32:2] <= 4111))))",
    );
    const opts = {
      echoReplyIds: [{ lo: 4096, hi: 4111 }],
      quotedPorts: ports,
      quotedEchoIds: [{ lo: 4096, hi: 4111 }],
    };
    agree(icmpFilter(opts), theirs, icmpPacket(false, opts));
  });
});
