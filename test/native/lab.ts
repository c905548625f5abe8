// Shared helpers for the native integration tests: the guard that refuses to send anywhere but inside
// a lab network namespace, batch packing, and small waiting loops over real sockets.
import { readFileSync } from "node:fs";
import {
  ADDRESS_BYTES,
  type RawSocket,
  RECV_META_WORDS,
  type RecvBuffers,
  SEND_RECORD_WORDS,
  SENT_WORDS,
  type SendBatch,
  TX_TS_WORDS,
} from "../../src/native/rawsock.js";
import { echo, LO4, LO6 } from "./pkt.js";

/** Interfaces of the current network namespace (from /proc/self/net/dev, which follows the netns). */
export function interfaces(): string[] {
  return readFileSync("/proc/self/net/dev", "utf8")
    .split("\n")
    .slice(2)
    .map((l) => l.split(":")[0]!.trim())
    .filter((n) => n !== "");
}

/**
 * Throws unless this process may send probes: it must be root (raw sockets) and inside the lab, i.e.
 * NETPROBIFY_LAB=1 (set by src/lab/enter.sh) or a network namespace whose only link is `lo`.
 */
export function assertLab(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "native integration tests need root (CAP_NET_RAW): run them through src/lab/enter.sh as root",
    );
  }
  const ifs = interfaces();
  const onlyLo = ifs.length === 1 && ifs[0] === "lo";
  if (process.env.NETPROBIFY_LAB !== "1" && !onlyLo) {
    throw new Error(
      `refusing to send packets outside the lab: interfaces here are [${ifs.join(", ")}]. Run ` +
        "`sh src/lab/enter.sh node --test dist/test/native/` (fresh network namespace, loopback only)",
    );
  }
  if (!ifs.includes("lo")) throw new Error("no loopback interface in this namespace");
}

/** Packs packets and their destinations into one SendBatch (one address slot per packet). */
export function pack(packets: Uint8Array[], dsts: Uint8Array[]): SendBatch {
  const total = packets.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(total);
  const records = new Uint32Array(packets.length * SEND_RECORD_WORDS);
  const addresses = new Uint8Array(packets.length * ADDRESS_BYTES);
  let off = 0;
  packets.forEach((p, i) => {
    data.set(p, off);
    records.set([off, p.length, i, 0], i * SEND_RECORD_WORDS);
    addresses.set(dsts[i]!, i * ADDRESS_BYTES);
    off += p.length;
  });
  return { data, records, addresses };
}

export interface Received {
  bytes: Uint8Array;
  flags: number;
  sec: number;
  nsec: number;
  src: Uint8Array;
}

/** Copies packet i out of receive buffers (tests only; the engine reads in place). */
export function take(b: RecvBuffers, i: number): Received {
  const o = i * RECV_META_WORDS;
  const len = b.meta[o]!;
  return {
    bytes: b.data.slice(i * b.slotSize, i * b.slotSize + len),
    flags: b.meta[o + 1]!,
    sec: b.meta[o + 2]!,
    nsec: b.meta[o + 3]!,
    src: b.metaBytes.slice(o * 4 + 16, o * 4 + 32),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Receives until `want` packets arrived or timeoutMs passed. */
export async function receive(
  s: RawSocket,
  b: RecvBuffers,
  want: number,
  timeoutMs = 1000,
): Promise<Received[]> {
  const out: Received[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < want && Date.now() < deadline) {
    const n = s.recvBatch(b);
    for (let i = 0; i < n; i++) out.push(take(b, i));
    if (n === 0) await sleep(1);
  }
  return out;
}

export interface TxStamp {
  id: number;
  flags: number;
  sec: number;
  nsec: number;
}

/** Reads TX timestamps until `want` arrived or timeoutMs passed. */
export async function txStamps(s: RawSocket, want: number, timeoutMs = 1000): Promise<TxStamp[]> {
  const out: TxStamp[] = [];
  const buf = new Uint32Array(64 * TX_TS_WORDS);
  const deadline = Date.now() + timeoutMs;
  while (out.length < want && Date.now() < deadline) {
    const n = s.readTxTimestamps(buf);
    for (let i = 0; i < n; i++) {
      const o = i * TX_TS_WORDS;
      out.push({ id: buf[o]!, flags: buf[o + 1]!, sec: buf[o + 2]!, nsec: buf[o + 3]! });
    }
    if (n === 0) await sleep(1);
  }
  return out;
}

/** Starts tx's send thread; every record it writes is copied into the returned array as it lands. */
export function recordSends(tx: RawSocket): number[][] {
  const records: number[][] = [];
  const ring = tx.startSender(() => {
    const n = ring.ready();
    for (let k = 0; k < n; k++) {
      const o = ring.offset(k) / 4;
      records.push([...ring.words.subarray(o, o + SENT_WORDS)]);
    }
    ring.release(n);
  });
  return records;
}

/** Echo requests to loopback (identifier `ident`), one per sequence number, packed as one batch. */
export function echoBatch(family: 4 | 6, seqs: number[], ident: number): SendBatch {
  const lo = family === 4 ? LO4 : LO6;
  return pack(
    seqs.map((q) => echo(family, lo, lo, ident, q)),
    seqs.map(() => lo),
  );
}
