// An in-memory stand-in for the raw-socket addon, for unit tests of engine code without privileges or
// a network namespace. It implements NativeBinding with the same buffer layouts and the same error
// shapes (errno/syscall/code), so `new RawSockets(fake)` exercises the real validation and typing.
// It records every packet sent (with its TX timestamp id), stamps packets with a settable fake clock,
// lets a test inject received packets (with or without an RX timestamp), fail sends with an errno,
// drop TX timestamps, overflow a receive queue, and deny CAP_NET_RAW. It models IP_RECVERR the way
// the kernel behaves: without it a local drop (ENOBUFS) is reported as sent and the packet vanishes;
// with it the send fails; error-queue entries that are not timestamps are skipped and counted; a
// pending socket error is cleared before it can fail a send or receive. It runs no BPF: filters are
// only recorded. Poll callbacks fire on setImmediate, like a level-triggered uv_poll; a receiver
// (startReceiver) is the native receive thread modelled on setImmediate, filling the same ring layout.
import {
  ADDRESS_BYTES,
  META_HAS_HOP_LIMIT,
  META_HAS_TIMESTAMP,
  META_HOP_LIMIT_SHIFT,
  META_IPV6,
  META_TRUNCATED,
  type NativeBinding,
  type NativeRawSocket,
  OPEN_HDRINCL,
  OPEN_RECVERR,
  OPEN_RX_TIMESTAMPS,
  OPEN_SLOW_RECEIVE,
  OPEN_TX_TIMESTAMPS,
  POLL_ERRQUEUE,
  POLL_READABLE,
  type PollCallback,
  RECV_META_WORDS,
  type ReceiveCallback,
  SEND_RECORD_WORDS,
  SEND_RESULT_WORDS,
  TX_TS_WORDS,
} from "./rawsock.js";
import {
  allocRing,
  fillRing,
  RECEIVE_PACKETS,
  RECEIVE_SEND,
  RING_FLUSHED,
  RING_HEADER_BYTES,
  SENT_FLUSH,
  SENT_RESULT,
  SENT_TXTS,
  SENT_WORDS,
} from "./ring.js";

export interface FakeSentPacket {
  socket: FakeSocket;
  bytes: Uint8Array;
  /** 4 or 16 bytes. */
  dst: Uint8Array;
  txId: number;
  /** Fake-clock time of the send, in ns. */
  tsNs: bigint;
}

export interface FakeInjected {
  family: 4 | 6;
  protocol: number;
  bytes: Uint8Array;
  /** 4 or 16 bytes. */
  src: Uint8Array;
  /** RX timestamp in ns; null = the kernel gave none; default: the fake clock now. */
  tsNs?: bigint | null;
  /** IPv6: the hop limit the packet arrived with (IPV6_HOPLIMIT); default 64. Ignored for IPv4. */
  hopLimit?: number;
}

interface Queued {
  bytes: Uint8Array;
  src: Uint8Array;
  tsNs: bigint | null;
  hopLimit?: number;
}

const E = { EPERM: 1, EBADF: 9, EAGAIN: 11, EBUSY: 16, EINVAL: 22, ENOBUFS: 105 } as const;
const NAMES: Record<number, string> = {
  1: "EPERM",
  9: "EBADF",
  11: "EAGAIN",
  16: "EBUSY",
  22: "EINVAL",
  90: "EMSGSIZE",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

/** An error-queue entry: a TX timestamp [id, time or null], or "other" (a local or ICMP error). */
type ErrQueueEntry = [number, bigint | null] | "other";

/** An Error shaped like the addon's (code, errno, syscall). */
export function fakeErrnoError(errno: number, syscall: string): Error {
  const code = NAMES[errno] ?? `E${errno}`;
  return Object.assign(new Error(`${syscall} failed: ${code}`), { code, errno, syscall });
}

function split(ns: bigint): [number, number] {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

export class FakeSocket implements NativeRawSocket {
  readonly family: 4 | 6;
  readonly protocol: number;
  readonly flags: number;
  readonly device: string | null;
  readonly fdNumber: number;
  closed = false;
  filter: Uint8Array | null = null;
  receiveBuffer = 0;
  readonly rxQueue: Queued[] = [];
  /** The error queue: TX timestamps, and (with IP_RECVERR) other errors readTxTimestamps skips. */
  readonly txTimestamps: ErrQueueEntry[] = [];
  drops = 0;
  /** sk_err: a pending socket error that fails the next send or receive (0: none). */
  pendingError = 0;
  #skipped = 0;
  #stale = 0;
  #lastReportedDrops = 0;
  #nextId = 0;
  #cb: PollCallback | null = null;
  #scheduled = false;
  #pollError = 0;
  #receiver: { buffer: ArrayBuffer; mode: number; slotBytes: number; cb: ReceiveCallback } | null = null;
  readonly #submitted: { data: Uint8Array; records: Uint32Array; addresses: Uint8Array; cookie: number }[] =
    [];
  /** Test: the next `throwOnRecv` receive calls throw (a bug in a handler stands in). */
  throwOnRecv = 0;
  /** The send thread's reports (ring records) held back while the binding's holdSendReports is true. */
  readonly #heldReports: number[][] = [];
  #flushRequested = 0;
  #flushAnswered = 0;
  readonly #net: FakeBinding;

  constructor(net: FakeBinding, family: 4 | 6, protocol: number, flags: number, device: string | null) {
    this.#net = net;
    this.family = family;
    this.protocol = protocol;
    this.flags = flags;
    this.device = device;
    this.fdNumber = net.nextFd++;
  }

  get polling(): boolean {
    return this.#cb !== null;
  }

  #check(syscall: string): void {
    if (this.closed) throw fakeErrnoError(E.EBADF, syscall);
  }

  fd(): number {
    return this.closed ? 0xffffffff : this.fdNumber;
  }

  close(): void {
    this.closed = true;
    this.#cb = null;
    this.#receiver = null;
  }

  attachFilter(program: Uint8Array): void {
    this.#check("setsockopt(SO_ATTACH_FILTER)");
    this.filter = Uint8Array.from(program);
  }

  detachFilter(): void {
    this.#check("setsockopt(SO_DETACH_FILTER)");
    this.filter = null;
  }

  setReceiveBuffer(bytes: number): number {
    this.#check("setsockopt(SO_RCVBUF)");
    this.receiveBuffer = Math.min(bytes, this.#net.rmemMax) * 2;
    return this.receiveBuffer;
  }

  sendBatch(
    data: Uint8Array,
    records: Uint32Array,
    addresses: Uint8Array,
    first: number,
    count: number,
    results: Uint32Array,
  ): number {
    this.#check("sendmsg");
    if (this.#receiver?.mode === RECEIVE_SEND) throw fakeErrnoError(E.EBUSY, "sendmsg");
    return this.#send(data, records, addresses, first, count, results);
  }

  #send(
    data: Uint8Array,
    records: Uint32Array,
    addresses: Uint8Array,
    first: number,
    count: number,
    results: Uint32Array,
  ): number {
    const recvErr = (this.flags & OPEN_RECVERR) !== 0;
    if (recvErr) this.#clearStale();
    let sent = 0;
    for (let k = 0; k < count; k++) {
      const r = (first + k) * SEND_RECORD_WORDS;
      const off = records[r]!;
      const len = records[r + 1]!;
      const a = records[r + 2]! * ADDRESS_BYTES;
      const o = k * SEND_RESULT_WORDS;
      // A pending socket error fails the send before the packet is built (sock_alloc_send_skb).
      let errno = this.pendingError || (this.#net.sendErrors.shift() ?? 0);
      this.pendingError = 0;
      // Ids are ours per attempt (SCM_TS_OPT_ID): a refused packet leaves a hole, never a shift.
      const id = this.#nextId++;
      if (errno === E.ENOBUFS && !recvErr) {
        // The kernel hides a local drop from a raw socket without IP_RECVERR: "sent", then gone.
        errno = 0;
        results[o] = 0;
        results[o + 1] = id;
        sent++;
        this.#net.silentlyDropped++;
        continue;
      }
      if (errno !== 0) {
        results[o] = errno;
        results[o + 1] = 0;
        this.#net.refused.push({
          socket: this,
          bytes: data.slice(off, off + len),
          dst: addresses.slice(a, a + (this.family === 4 ? 4 : 16)),
          txId: 0,
          tsNs: this.#net.clockNs,
        });
        continue;
      }
      results[o] = 0;
      results[o + 1] = id;
      sent++;
      const tsNs = this.#net.clockNs;
      this.#net.sent.push({
        socket: this,
        bytes: data.slice(off, off + len),
        dst: addresses.slice(a, a + (this.family === 4 ? 4 : 16)),
        txId: id,
        tsNs,
      });
      if (this.flags & OPEN_TX_TIMESTAMPS) {
        this.txTimestamps.push([id, this.#net.dropTxTimestamps ? null : tsNs]);
        this.#wake();
      }
    }
    return sent;
  }

  recvBatch(data: Uint8Array, slotSize: number, maxCount: number, meta: Uint32Array): number {
    this.#check("recvmmsg");
    if (this.throwOnRecv > 0) {
      this.throwOnRecv--;
      throw new TypeError("fake: a receive handler failed");
    }
    // The addon reads again after a pending socket error instead of failing the read.
    this.#clearStale();
    let n = 0;
    while (n < maxCount && this.#takePacket(meta, n * RECV_META_WORDS, data, n * slotSize, slotSize)) n++;
    return n;
  }

  /** Moves the next queued packet into a metadata record at word o and its bytes at dataAt (false: none). */
  #takePacket(meta: Uint32Array, o: number, data: Uint8Array, dataAt: number, slotSize: number): boolean {
    const q = this.rxQueue.shift();
    if (q === undefined) return false;
    const len = Math.min(q.bytes.length, slotSize);
    data.set(q.bytes.subarray(0, len), dataAt);
    let flags = q.bytes.length > slotSize ? META_TRUNCATED : 0;
    if (q.src.length === 16) flags |= META_IPV6;
    // IPv6 sockets have IPV6_RECVHOPLIMIT on: every packet carries its hop limit.
    if (this.family === 6) flags |= META_HAS_HOP_LIMIT | ((q.hopLimit ?? 64) << META_HOP_LIMIT_SHIFT);
    let sec = 0;
    let nsec = 0;
    if (q.tsNs !== null && this.flags & OPEN_RX_TIMESTAMPS) {
      [sec, nsec] = split(q.tsNs);
      flags |= META_HAS_TIMESTAMP;
    }
    meta[o] = len;
    meta[o + 1] = flags;
    meta[o + 2] = sec;
    meta[o + 3] = nsec;
    const bytes = new Uint8Array(meta.buffer, meta.byteOffset, meta.byteLength);
    bytes.fill(0, o * 4 + 16, o * 4 + 32);
    bytes.set(q.src, o * 4 + 16);
    this.#lastReportedDrops = this.drops;
    return true;
  }

  readTxTimestamps(out: Uint32Array, maxCount: number): number {
    this.#check("recvmmsg");
    let n = 0;
    while (n < maxCount && this.#takeTimestamp(out, n * TX_TS_WORDS)) n++;
    return n;
  }

  /** Moves the next TX timestamp of the error queue to out[o..o+4), skipping other entries (false: none). */
  #takeTimestamp(out: Uint32Array, o: number): boolean {
    for (;;) {
      const e = this.txTimestamps.shift();
      if (e === undefined) return false;
      if (e === "other") {
        this.#skipped++;
        continue;
      }
      const [id, ts] = e;
      out[o] = id;
      out[o + 1] = ts === null ? 0 : META_HAS_TIMESTAMP;
      [out[o + 2], out[o + 3]] = ts === null ? [0, 0] : split(ts);
      return true;
    }
  }

  /**
   * The receive thread, modelled on the event loop: on each wake it moves what is queued into the
   * ring (waiting, like the thread, while the ring is full) and calls back once.
   */
  startReceiver(mode: number, slots: number, slotBytes: number, cb: ReceiveCallback): ArrayBuffer {
    this.#check("pthread_create");
    if (this.#receiver !== null) throw fakeErrnoError(E.EBUSY, "pthread_create");
    const words =
      mode === RECEIVE_PACKETS ? RECV_META_WORDS : mode === RECEIVE_SEND ? SENT_WORDS : TX_TS_WORDS;
    const buffer = allocRing(slots, words, slotBytes);
    this.#receiver = { buffer, mode, slotBytes, cb };
    this.#wake();
    return buffer;
  }

  stopReceiver(): void {
    this.#receiver = null;
    this.#submitted.length = 0;
    this.#heldReports.length = 0;
    this.#flushRequested = this.#flushAnswered = 0;
  }

  /** The send thread's queue (modelled): copies the batch, sent on the next wake (a schedule, `at`, is not). */
  submit(
    data: Uint8Array,
    records: Uint32Array,
    addresses: Uint8Array,
    first: number,
    count: number,
    cookie: number,
    _at = 0,
    _fresh = false,
  ): boolean {
    this.#check("submit");
    if (this.#receiver?.mode !== RECEIVE_SEND) throw fakeErrnoError(E.EINVAL, "submit");
    if (this.#submitted.length >= 16) return false;
    const recs = records.slice(first * SEND_RECORD_WORDS, (first + count) * SEND_RECORD_WORDS);
    // like the thread's queue, a copy of the packets only (not of the whole buffer they are in)
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (let k = 0; k < count; k++) {
      lo = Math.min(lo, recs[k * SEND_RECORD_WORDS]!);
      hi = Math.max(hi, recs[k * SEND_RECORD_WORDS]! + recs[k * SEND_RECORD_WORDS + 1]!);
    }
    // and of the batch's own addresses, re-indexed (native/send.c): a copy of the whole table per
    // submission was 160 KB at 10,000 addresses, for each batch and each RST of the warm-up
    const addrs = new Uint8Array(count * ADDRESS_BYTES);
    for (let k = 0; k < count; k++) {
      const r = k * SEND_RECORD_WORDS;
      recs[r]! -= lo;
      const a = recs[r + 2]! * ADDRESS_BYTES;
      addrs.set(addresses.subarray(a, a + ADDRESS_BYTES), k * ADDRESS_BYTES);
      recs[r + 2] = k;
    }
    this.#submitted.push({ data: data.slice(lo, hi), records: recs, addresses: addrs, cookie });
    this.#wake();
    return true;
  }

  /** Bytes the modelled send queue holds (packets and their addresses), as copied by submit. */
  get queuedBytes(): number {
    return this.#submitted.reduce((n, b) => n + b.data.length + b.addresses.length, 0);
  }

  /** The send thread's barrier: answered on its next wake, after the error queue (native/send.c). */
  flush(): number {
    this.#check("flush");
    // a receive thread's (packets): answered once its queue is in the ring (RING_FLUSHED, #runReceiver)
    const mode = this.#receiver?.mode;
    if (mode !== RECEIVE_SEND && mode !== RECEIVE_PACKETS) throw fakeErrnoError(E.EINVAL, "flush");
    this.#flushRequested = (this.#flushRequested + 1) >>> 0;
    this.#wake();
    return this.#flushRequested;
  }

  /** Wakes the modelled thread (FakeBinding.releaseSendReports). */
  wakeThread(): void {
    this.#wake();
  }

  get receiving(): boolean {
    return this.#receiver !== null;
  }

  /** One wake of the modelled send thread: sends the queued batches, then results and timestamps to the ring. */
  #runSender(r: { buffer: ArrayBuffer; cb: ReceiveCallback }): boolean {
    if (this.#net.holdSends) return this.#submitted.length > 0; // a busy thread: try again later
    const res = new Uint32Array(64 * SEND_RESULT_WORDS);
    const out = this.#heldReports;
    for (let b = this.#submitted.shift(); b !== undefined; b = this.#submitted.shift()) {
      const count = b.records.length / SEND_RECORD_WORDS;
      this.#send(b.data, b.records, b.addresses, 0, count, res);
      for (let k = 0; k < count; k++)
        out.push([SENT_RESULT, b.cookie, k, res[k * SEND_RESULT_WORDS]!, res[k * SEND_RESULT_WORDS + 1]!, 0]);
    }
    if (this.#net.holdSendReports) return false; // preempted before its report: sent, nothing written
    // then the error queue: timestamps of these sends, and whatever arrived since the last wake
    const flush = this.#flushRequested;
    const ts = new Uint32Array(TX_TS_WORDS);
    if (!this.#net.deferTxTimestamps || flush !== this.#flushAnswered)
      while (this.#takeTimestamp(ts, 0)) out.push([SENT_TXTS, ...ts, 0]);
    if (flush !== this.#flushAnswered) out.push([SENT_FLUSH, flush, 0, 0, 0, 0]);
    this.#flushAnswered = flush;
    let next = 0;
    const n = fillRing(r.buffer, (meta, o) => {
      const rec = out[next];
      if (rec === undefined) return false;
      meta.set(rec, o);
      next++;
      return true;
    });
    if (next < out.length) throw new Error("fake: the send ring is full (the tests keep it drained)");
    out.length = 0;
    if (n > 0) r.cb(null);
    return false;
  }

  /** One wake of the modelled thread: fills the ring; true when something is left for later. */
  #runReceiver(): boolean {
    const r = this.#receiver;
    if (r === null) return false;
    if (r.mode === RECEIVE_SEND) return this.#runSender(r);
    const packets = r.mode === RECEIVE_PACKETS;
    const flush = this.#flushRequested;
    // OPEN_SLOW_RECEIVE: a starved thread, which here reads nothing until a barrier is asked
    if (packets && this.flags & OPEN_SLOW_RECEIVE && flush === this.#flushAnswered) return false;
    if (packets) this.#clearStale();
    const n = fillRing(r.buffer, (meta, o, data, at) =>
      packets ? this.#takePacket(meta, o, data, at, r.slotBytes) : this.#takeTimestamp(meta, o),
    );
    const answer = packets && flush !== this.#flushAnswered && this.rxQueue.length === 0;
    if (answer) {
      Atomics.store(new Int32Array(r.buffer, 0, RING_HEADER_BYTES / 4), RING_FLUSHED, flush | 0);
      this.#flushAnswered = flush;
    }
    if (n > 0 || answer) r.cb(null);
    return (packets ? this.rxQueue : this.txTimestamps).length > 0;
  }

  rxDrops(): number {
    return this.#lastReportedDrops;
  }

  errorQueueSkipped(): number {
    return this.#skipped;
  }

  staleErrors(): number {
    return this.#stale;
  }

  #clearStale(): void {
    if (this.pendingError !== 0) this.#stale++;
    this.pendingError = 0;
  }

  /**
   * What an ICMP error quoting this socket's protocol, or a local error (EMSGSIZE), does to a socket
   * with IP_RECVERR: an entry joins the error queue (after the timestamps already there) and, for ICMP,
   * the socket error is set. Without IP_RECVERR nothing happens. Returns whether it was queued.
   */
  queueError(errno: number, icmp = true): boolean {
    if (!(this.flags & OPEN_RECVERR)) return false;
    this.txTimestamps.push("other");
    if (icmp) this.pendingError = errno;
    this.#wake();
    return true;
  }

  kernelDrops(): number {
    this.#check("getsockopt(SO_MEMINFO)");
    return this.drops;
  }

  poll(cb: PollCallback): void {
    this.#check("uv_poll_start");
    this.#cb = cb;
    this.#wake();
  }

  stopPoll(): void {
    this.#cb = null;
  }

  /**
   * Test: the next poll event reports `errno` instead, and the handle stops, as libuv's does; with a
   * receiver running, its thread stops on that errno instead and says so once.
   */
  failPoll(errno: number): void {
    this.#pollError = errno;
    this.#wake();
  }

  /** Queues a received packet (used by FakeBinding.inject). Returns false when the queue overflowed. */
  deliver(q: Queued): boolean {
    if (this.rxQueue.length >= this.#net.rxQueueLimit) {
      this.drops++;
      return false;
    }
    this.rxQueue.push(q);
    this.#wake();
    return true;
  }

  #wake(): void {
    if (this.#scheduled || (this.#cb === null && this.#receiver === null)) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.closed) return;
      const r = this.#receiver;
      if (r !== null && this.#pollError !== 0) {
        // the thread stops on the error and reports it once
        const errno = this.#pollError;
        this.#pollError = 0;
        this.#receiver = null;
        r.cb(fakeErrnoError(errno, "recvmmsg"));
        return;
      }
      if (r !== null && this.#runReceiver()) {
        // the ring is full: the thread waits for JS, which frees records in its callback
        const t = setTimeout(() => this.#wake(), 1);
        t.unref();
      }
      const cb = this.#cb;
      if (cb === null) return;
      if (this.#pollError !== 0) {
        const errno = this.#pollError;
        this.#pollError = 0;
        this.#cb = null;
        cb(fakeErrnoError(errno, "uv_poll"), 0);
        return;
      }
      const ev =
        (this.rxQueue.length > 0 ? POLL_READABLE : 0) | (this.txTimestamps.length > 0 ? POLL_ERRQUEUE : 0);
      if (ev === 0) return;
      cb(null, ev);
      // level-triggered, like uv_poll: fire again while something is left
      if (this.rxQueue.length > 0 || this.txTimestamps.length > 0) this.#wake();
    });
  }
}

/** A fake addon: pass it to `new RawSockets(fake)`. */
export class FakeBinding implements NativeBinding {
  readonly napiVersion = 8;
  readonly SEND_REC_WORDS = SEND_RECORD_WORDS;
  readonly SEND_RES_WORDS = SEND_RESULT_WORDS;
  readonly RECV_META_WORDS = RECV_META_WORDS;
  readonly TXTS_WORDS = TX_TS_WORDS;
  readonly MAX_BATCH = 1024;
  readonly META_HOPLIMIT_SHIFT = META_HOP_LIMIT_SHIFT;
  readonly RING_HEADER_BYTES = RING_HEADER_BYTES;
  readonly RawSocket: NativeBinding["RawSocket"];

  /** Every packet sent through any fake socket, in order. */
  readonly sent: FakeSentPacket[] = [];
  /** Packets whose send failed with an errno (sendErrors), in order: never on the wire. */
  readonly refused: FakeSentPacket[] = [];
  readonly sockets: FakeSocket[] = [];
  /** Fake clock (ns) used for TX timestamps and as the default RX timestamp. */
  clockNs = 1_700_000_000_000_000_000n;
  /** Errnos the next sends fail with, one per packet, in order (0 = let that one through). */
  readonly sendErrors: number[] = [];
  /** When true, TX timestamps are reported as missing. */
  dropTxTimestamps = false;
  /** ENOBUFS sends a socket without IP_RECVERR reported as sent (the packet went nowhere). */
  silentlyDropped = 0;
  /** While true, send threads (startSender) send nothing: their queues fill, as behind a slow link. */
  holdSends = false;
  /**
   * While true, send threads send (packets, TX timestamps queued) but write no report to their ring:
   * a thread preempted between its sends and its report. releaseSendReports() ends it.
   */
  holdSendReports = false;
  /** When true, send threads leave TX timestamps in the error queue until asked for a flush. */
  deferTxTimestamps = false;
  /** When false, opening a socket fails with EPERM, as without CAP_NET_RAW. */
  hasCapNetRaw = true;
  /** Packets a receive queue holds before the fake "kernel" drops (and counts) more. */
  rxQueueLimit = 4096;
  rmemMax = 212992;
  nextFd = 100;

  constructor() {
    const net = this;
    this.RawSocket = class extends FakeSocket {
      constructor(family: number, protocol: number, flags: number, device: string | null) {
        if (!net.hasCapNetRaw) throw fakeErrnoError(E.EPERM, "socket");
        super(net, family as 4 | 6, protocol, flags, device);
        net.sockets.push(this);
      }
    };
  }

  /** Ends holdSendReports: each send thread writes what it held on its next wake (now). */
  releaseSendReports(): void {
    this.holdSendReports = false;
    for (const s of this.sockets) if (!s.closed) s.wakeThread();
  }

  advance(ns: bigint | number): void {
    this.clockNs += BigInt(ns);
  }

  /** Makes the next `count` packets fail with errno. */
  failNext(errno: number, count = 1): void {
    for (let i = 0; i < count; i++) this.sendErrors.push(errno);
  }

  /** Delivers a packet to every open receiving socket of its family and protocol; returns how many took it. */
  inject(p: FakeInjected): number {
    const tsNs = p.tsNs === undefined ? this.clockNs : p.tsNs;
    let n = 0;
    for (const s of this.sockets) {
      if (s.closed || s.family !== p.family || s.protocol !== p.protocol || s.flags & OPEN_HDRINCL) continue;
      const q = { bytes: Uint8Array.from(p.bytes), src: Uint8Array.from(p.src), tsNs, hopLimit: p.hopLimit };
      if (s.deliver(q)) n++;
    }
    return n;
  }

  /** Sent packets whose socket is open for `family`, convenient in assertions. */
  sentBy(family: 4 | 6): FakeSentPacket[] {
    return this.sent.filter((p) => p.socket.family === family);
  }
}
