// Measures TCP SYN round trips per second through the addon on loopback, one JS thread, for several
// sendmmsg batch sizes (needs root, lab namespace). Packets are precomputed (one per source port, as the
// engine's plans are); replies come through a BPF-filtered raw TCP socket and are matched by
// ack - 1 = seq, RTT from kernel TX/RX timestamps. Asserts that (nearly) every SYN is answered and
// timed; prints the rates as test diagnostics.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  allocRecvBuffers,
  diffNs,
  IPPROTO,
  META_HAS_TIMESTAMP,
  RawSockets,
  RECV_META_WORDS,
  SEND_RESULT_WORDS,
  TX_TS_WORDS,
} from "../../src/native/rawsock.js";
import { assertLab, pack, sleep } from "./lab.js";
import { LO4, LO6, l4Offset, tcpPortRangeFilter, tcpSyn } from "./pkt.js";

const PORTS = 1024; // a multiple of every batch size below
const SPORT0 = 61000; // outside ip_local_port_range
const WINDOW = 512;

interface Result {
  sent: number;
  matched: number;
  timed: number;
  perSecond: number;
  rttP50us: number;
}

async function measure(
  socks: RawSockets,
  family: 4 | 6,
  dport: number,
  batch: number,
  ms: number,
): Promise<Result> {
  const lo = family === 4 ? LO4 : LO6;
  const seqOf = (i: number) => (0x51000000 + i * 7919) >>> 0;
  const plan = pack(
    Array.from({ length: PORTS }, (_, i) => tcpSyn(family, lo, lo, SPORT0 + i, dport, seqOf(i))),
    Array.from({ length: PORTS }, () => lo),
  );
  const tx = socks.openTx(family);
  const rx = socks.openRx(family, IPPROTO.TCP, { receiveBufferBytes: 8 << 20 });
  rx.attachFilter(tcpPortRangeFilter(family, dport, SPORT0, SPORT0 + PORTS - 1));
  await sleep(30); // RX timestamping switches on lazily
  const inflight = new Uint8Array(PORTS);
  const txAt = new Uint8Array(PORTS); // 1 once the TX timestamp of the packet in flight is known
  const txSec = new Uint32Array(PORTS);
  const txNsec = new Uint32Array(PORTS);
  const idToPort = new Uint32Array(65536);
  const rtts: number[] = [];
  const res = new Uint32Array(batch * SEND_RESULT_WORDS);
  const b = allocRecvBuffers(256, 128);
  const ts = new Uint32Array(256 * TX_TS_WORDS);
  let next = 0;
  let sent = 0;
  let matched = 0;
  let outstanding = 0;
  const end = performance.now() + ms;
  const pump = () => {
    while (outstanding + batch <= WINDOW && performance.now() < end) {
      const first = next;
      const n = tx.sendBatch(plan, first, batch, res);
      assert.equal(n, batch, `send errno ${res[0]}`);
      for (let k = 0; k < batch; k++) {
        const port = first + k;
        inflight[port] = 1;
        txAt[port] = 0;
        idToPort[res[k * SEND_RESULT_WORDS + 1]! & 0xffff] = port;
      }
      next = (next + batch) % PORTS;
      sent += batch;
      outstanding += batch;
    }
  };
  const start = performance.now();
  let last = start;
  await new Promise<void>((resolve) => {
    tx.poll(() => {
      for (let n = tx.readTxTimestamps(ts); n > 0; n = tx.readTxTimestamps(ts)) {
        for (let i = 0; i < n; i++) {
          const port = idToPort[ts[i * TX_TS_WORDS]! & 0xffff]!;
          if (!(ts[i * TX_TS_WORDS + 1]! & META_HAS_TIMESTAMP)) continue;
          txSec[port] = ts[i * TX_TS_WORDS + 2]!;
          txNsec[port] = ts[i * TX_TS_WORDS + 3]!;
          txAt[port] = 1;
        }
      }
    });
    rx.poll(() => {
      for (let n = rx.recvBatch(b); n > 0; n = rx.recvBatch(b)) {
        for (let i = 0; i < n; i++) {
          const at = i * b.slotSize;
          const t = l4Offset(family, b.data, at);
          const port = ((b.data[t + 2]! << 8) | b.data[t + 3]!) - SPORT0;
          const ack =
            ((b.data[t + 8]! << 24) | (b.data[t + 9]! << 16) | (b.data[t + 10]! << 8) | b.data[t + 11]!) >>>
            0;
          if (port < 0 || port >= PORTS || !inflight[port] || ack !== (seqOf(port) + 1) >>> 0) continue;
          inflight[port] = 0;
          matched++;
          outstanding--;
          const m = i * RECV_META_WORDS;
          if (txAt[port] && b.meta[m + 1]! & META_HAS_TIMESTAMP && rtts.length < 200000) {
            rtts.push(diffNs(b.meta[m + 2]!, b.meta[m + 3]!, txSec[port]!, txNsec[port]!));
          }
        }
      }
      last = performance.now();
      if (last >= end && outstanding === 0) resolve();
      else pump();
    });
    pump();
    setTimeout(resolve, ms + 1000);
  });
  tx.close();
  rx.close();
  rtts.sort((x, y) => x - y);
  return {
    sent,
    matched,
    timed: rtts.length,
    perSecond: Math.round(matched / ((last - start) / 1000)),
    rttP50us: (rtts[rtts.length >> 1] ?? Number.NaN) / 1000,
  };
}

describe("native SYN round trips on loopback (needs root, lab namespace)", () => {
  let socks: RawSockets;
  const servers: Server[] = [];
  const ports: Record<4 | 6, number> = { 4: 0, 6: 0 };

  before(async () => {
    assertLab();
    socks = new RawSockets();
    for (const family of [4, 6] as const) {
      const s = createServer((c) => c.destroy());
      await new Promise<void>((r) =>
        s.listen({ port: 0, host: family === 4 ? "127.0.0.1" : "::1", backlog: 4096 }, r),
      );
      ports[family] = (s.address() as { port: number }).port;
      servers.push(s);
    }
  });

  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  for (const [family, batch] of [
    [4, 1],
    [4, 16],
    [4, 64],
    [6, 64],
  ] as const) {
    test(`IPv${family}, sendmmsg batches of ${batch}: every SYN answered and timed`, async (t) => {
      const r = await measure(socks, family, ports[family], batch, 400);
      t.diagnostic(
        `IPv${family} batch ${batch}: ${r.perSecond} round trips/s, sent ${r.sent}, matched ${r.matched}, ` +
          `timed ${r.timed}, RTT p50 ${r.rttP50us.toFixed(1)} us`,
      );
      assert.ok(r.sent >= batch * 10, `sent ${r.sent}`);
      assert.ok(r.matched >= r.sent * 0.99, `matched ${r.matched} of ${r.sent}`);
      assert.ok(r.timed >= r.matched * 0.99, `timed ${r.timed} of ${r.matched}`);
      assert.ok(r.rttP50us > 0 && r.rttP50us < 10000, `RTT p50 ${r.rttP50us} us`);
    });
  }
});
