// Property tests: for random filter options and random packets — pure noise as well as near-misses
// built around the options' boundaries, then truncated or corrupted — the interpreter never throws and
// its verdict equals the independent predicate of predicates.ts.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BpfError } from "../../src/bpf/errors.js";
import { icmpFilter, icmpv6Filter } from "../../src/bpf/icmp.js";
import { ACCEPT } from "../../src/bpf/match.js";
import { tcpReplyFilter } from "../../src/bpf/tcp.js";
import { icmpOpts, icmpPacket, tcpOpts, tcpPacket } from "./arbitraries.js";
import { run } from "./interp.js";
import { icmpExpectedV4, icmpExpectedV6, tcpReplyExpected } from "./predicates.js";

const RUNS = Number(process.env.BPF_PROPERTY_RUNS ?? 3000);

/** Builds the program, or returns undefined for option sets the builder rightly refuses. */
function build<O>(builder: (o: O) => ReturnType<typeof tcpReplyFilter>, o: O) {
  try {
    return builder(o);
  } catch (e) {
    if (e instanceof BpfError && e.code === "NPF_BPF_PARAM") return undefined;
    throw e;
  }
}

describe("bpf filters, property tests", () => {
  test("TCP reply filter: verdict equals the predicate on random packets", () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        tcpOpts.chain((o) => fc.tuple(fc.constant(o), tcpPacket(o))),
        ([o, pkt]) => {
          const verdict = run(tcpReplyFilter(o), pkt).verdict;
          const expected = tcpReplyExpected(o, pkt);
          if (expected) accepted++;
          assert.equal(verdict, expected ? ACCEPT : 0);
        },
      ),
      { numRuns: RUNS },
    );
    // The generator must exercise both verdicts, or the property says little.
    assert.ok(accepted > RUNS / 60, `only ${accepted} of ${RUNS} packets were accepted`);
  });

  for (const v6 of [false, true]) {
    test(`ICMP${v6 ? "v6" : "v4"} filter: verdict equals the predicate on random packets`, () => {
      let accepted = 0;
      let built = 0;
      fc.assert(
        fc.property(
          icmpOpts.chain((o) => fc.tuple(fc.constant(o), icmpPacket(v6, o))),
          ([o, pkt]) => {
            const prog = build(v6 ? icmpv6Filter : icmpFilter, o);
            if (prog === undefined) return;
            built++;
            const verdict = run(prog, pkt).verdict;
            const expected = (v6 ? icmpExpectedV6 : icmpExpectedV4)(o, pkt);
            if (expected) accepted++;
            assert.equal(verdict, expected ? ACCEPT : 0);
          },
        ),
        { numRuns: RUNS },
      );
      assert.ok(built > RUNS / 2, `only ${built} of ${RUNS} option sets were valid`);
      assert.ok(accepted > RUNS / 60, `only ${accepted} of ${RUNS} packets were accepted`);
    });
  }

  test("pure noise never makes any filter throw", () => {
    const progs = [
      tcpReplyFilter({ family: 4, ports: { lo: 1, hi: 65535 }, ackWindow: { lo: 9, hi: 8 } }),
      tcpReplyFilter({ family: 6, ports: { lo: 0, hi: 0 } }),
      icmpFilter({ echoReplyIds: [1], quotedPorts: { lo: 0, hi: 65535 }, quotedEchoIds: [1] }),
      icmpv6Filter({ echoReplyIds: [1], quotedPorts: { lo: 0, hi: 65535 }, quotedEchoIds: [1] }),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1600 }), (pkt) => {
        for (const p of progs) {
          const r = run(p, pkt);
          assert.ok(r.verdict === 0 || r.verdict === ACCEPT);
          assert.ok(r.steps <= p.insns.length);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
