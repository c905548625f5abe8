// The kernel filters the engine attaches follow its keys (issue 11 item 9): echo replies pass only
// with an identifier of the recent iterations' keys, SYN-ACKs only acknowledging one of their
// sequence numbers; a foreign reply with any other key stays in the kernel. Checked by running the
// programs the engine attached to the fake sockets through the test BPF interpreter. No root.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decode } from "../../src/bpf/index.js";
import { Engine } from "../../src/engine/engine.js";
import { buildPlan, type PlanTargetInput } from "../../src/engine/plan.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import { accepts } from "../bpf/interp.js";
import { ACK, echo, ipv4, SYN, tcp } from "../bpf/packets.js";

const target = (name: string, type: PlanTargetInput["type"]): PlanTargetInput => ({
  name,
  type,
  family: "ipv4",
  addresses: ["198.18.1.1"],
  dstPort: 80,
  nbPackets: 50,
  dontFragment: true,
  timeout: 0.01,
  groups: [{ name: "g", srcPortA: 65000, srcPortZ: 65009, dscp: 0, src: "198.18.0.2" }],
});

describe("kernel filters narrowed to our keys (fake sockets, no root)", () => {
  test("echo identifiers and acknowledgements of recent iterations pass; others are dropped", async () => {
    const fake = new FakeBinding();
    const engine = new Engine({
      sockets: new RawSockets(fake),
      families: [4],
      ports: { lo: 65000, hi: 65009 },
    });
    const plan = buildPlan([target("ping", "ICMPping"), target("syn", "TCPsyn")], () => assert.fail());
    const prog = (protocol: number) => {
      const s = fake.sockets.find((x) => x.family === 4 && x.protocol === protocol && x.filter && !x.closed);
      assert.ok(s, `an RX socket for protocol ${protocol}`);
      return { insns: decode(s.filter!) };
    };
    const echoReply = (id: number) => ipv4({ proto: 1, src: "198.18.1.1" }, echo(0, id, 1));
    const synAck = (ack: number) =>
      ipv4({ proto: 6, src: "198.18.1.1" }, tcp({ sport: 80, dport: 65003, seq: 1, ack, flags: SYN | ACK }));
    try {
      const keys: number[] = [];
      for (let k = 0; k < 20; k++) {
        const r = await engine.run(plan);
        keys.push(r.inflight.keyOf(0), r.inflight.keyOf(r.inflight.count - 1));
        const icmp = prog(1);
        const tcpProg = prog(6);
        // Every key of this and the earlier iterations (their late answers) still passes.
        for (const key of keys) {
          assert.ok(accepts(icmp, echoReply(key >>> 16)), `echo id of key ${key}`);
          assert.ok(accepts(tcpProg, synAck((key + 1) >>> 0)), `ack of key ${key}`);
        }
        // Keys half the space away do not.
        const far = (keys[0]! + 0x80000000) >>> 0;
        assert.ok(!accepts(icmp, echoReply(far >>> 16)), "a foreign echo identifier is dropped");
        assert.ok(!accepts(tcpProg, synAck((far + 1) >>> 0)), "a foreign acknowledgement is dropped");
      }
      const w = engine.keyWindow;
      assert.ok((w.hi - w.lo) >>> 0 < 1 << 20, `the window stays narrow: ${w.lo}..${w.hi}`);
    } finally {
      engine.close();
    }
  });
});
