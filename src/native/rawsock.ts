// The one typed door to the native raw-socket addon (native/*.c). The addon is a thin syscall layer
// that knows no protocol; this module declares its interface, loads it, validates every argument
// before it crosses into C (C re-checks memory bounds, but its errors are terse), and turns errno
// into typed errors. The binding is injectable: engine code takes a RawSockets built over either the
// real addon or the in-memory fake (./fake.ts), so its logic is unit-tested without privileges.
// Buffer layouts are documented in docs/native.md; the word counts below are checked against the
// addon's own exports at load time.
import { createRequire } from "node:module";
import { Code, type ErrorCode, NetprobifyError } from "../errors.js";
import { RECEIVE_ERRQUEUE, RECEIVE_PACKETS, RECEIVE_SEND, RING_HEADER_BYTES, Ring } from "./ring.js";

export { Ring, SENT_FLUSH, SENT_RESULT, SENT_TXTS, SENT_WORDS } from "./ring.js";

export type Family = 4 | 6;

/** IP protocol numbers the prober uses (any 0-255 is accepted). */
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, RAW: 255 } as const;

/** Send records: [offset in data, length, index into addresses (16 bytes each), IPv6 scope id]. */
export const SEND_RECORD_WORDS = 4;
/** Send results: [errno (0 = sent), TX timestamp id]. */
export const SEND_RESULT_WORDS = 2;
/** Receive metadata: [length, flags, ts sec, ts nsec, source address as 16 raw bytes]. */
export const RECV_META_WORDS = 8;
/** TX timestamps: [id, flags, ts sec, ts nsec]. */
export const TX_TS_WORDS = 4;
export const ADDRESS_BYTES = 16;
/** The kernel's cap on one sendmmsg/recvmmsg call; larger sends are split by the addon. */
export const MAX_BATCH = 1024;

/** Flags in receive metadata word 1 and TX timestamp word 1. */
export const META_HAS_TIMESTAMP = 1;
export const META_TRUNCATED = 2;
export const META_IPV6 = 4;
/** Receive metadata, IPv6 sockets: the reply's hop limit (IPV6_HOPLIMIT) is in bits 8-15 of word 1. */
export const META_HAS_HOP_LIMIT = 8;
export const META_HOP_LIMIT_SHIFT = 8;

/**
 * The hop limit an IPv6 reply arrived with, from its metadata flags word; 0 when the addon gave none
 * (IPv4 sockets: read the TTL from the IP header the packet starts with).
 */
export function metaHopLimit(flags: number): number {
  return flags & META_HAS_HOP_LIMIT ? (flags >>> META_HOP_LIMIT_SHIFT) & 0xff : 0;
}

/** Bits of the `events` argument of a poll callback. */
/**
 * CLOCK_MONOTONIC in ns, the clock of submit()'s `at` (libuv's hrtime reads it; a Number is exact to
 * the ns for 104 days of uptime, then to a few ns).
 */
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}

export const POLL_READABLE = 1;
export const POLL_ERRQUEUE = 2;

/** Flags of the native constructor (native/rawsock.h). */
export const OPEN_HDRINCL = 1;
export const OPEN_TX_TIMESTAMPS = 2;
export const OPEN_RX_TIMESTAMPS = 4;
/** Test only: leave SO_SELECT_ERR_QUEUE off and poll without UV_PRIORITIZED (libuv then stops the handle). */
export const OPEN_NO_SELECT_ERR_QUEUE = 8;
/** IP_RECVERR / IPV6_RECVERR: local refusals (a full qdisc's ENOBUFS) fail the send instead of vanishing. */
export const OPEN_RECVERR = 16;
/** Test only: number TX timestamps with the kernel's per-socket counter, as on Linux < 6.13. */
export const OPEN_FORCE_COUNTER_IDS = 32;
/** Test only: the send thread waits 5 ms between a batch's sends and its report (as if preempted). */
export const OPEN_SLOW_SEND_REPORT = 64;
/** Test only: the send thread stalls 100 ms once, after its first batch's sends (as if preempted). */
export const OPEN_STALL_SEND_ONCE = 128;
/**
 * Test only: the receive thread waits 2 s before each read of its socket (as if starved); a receive
 * barrier (flushReceiver) or stop ends the wait. The fake's thread reads only when asked for a barrier.
 */
export const OPEN_SLOW_RECEIVE = 256;
const OPEN_FLAGS_MAX = 511;

export type PollCallback = (err: Error | null, events: number) => void;
/** Called on the JS thread when a receive thread's ring has records (coalesced), or with the error it stopped on. */
export type ReceiveCallback = (err: Error | null) => void;

/** What a receive thread reads: received packets (with metadata) or TX timestamps (the error queue). */
export type ReceiveKind = "packets" | "timestamps";

export interface ReceiveOptions {
  /** Records the ring holds (a power of two). Default: 1024 packets, 4096 timestamps. */
  slots?: number;
  /** Bytes of packet per record (longer packets are truncated and flagged). Default 2048. */
  slotBytes?: number;
}

/** What the addon's RawSocket instances offer; the fake implements the same. */
export interface NativeRawSocket {
  fd(): number;
  close(): void;
  attachFilter(program: Uint8Array): void;
  detachFilter(): void;
  setReceiveBuffer(bytes: number): number;
  sendBatch(
    data: Uint8Array,
    records: Uint32Array,
    addresses: Uint8Array,
    first: number,
    count: number,
    results: Uint32Array,
  ): number;
  recvBatch(data: Uint8Array, slotSize: number, maxCount: number, meta: Uint32Array): number;
  readTxTimestamps(out: Uint32Array, maxCount: number): number;
  rxDrops(): number;
  kernelDrops(): number;
  errorQueueSkipped(): number;
  staleErrors(): number;
  poll(cb: PollCallback): void;
  stopPoll(): void;
  startReceiver(mode: number, slots: number, slotBytes: number, cb: ReceiveCallback): ArrayBuffer;
  stopReceiver(): void;
  submit(
    data: Uint8Array,
    records: Uint32Array,
    addresses: Uint8Array,
    first: number,
    count: number,
    cookie: number,
    at: number,
    fresh: boolean,
  ): boolean;
  flush(): number;
}

export interface NativeBinding {
  RawSocket: new (family: number, protocol: number, flags: number, device: string | null) => NativeRawSocket;
  /** Kernel source address per destination (connect() on one UDP socket); see routeSources below. */
  /** (The fake has none: kernel routes are outside what it models.) */
  routeSources?(
    family: number,
    dsts: Uint8Array,
    count: number,
    out: Uint8Array,
    errors: Uint32Array,
  ): number;
  napiVersion: number;
  SEND_REC_WORDS: number;
  SEND_RES_WORDS: number;
  RECV_META_WORDS: number;
  TXTS_WORDS: number;
  MAX_BATCH: number;
  META_HOPLIMIT_SHIFT: number;
  RING_HEADER_BYTES: number;
}

export interface OpenOptions {
  family: Family;
  /** IP protocol of the socket: 255 (IPPROTO_RAW) for a TX socket, 6/1/58/17 for RX sockets. */
  protocol: number;
  /** We write the IP header (IP_HDRINCL / IPV6_HDRINCL). Default: protocol === 255. */
  headerIncluded?: boolean;
  /** TX software timestamps with per-packet ids, read with readTxTimestamps(). */
  txTimestamps?: boolean;
  /** RX software timestamps in receive metadata. */
  rxTimestamps?: boolean;
  /**
   * IP_RECVERR / IPV6_RECVERR: without it raw sockets report a packet the qdisc dropped (ENOBUFS) as
   * sent. Side effects the addon handles: local errors (EMSGSIZE) and ICMP errors quoting the socket's
   * protocol join the error queue (skipped, counted in errorQueueSkipped()), and a pending socket error
   * is cleared before it can fail a later send or receive (counted in staleErrors()).
   */
  localErrors?: boolean;
  /** SO_BINDTODEVICE. */
  device?: string;
  /** Receive buffer to ask for (SO_RCVBUFFORCE, else SO_RCVBUF); the size obtained is `receiveBuffer`. */
  receiveBufferBytes?: number;
  /** Raw native flags added to the above (tests only). */
  extraFlags?: number;
}

/** Packets packed in one buffer, described by records (see SEND_RECORD_WORDS). */
export interface SendBatch {
  data: Uint8Array;
  records: Uint32Array;
  addresses: Uint8Array;
}

/** Fixed-size receive slots plus their metadata; make one with allocRecvBuffers(). */
export interface RecvBuffers {
  data: Uint8Array;
  slotSize: number;
  slots: number;
  meta: Uint32Array;
  /** The same memory as meta, as bytes: source address i is metaBytes[i*32+16 .. i*32+32). */
  metaBytes: Uint8Array;
}

export interface RawSocket {
  readonly family: Family;
  readonly protocol: number;
  readonly closed: boolean;
  /** Receive buffer size obtained (0 if never set). */
  readonly receiveBuffer: number;
  fd(): number;
  attachFilter(program: Uint8Array): void;
  detachFilter(): void;
  setReceiveBuffer(bytes: number): number;
  /** Sends records [first, first+count); writes `count` results. Returns how many were sent. */
  sendBatch(batch: SendBatch, first: number, count: number, results: Uint32Array): number;
  /** Receives up to maxCount (default: all slots) packets; 0 when none is waiting. */
  recvBatch(buffers: RecvBuffers, maxCount?: number): number;
  /** Reads up to maxCount TX timestamps into out (TX_TS_WORDS each); 0 when none is waiting. */
  readTxTimestamps(out: Uint32Array, maxCount?: number): number;
  /** Kernel drop counter as last reported with a received packet (SO_RXQ_OVFL). */
  rxDrops(): number;
  /** Kernel drop counter read now (SO_MEMINFO). */
  kernelDrops(): number;
  /** Error-queue entries readTxTimestamps consumed that were not TX timestamps (local or ICMP errors). */
  errorQueueSkipped(): number;
  /** Pending socket errors (sk_err) cleared so that they failed no later send or receive. */
  staleErrors(): number;
  /** Calls cb when readable or when TX timestamps wait; cb must drain (loop until 0). Keeps the socket alive. */
  poll(cb: PollCallback): void;
  stopPoll(): void;
  /**
   * Starts the socket's receive thread (native/recv.c): it reads packets, or TX timestamps, into the
   * returned ring as they arrive; cb runs on the JS thread when records are ready (however many wakes
   * came meanwhile: once) and must drain the ring. Keeps the socket alive until stopReceiver()/close(),
   * which join the thread. Records: RECV_META_WORDS then the packet, or TX_TS_WORDS.
   */
  receive(kind: ReceiveKind, cb: ReceiveCallback, options?: ReceiveOptions): Ring;
  stopReceiver(): void;
  /**
   * Starts the socket's send thread (native/send.c): submit() queues batches, the thread sends them
   * (as sendBatch would) and writes a result per packet, then the TX timestamps its sends queued, into
   * the returned ring (SENT_WORDS per record); cb runs as for receive(). sendBatch() then fails with
   * EBUSY: one thread numbers the TX timestamps. Stopped by stopReceiver()/close().
   */
  startSender(cb: ReceiveCallback, options?: { slots?: number }): Ring;
  /**
   * Queues records [first, first+count) (at most 64, 128 KiB) for the send thread; false when its queue
   * is full. `at`: the CLOCK_MONOTONIC time in ns (monotonicNs()) the batch is scheduled for: the thread
   * sends it no earlier than that plus how far stalls pushed the schedule back (0: at once, no
   * schedule); `fresh`: it starts a new schedule (native/send.c).
   */
  submit(
    batch: SendBatch,
    first: number,
    count: number,
    cookie: number,
    at?: number,
    fresh?: boolean,
  ): boolean;
  /**
   * Asks the send thread for a barrier: it reads the error queue again and writes a SENT_FLUSH record
   * carrying the returned number after what it read, so every TX timestamp the kernel queued before
   * this call precedes that record in the ring.
   */
  flushSender(): number;
  /**
   * Asks the receive thread (packets) for a barrier: it reads its socket now, and once a read found
   * it empty publishes the returned number in the ring's header (Ring.flushed()), after the packets
   * it read: every packet the kernel queued before this call is then in the ring.
   */
  flushReceiver(): number;
  /** Idempotent. */
  close(): void;
}

/** A syscall failed. `errno`/`syscall`/`sysCode` come from the kernel. */
export class NativeSocketError extends NetprobifyError {
  readonly errno: number;
  readonly syscall: string;
  readonly sysCode: string;
  constructor(
    code: ErrorCode,
    message: string,
    errno: number,
    syscall: string,
    sysCode: string,
    cause?: unknown,
  ) {
    super(code, message, { cause });
    this.name = "NativeSocketError";
    this.errno = errno;
    this.syscall = syscall;
    this.sysCode = sysCode;
  }
}

const EPERM = 1;
const EACCES = 13;

const NO_CAP_HINT =
  "opening a raw socket needs CAP_NET_RAW: run as root, or grant it to node " +
  "(`sudo setcap cap_net_raw+ep $(readlink -f $(which node))`) or to the service " +
  "(systemd: AmbientCapabilities=CAP_NET_RAW)";

/** Converts an error thrown by the addon into a typed error; other errors are returned unchanged. */
export function toTypedError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof NetprobifyError) return err;
  const e = err as Error & { errno?: unknown; syscall?: unknown; code?: unknown };
  if (typeof e.errno !== "number" || typeof e.syscall !== "string") return err;
  const sysCode = typeof e.code === "string" ? e.code : `E${e.errno}`;
  const needsCap = e.syscall === "socket" || e.syscall === "setsockopt(SO_BINDTODEVICE)";
  if (needsCap && (e.errno === EPERM || e.errno === EACCES)) {
    return new NativeSocketError(
      Code.NPF_NO_CAP_NET_RAW,
      `${NO_CAP_HINT} (${e.syscall}: ${sysCode})`,
      e.errno,
      e.syscall,
      sysCode,
      err,
    );
  }
  return new NativeSocketError(Code.NPF_SOCKET, e.message, e.errno, e.syscall, sysCode, err);
}

function rethrow(err: unknown): never {
  throw toTypedError(err);
}

let cached: NativeBinding | undefined;

/** dist/src/native/rawsock.js -> the package root. */
const PACKAGE_ROOT = decodeURIComponent(new URL("../../..", import.meta.url).pathname);

/**
 * Where the addon is: build/Release/rawsock.node when it was built from source (`npm ci` in the
 * repository, or an install that found no prebuild), else the package's prebuild for this platform
 * (prebuilds/linux-<arch>/netprobify.glibc.node, docs/native.md). node-gyp-build picks the file.
 */
export function addonPath(root = PACKAGE_ROOT): string {
  const require = createRequire(import.meta.url);
  return (require("node-gyp-build") as { path(dir: string): string }).path(root);
}

/** Loads the addon (see addonPath). */
export function loadBinding(): NativeBinding {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  // the package root: node-gyp-build's message says which builds it looked for
  const path = PACKAGE_ROOT;
  let b: NativeBinding;
  try {
    b = require(addonPath(path)) as NativeBinding;
  } catch (err) {
    throw new NetprobifyError(
      Code.NPF_NATIVE_UNAVAILABLE,
      `cannot load the raw-socket addon ${path}: ${(err as Error).message}; ` +
        "build it with `npm ci` or `npm rebuild` (needs g++, make, python3)",
      { cause: err },
    );
  }
  checkLayout(b);
  cached = b;
  return b;
}

/** The TS constants and the addon must agree on every layout word count. */
export function checkLayout(b: NativeBinding): void {
  const pairs: [string, number, number][] = [
    ["SEND_REC_WORDS", b.SEND_REC_WORDS, SEND_RECORD_WORDS],
    ["SEND_RES_WORDS", b.SEND_RES_WORDS, SEND_RESULT_WORDS],
    ["RECV_META_WORDS", b.RECV_META_WORDS, RECV_META_WORDS],
    ["TXTS_WORDS", b.TXTS_WORDS, TX_TS_WORDS],
    ["MAX_BATCH", b.MAX_BATCH, MAX_BATCH],
    ["META_HOPLIMIT_SHIFT", b.META_HOPLIMIT_SHIFT, META_HOP_LIMIT_SHIFT],
    ["RING_HEADER_BYTES", b.RING_HEADER_BYTES, RING_HEADER_BYTES],
  ];
  for (const [name, native, ts] of pairs) {
    if (native !== ts) {
      throw new NetprobifyError(
        Code.NPF_NATIVE_UNAVAILABLE,
        `raw-socket addon layout mismatch: ${name} is ${native} in C, ${ts} in TypeScript; rebuild`,
      );
    }
  }
}

/**
 * The source address the kernel's routing table picks toward each of `count` destinations of one
 * family (16 bytes each in `dsts`, IPv4 in the first 4): written to `out` (16 bytes each), with
 * errors[i] = 0, or errors[i] = the errno of connect() (e.g. ENETUNREACH: no route). Nothing is sent.
 */
export function routeSources(
  family: Family,
  dsts: Uint8Array,
  count: number,
  out: Uint8Array,
  errors: Uint32Array,
): void {
  if (family !== 4 && family !== 6) throw new RangeError("family must be 4 or 6");
  if (!Number.isInteger(count) || count < 0) throw new RangeError("count must be a non-negative integer");
  if (dsts.length < count * ADDRESS_BYTES || out.length < count * ADDRESS_BYTES || errors.length < count)
    throw new RangeError("routeSources: buffers too small for count");
  const b = loadBinding();
  if (!b.routeSources)
    throw new NetprobifyError(Code.NPF_NATIVE_UNAVAILABLE, "the addon has no routeSources");
  try {
    b.routeSources(family, dsts, count, out, errors);
  } catch (err) {
    rethrow(err);
  }
}

/** Receive slots and metadata for `slots` packets of up to slotSize bytes each. */
export function allocRecvBuffers(slots: number, slotSize = 2048): RecvBuffers {
  positiveInt(slots, "slots", MAX_BATCH);
  positiveInt(slotSize, "slotSize", 65535);
  const meta = new Uint32Array(slots * RECV_META_WORDS);
  return {
    data: new Uint8Array(slots * slotSize),
    slotSize,
    slots,
    meta,
    metaBytes: new Uint8Array(meta.buffer, meta.byteOffset, meta.byteLength),
  };
}

/** Nanoseconds between two kernel timestamps given as (sec, nsec) pairs: a - b, exact below 2^53 ns. */
export function diffNs(aSec: number, aNsec: number, bSec: number, bNsec: number): number {
  return (aSec - bSec) * 1e9 + (aNsec - bNsec);
}

// ---- validation: every argument is checked here, before it reaches C ----

function positiveInt(v: unknown, name: string, max: number): asserts v is number {
  if (typeof v !== "number" || !Number.isInteger(v))
    throw new TypeError(`${name} must be an integer, got ${v}`);
  if (v < 1 || v > max) throw new RangeError(`${name} must be in [1, ${max}], got ${v}`);
}

function uint(v: unknown, name: string, max = 0xffffffff): asserts v is number {
  if (typeof v !== "number" || !Number.isInteger(v))
    throw new TypeError(`${name} must be an integer, got ${v}`);
  if (v < 0 || v > max) throw new RangeError(`${name} must be in [0, ${max}], got ${v}`);
}

function isU32(v: unknown, name: string): asserts v is Uint32Array {
  if (!(v instanceof Uint32Array)) throw new TypeError(`${name} must be a Uint32Array`);
}

function isBytes(v: unknown, name: string): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Buffer or Uint8Array`);
}

/** Checks a send window; exported for tests and for engine code that builds batches. */
export function validateSend(batch: SendBatch, first: number, count: number, results?: Uint32Array): void {
  if (typeof batch !== "object" || batch === null)
    throw new TypeError("batch must be { data, records, addresses }");
  isBytes(batch.data, "batch.data");
  isU32(batch.records, "batch.records");
  isBytes(batch.addresses, "batch.addresses");
  if (results !== undefined) isU32(results, "results");
  uint(first, "first");
  uint(count, "count");
  const nrec = Math.floor(batch.records.length / SEND_RECORD_WORDS);
  if (first + count > nrec)
    throw new RangeError(`records hold ${nrec} packets; first + count = ${first + count}`);
  if (results !== undefined && results.length < count * SEND_RESULT_WORDS) {
    throw new RangeError(`results needs ${count * SEND_RESULT_WORDS} words, has ${results.length}`);
  }
  const r = batch.records;
  const dataLen = batch.data.length;
  const naddr = Math.floor(batch.addresses.length / ADDRESS_BYTES);
  for (let k = first; k < first + count; k++) {
    const o = k * SEND_RECORD_WORDS;
    const off = r[o]!;
    const len = r[o + 1]!;
    if (len === 0 || off + len > dataLen) {
      throw new RangeError(
        `record ${k}: packet [${off}, ${off + len}) is empty or outside data (${dataLen} bytes)`,
      );
    }
    if (r[o + 2]! >= naddr)
      throw new RangeError(`record ${k}: address index ${r[o + 2]} >= ${naddr} addresses`);
  }
}

function validateRecv(b: RecvBuffers, maxCount: number): void {
  if (typeof b !== "object" || b === null) throw new TypeError("buffers must come from allocRecvBuffers()");
  isBytes(b.data, "buffers.data");
  isU32(b.meta, "buffers.meta");
  positiveInt(b.slotSize, "buffers.slotSize", 65535);
  uint(maxCount, "maxCount", MAX_BATCH);
  if (maxCount * b.slotSize > b.data.length) throw new RangeError(`data holds fewer than ${maxCount} slots`);
  if (maxCount * RECV_META_WORDS > b.meta.length)
    throw new RangeError(`meta holds fewer than ${maxCount} records`);
}

function validateOpen(o: OpenOptions): number {
  if (typeof o !== "object" || o === null) throw new TypeError("open() needs an options object");
  if (o.family !== 4 && o.family !== 6) throw new TypeError(`family must be 4 or 6, got ${o.family}`);
  uint(o.protocol, "protocol", 255);
  if (
    o.device !== undefined &&
    (typeof o.device !== "string" || o.device.length < 1 || o.device.length > 15)
  ) {
    throw new TypeError("device must be an interface name of 1-15 characters");
  }
  if (o.receiveBufferBytes !== undefined) positiveInt(o.receiveBufferBytes, "receiveBufferBytes", 0x3fffffff);
  let flags = o.extraFlags ?? 0;
  uint(flags, "extraFlags", OPEN_FLAGS_MAX);
  if (o.headerIncluded ?? o.protocol === IPPROTO.RAW) flags |= OPEN_HDRINCL;
  if (o.txTimestamps) flags |= OPEN_TX_TIMESTAMPS;
  if (o.rxTimestamps) flags |= OPEN_RX_TIMESTAMPS;
  if (o.localErrors) flags |= OPEN_RECVERR;
  return flags;
}

class CheckedSocket implements RawSocket {
  readonly family: Family;
  readonly protocol: number;
  closed = false;
  receiveBuffer = 0;
  readonly #n: NativeRawSocket;

  constructor(n: NativeRawSocket, family: Family, protocol: number) {
    this.#n = n;
    this.family = family;
    this.protocol = protocol;
  }

  #open(): void {
    if (this.closed) throw new NativeSocketError(Code.NPF_SOCKET, "socket is closed", 9, "use", "EBADF");
  }

  fd(): number {
    return this.closed ? -1 : this.#n.fd();
  }

  attachFilter(program: Uint8Array): void {
    isBytes(program, "program");
    if (program.length === 0 || program.length % 8 !== 0 || program.length > 4096 * 8) {
      throw new RangeError(`a cBPF program is 1-4096 instructions of 8 bytes, got ${program.length} bytes`);
    }
    this.#open();
    try {
      this.#n.attachFilter(program);
    } catch (err) {
      rethrow(err);
    }
  }

  detachFilter(): void {
    this.#open();
    try {
      this.#n.detachFilter();
    } catch (err) {
      rethrow(err);
    }
  }

  setReceiveBuffer(bytes: number): number {
    positiveInt(bytes, "bytes", 0x3fffffff);
    this.#open();
    try {
      this.receiveBuffer = this.#n.setReceiveBuffer(bytes);
      return this.receiveBuffer;
    } catch (err) {
      rethrow(err);
    }
  }

  sendBatch(batch: SendBatch, first: number, count: number, results: Uint32Array): number {
    validateSend(batch, first, count, results);
    this.#open();
    try {
      return this.#n.sendBatch(batch.data, batch.records, batch.addresses, first, count, results);
    } catch (err) {
      rethrow(err);
    }
  }

  recvBatch(buffers: RecvBuffers, maxCount: number = buffers?.slots): number {
    validateRecv(buffers, maxCount);
    this.#open();
    try {
      return this.#n.recvBatch(buffers.data, buffers.slotSize, maxCount, buffers.meta);
    } catch (err) {
      rethrow(err);
    }
  }

  readTxTimestamps(out: Uint32Array, maxCount: number = Math.floor(out?.length / TX_TS_WORDS)): number {
    isU32(out, "out");
    uint(maxCount, "maxCount", MAX_BATCH);
    if (maxCount * TX_TS_WORDS > out.length) throw new RangeError(`out holds fewer than ${maxCount} entries`);
    this.#open();
    try {
      return this.#n.readTxTimestamps(out, maxCount);
    } catch (err) {
      rethrow(err);
    }
  }

  rxDrops(): number {
    return this.closed ? 0 : this.#n.rxDrops();
  }

  kernelDrops(): number {
    this.#open();
    try {
      return this.#n.kernelDrops();
    } catch (err) {
      rethrow(err);
    }
  }

  errorQueueSkipped(): number {
    return this.closed ? 0 : this.#n.errorQueueSkipped();
  }

  staleErrors(): number {
    return this.closed ? 0 : this.#n.staleErrors();
  }

  poll(cb: PollCallback): void {
    if (typeof cb !== "function") throw new TypeError("poll() needs a callback");
    this.#open();
    try {
      // The closure holds `this`: while polling, the addon's strong reference to the callback keeps this
      // wrapper (and the native socket) alive even if nothing else in JS refers to it.
      this.#n.poll((err, events) => {
        if (this.closed) return;
        cb(err === null ? null : (toTypedError(err) as Error), events);
      });
    } catch (err) {
      rethrow(err);
    }
  }

  stopPoll(): void {
    if (!this.closed) this.#n.stopPoll();
  }

  receive(kind: ReceiveKind, cb: ReceiveCallback, options: ReceiveOptions = {}): Ring {
    if (kind !== "packets" && kind !== "timestamps")
      throw new TypeError("receive() wants packets or timestamps");
    if (typeof cb !== "function") throw new TypeError("receive() needs a callback");
    const slots = options.slots ?? (kind === "packets" ? 1024 : 4096);
    positiveInt(slots, "slots", 1 << 20);
    if (slots < 2 || (slots & (slots - 1)) !== 0)
      throw new RangeError(`slots must be a power of two >= 2, got ${slots}`);
    const slotBytes = kind === "packets" ? (options.slotBytes ?? 2048) : 0;
    if (kind === "packets") positiveInt(slotBytes, "slotBytes", 65535);
    this.#open();
    try {
      const mode = kind === "packets" ? RECEIVE_PACKETS : RECEIVE_ERRQUEUE;
      // As with poll(): the closure holds `this`, kept alive by the addon while the thread runs.
      const buffer = this.#n.startReceiver(mode, slots, slotBytes, (err) => {
        if (this.closed) return;
        cb(err === null ? null : (toTypedError(err) as Error));
      });
      return new Ring(buffer);
    } catch (err) {
      rethrow(err);
    }
  }

  stopReceiver(): void {
    if (!this.closed) this.#n.stopReceiver();
  }

  startSender(cb: ReceiveCallback, options: { slots?: number } = {}): Ring {
    if (typeof cb !== "function") throw new TypeError("startSender() needs a callback");
    const slots = options.slots ?? 16384;
    positiveInt(slots, "slots", 1 << 20);
    if (slots < 64 || (slots & (slots - 1)) !== 0)
      throw new RangeError(`slots must be a power of two >= 64, got ${slots}`);
    this.#open();
    try {
      const buffer = this.#n.startReceiver(RECEIVE_SEND, slots, 0, (err) => {
        if (this.closed) return;
        cb(err === null ? null : (toTypedError(err) as Error));
      });
      return new Ring(buffer);
    } catch (err) {
      rethrow(err);
    }
  }

  submit(batch: SendBatch, first: number, count: number, cookie: number, at = 0, fresh = false): boolean {
    validateSend(batch, first, count);
    if (count < 1 || count > 64) throw new RangeError(`count must be in [1, 64], got ${count}`);
    uint(cookie, "cookie");
    if (!(at >= 0 && at < 2 ** 63)) throw new RangeError(`at must be a time in ns >= 0, got ${at}`);
    this.#open();
    try {
      return this.#n.submit(batch.data, batch.records, batch.addresses, first, count, cookie, at, fresh);
    } catch (err) {
      rethrow(err);
    }
  }

  flushSender(): number {
    this.#open();
    try {
      return this.#n.flush();
    } catch (err) {
      rethrow(err);
    }
  }

  flushReceiver(): number {
    this.#open();
    try {
      return this.#n.flush();
    } catch (err) {
      rethrow(err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#n.close();
  }
}

/** Opens sockets through a binding: the real addon by default, or a fake for unit tests. */
export class RawSockets {
  readonly binding: NativeBinding;

  constructor(binding?: NativeBinding) {
    this.binding = binding ?? loadBinding();
  }

  open(options: OpenOptions): RawSocket {
    const flags = validateOpen(options);
    let n: NativeRawSocket;
    try {
      n = new this.binding.RawSocket(options.family, options.protocol, flags, options.device ?? null);
    } catch (err) {
      rethrow(err);
    }
    const s = new CheckedSocket(n, options.family, options.protocol);
    if (options.receiveBufferBytes !== undefined) {
      try {
        s.setReceiveBuffer(options.receiveBufferBytes);
      } catch (err) {
        s.close();
        throw err;
      }
    }
    return s;
  }

  /** The per-family TX socket: IPPROTO_RAW, we write the IP header, TX timestamps and local errors on. */
  openTx(family: Family, options: Partial<OpenOptions> = {}): RawSocket {
    return this.open({
      txTimestamps: true,
      localErrors: true,
      receiveBufferBytes: 4 << 20,
      ...options,
      family,
      protocol: IPPROTO.RAW,
    });
  }

  /** An RX socket for one protocol (TCP, ICMP, ICMPv6, UDP), RX timestamps on. */
  openRx(family: Family, protocol: number, options: Partial<OpenOptions> = {}): RawSocket {
    return this.open({ rxTimestamps: true, receiveBufferBytes: 4 << 20, ...options, family, protocol });
  }
}
