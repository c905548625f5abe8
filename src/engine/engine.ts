// The probing engine: runs iterations of a probe plan over the raw sockets. It owns time (pacing,
// timeouts), the sockets (one TX socket per family; RX sockets for TCP and ICMP/ICMPv6 behind BPF
// filters), and the in-flight table. Probe types only say what to send and which key a reply carries
// (src/probes/kinds.ts). An iteration ends when every probe is answered or timed out, or at the hard
// limit global.timeout.
//
// The per-packet paths (build+submit, drain+match) allocate nothing but the parser's small result
// objects; the syscalls run on native threads (a send thread per family, ./sender.ts; a receive
// thread per RX socket, read through rings); timestamps are kernel software timestamps (TX from the
// error queue, RX from recvmmsg), so event-loop stalls never enter an RTT.
import { constants as osConstants } from "node:os";
import {
  encode as encodeBpf,
  icmpFilter,
  icmpv6Filter,
  tcpReplyFilter,
  type U16Range,
} from "../bpf/index.js";
import {
  IPPROTO,
  META_HAS_TIMESTAMP,
  metaHopLimit,
  monotonicNs,
  type RawSocket,
  RawSockets,
  type Ring,
  SEND_RECORD_WORDS,
  type SendBatch,
} from "../native/rawsock.js";
import {
  addressBytes,
  buildPacket,
  formatAddress,
  ICMP,
  ICMP_HEADER_LEN,
  IPV4_HEADER_LEN,
  IPV6_HEADER_LEN,
  type PacketOptions,
  packetScratch,
  parseIPv4PacketInto,
  parseIPv6TransportInto,
  pinChecksum,
} from "../packet/index.js";
import { blankReplyKey, PROTOCOL_OF, type ReplyKey, replyKeyInto, stampKey } from "../probes/kinds.js";
import { writeRst } from "../probes/rst.js";
import { PROBE_TYPE, tcpDataBytes } from "../probes/types.js";
import { type FlowResults, summarizeFlows } from "./flows.js";
import { InFlight, KeyCounter } from "./inflight.js";
import { KeyRange, Matcher } from "./match.js";
import { Pacer } from "./pacer.js";
import type { ProbeKind, ProbePlan } from "./plan.js";
import {
  bump,
  type ForeignCounters,
  icmpLabel,
  newForeignCounters,
  SeriesCounters,
  type SeriesResult,
  summarize,
} from "./results.js";
import { Rotation } from "./rotation.js";
import { Sender, type SendOwner } from "./sender.js";
import { Trace, type TraceRequest, type TraceResult } from "./trace.js";

export interface EngineOptions {
  /** Raw sockets: the real addon by default, a fake in unit tests. */
  sockets?: RawSockets;
  /** Families to open sockets for. */
  families: readonly (4 | 6)[];
  /** Source ports our probes use (union of the groups' ranges), for the kernel filters. */
  ports: U16Range;
  /** Global cap in packets per second (Infinity: none). */
  pps?: number;
  /** interval_packets in ms. */
  intervalPacketsMs?: number;
  /** Hard limit of one iteration in ms (global.timeout). */
  iterationLimitMs?: number;
  /** Packets per sendmmsg. */
  batch?: number;
  /** Monotonic clock in ms. */
  now?: () => number;
  /**
   * Send threads (each with its own TX socket) per family, taking batches in turn (global.nb_proc).
   * Default 1.
   */
  sendThreads?: number;
  /** The first probe key (mod 2^32); default random. The warm-up sets it (engine/warmup.ts). */
  firstKey?: number;
  /**
   * Bytes of packets built before an iteration's first send (its first probes, at most this many
   * bytes at the plan's largest packet size); the rest are built as they go. Default PREBUILD_BYTES.
   */
  prebuildBytes?: number;
}

export interface IterationResult {
  series: SeriesResult[];
  foreign: ForeignCounters;
  durationMs: number;
  /** The iteration hit global.timeout before every probe was settled. */
  timedOut: boolean;
  /** Kernel receive-queue drops seen on the RX sockets during the iteration. */
  socketDrops: number;
  /** Sends the kernel refused, by errno name (e.g. "ENETUNREACH"): counted as failed, not as loss. */
  sendErrors: Map<string, number>;
  /** Per flow (target × group × destination, source address and port, flow label): the ledger's input (absent in results faked by tests). */
  flows?: FlowResults;
  /** Per-probe detail (keys, states, kernel timestamps), for tests and benchmarks. */
  inflight: InFlight;
  /** Packets the RX sockets delivered to JavaScript since the previous result (what the filters let in). */
  received: number;
  /**
   * Socket faults the engine survived since the previous result, by where: "receive" (reading or
   * matching replies threw, the RX poll failed and was re-armed, or a receive thread left the expiry's
   * barrier unanswered for RX_FLUSH_GUARD_MS), "timestamps" (the same for TX
   * timestamps), "rst" (sending our RST after a SYN-ACK failed; the probe is answered all the same).
   */
  faults: Map<EngineFault, number>;
}

export type EngineFault = "receive" | "timestamps" | "rst";

/** Delay before a receive thread that stopped on an error is started again. */
const RE_POLL_MS = 50;
/**
 * Receive rings (native/recv.c): packets per RX socket that its thread can hold before it waits for
 * JS (the kernel queue behind it holds more: 16 MiB).
 */
const RX_RING_SLOTS = 1024;
/**
 * Bytes of a received packet a ring slot keeps (the rest is cut, flagged truncated): matching reads
 * headers only, at most an IPv4 header with options (60), an ICMP error's 8, the quoted IPv4 header
 * with options (60) and the quoted TCP header's first 20 or UDP header and tag (12): 148. 256 per slot
 * instead of 2 KiB: 0.3 MB per RX socket instead of 2.1 (docs/performance.md, memory).
 */
export const RX_SLOT_BYTES = 256;

interface RxSocket {
  sock: RawSocket;
  family: 4 | 6;
  protocol: number;
  /** The receive thread's ring (replaced when the thread is started again). */
  ring?: Ring;
  /** Receive barriers asked (flushReceivers), oldest first, until the thread answers them; `at`: asked at (clock, ms). */
  flushes: { n: number; at: number; done: () => void }[];
}

/**
 * How long an iteration waits for the receive threads' barrier before it expires its probes anyway
 * (counted as a "receive" fault): a thread that cannot answer must not hold an iteration open.
 */
const RX_FLUSH_GUARD_MS = 1000;

const MAX_PACKET = 65535 + 40;
/** What one submission to a send thread holds (native/thread.h: BATCH, RS_SUB_DATA). */
const SUBMIT_MAX = 64;
const SUBMIT_BYTES = 128 << 10;
/**
 * Packets built before an iteration's first send: 1 MiB holds the first 8,192 probes of up to 128
 * bytes (most of a 10,000-probe iteration), so that the send threads start at their own speed while
 * the JS thread only submits and matches; the memory is the engine's, reused by every iteration.
 */
export const PREBUILD_BYTES = 1 << 20;
/** Finished iterations (beyond the previous one) whose late answers are still recognised. */
const LATE_ITERATIONS = 16;
/** ... drawn from at most this many distinct plans (each is kept alive while referenced). */
const LATE_PLANS = 3;
/**
 * The default clock, one function for every engine: code V8 optimized in the warm-up's engine calls the
 * real engine's clock without a deoptimization (a closure per engine is a different call target).
 */
const monotonicMs = () => performance.now();
/** Keys the kernel filters accept beyond the running iteration's, so most iterations re-attach nothing. */
const WINDOW_AHEAD_MIN = 4096;

export class Engine {
  private readonly socks: RawSockets;
  private readonly tx: RawSocket[] = [];
  private readonly rx: RxSocket[] = [];
  private readonly senders = new Map<4 | 6, Sender[]>();
  /**
   * Submissions so far per family, to take the send threads of a family in turn (one count for both
   * families let alternating one-probe runs of IPv4 and IPv6 always land on the same thread of each).
   */
  private readonly turn = { 4: 0, 6: 0 };
  private readonly counter: KeyCounter;
  private readonly now: () => number;
  /** CLOCK_MONOTONIC ns minus clock() in ns (both read the same clock), when clock() is the default. */
  private readonly monoOffsetNs: number | undefined;
  /**
   * Kernel timestamps are CLOCK_REALTIME (sec, nsec); RTT math and the in-flight table's timestamps
   * use ns since this second (public so that they can be turned back into absolute times).
   */
  readonly epochSec = Math.floor(Date.now() / 1000) - 1;
  /** TTL (IPv4) or hop limit (IPv6) of the reply being matched (0: unknown). */
  replyTtl = 0;
  private serials = 0;
  private current: Iteration | undefined;
  private previous: Iteration | undefined;
  /** Late and duplicate answers to an iteration already reported, by "target\0group", for the next one. */
  private readonly carriedLate = new Map<string, number>();
  private readonly carriedDuplicates = new Map<string, number>();
  /** Older iterations' key ranges, newest first: late answers to them are counted, not dropped. */
  private history: Matcher[] = [];
  /** Plan addresses as bytes, computed once per plan (iterations of one plan share them). */
  private readonly addrCache = new WeakMap<ProbePlan, Uint8Array[]>();
  /** Replies that answered no probe, since the last result (whichever iteration they were about). */
  foreign = newForeignCounters();
  private received = 0;
  /** Socket faults survived since the last result (see watch()). */
  private faults = new Map<EngineFault, number>();
  private readonly rearm = new Set<NodeJS.Timeout>();
  private closed = false;
  /** The keys the kernel filters currently accept (inclusive, mod 2^32). */
  private window = { lo: 0, hi: 0 };
  /** Prebuilt packets of the running iteration (one iteration runs at a time; submit copies them). */
  private pre: { data: Uint8Array; records: Uint32Array } | undefined;

  constructor(private readonly o: EngineOptions) {
    this.socks = o.sockets ?? new RawSockets();
    this.now = o.now ?? monotonicMs;
    this.monoOffsetNs = o.now === undefined ? monotonicNs() - monotonicMs() * 1e6 : undefined;
    this.counter = new KeyCounter(o.firstKey ?? Math.floor(Math.random() * 2 ** 32));
    const first = this.counter.peek();
    this.window = { lo: first, hi: (first + WINDOW_AHEAD_MIN - 1) >>> 0 };
    try {
      for (const f of o.families) this.openFamily(f);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private openFamily(f: 4 | 6): void {
    const senders: Sender[] = [];
    this.senders.set(f, senders);
    for (let k = 0; k < Math.max(1, this.o.sendThreads ?? 1); k++) {
      const tx = this.socks.openTx(f);
      this.tx.push(tx);
      // Sending, and reading the TX timestamps the sends queue, happen on the socket's send thread.
      const sender = new Sender(
        tx,
        this.epochSec,
        (serial) =>
          this.current?.serial === serial
            ? this.current
            : this.previous?.serial === serial
              ? this.previous
              : undefined,
        () => {
          this.noteFault("timestamps");
          this.later(() => sender.restart());
        },
      );
      senders.push(sender);
    }
    for (const protocol of [IPPROTO.TCP, f === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6]) {
      const sock = this.socks.openRx(f, protocol, { receiveBufferBytes: 16 << 20 });
      const rx: RxSocket = { sock, family: f, protocol, flushes: [] };
      sock.attachFilter(this.filterFor(rx));
      this.rx.push(rx);
      this.receive(rx);
    }
  }

  /** Runs fn after RE_POLL_MS unless the engine closed meanwhile (a thread that stopped on an error). */
  private later(fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.rearm.delete(t);
      if (!this.closed) fn();
    }, RE_POLL_MS);
    t.unref();
    this.rearm.add(t);
  }

  /**
   * Starts a socket's receive thread with a handler that can neither throw into the event loop nor
   * stop silently: a record whose handling throws (a bug, a malformed packet the parsers missed) is
   * counted, skipped, and the ring read on; a thread that stopped on an error is counted and started
   * again after RE_POLL_MS, so answers never stop being read while the daemon runs. Receive barriers
   * the thread answered (the number in the ring's header, read before the records) are answered
   * after the records; a thread that stopped answers them all (it reads nothing more).
   */
  private receive(rx: RxSocket): void {
    const options = { slots: RX_RING_SLOTS, slotBytes: RX_SLOT_BYTES };
    const ring = rx.sock.receive(
      "packets",
      (err) => {
        const flushed = ring.flushed();
        this.drainRing(rx, ring);
        this.answerFlushes(rx, err ? undefined : flushed);
        if (!err) return;
        this.noteFault("receive");
        rx.sock.stopReceiver();
        this.later(() => this.receive(rx));
      },
      options,
    );
    rx.ring = ring;
  }

  /** drainRx until the ring is empty, a record whose handling throws counted and skipped. */
  private drainRing(rx: RxSocket, ring: Ring): void {
    for (;;) {
      try {
        this.drainRx(rx, ring);
        return;
      } catch {
        this.noteFault("receive");
      }
    }
  }

  /** Calls the barriers numbered up to `flushed` (every one when undefined), oldest first. */
  private answerFlushes(rx: RxSocket, flushed: number | undefined): void {
    const q = rx.flushes;
    while (q.length > 0 && (flushed === undefined || ((flushed - q[0]!.n) | 0) >= 0)) q.shift()!.done();
  }

  /** Counts a fault the engine survived (see IterationResult.faults). */
  noteFault(where: EngineFault): void {
    this.faults.set(where, (this.faults.get(where) ?? 0) + 1);
  }

  /**
   * The kernel filter of one RX socket for the current key window: TCP replies must acknowledge a
   * sequence number in it, echo replies and quoted echo requests carry an identifier from it (the
   * key's high 16 bits), and errors quoting TCP/UDP must quote one of our source ports.
   */
  private filterFor(rx: RxSocket): Uint8Array {
    const { lo, hi } = this.window;
    if (rx.protocol === IPPROTO.TCP) {
      return encodeBpf(tcpReplyFilter({ family: rx.family, ports: this.o.ports, ackWindow: { lo, hi } }));
    }
    const ids = echoIdsOf(lo, hi);
    return encodeBpf(
      (rx.family === 4 ? icmpFilter : icmpv6Filter)({
        echoReplyIds: ids,
        quotedPorts: this.o.ports,
        quotedEchoIds: ids,
      }),
    );
  }

  /**
   * Widens the filters' key window when keys [lo, hi] are not all inside it: the window then runs
   * from the oldest iteration whose late answers we still count to a margin past the running one.
   */
  private cover(lo: number, hi: number, ahead: number): void {
    const w = this.window;
    const inside = (k: number) => (k - w.lo) >>> 0 <= (w.hi - w.lo) >>> 0;
    if (inside(lo) && inside(hi) && (hi - lo) >>> 0 <= (w.hi - w.lo) >>> 0) return;
    this.window = { lo, hi: (hi + ahead) >>> 0 };
    for (const rx of this.rx) rx.sock.attachFilter(this.filterFor(rx));
  }

  /** The keys the kernel filters accept now (inclusive, modulo 2^32), for tests and benchmarks. */
  get keyWindow(): { lo: number; hi: number } {
    return { ...this.window };
  }

  /** Closes the sockets; an iteration still running is settled first (with what it has so far). */
  close(): void {
    this.closed = true;
    for (const t of this.rearm) clearTimeout(t);
    this.rearm.clear();
    this.current?.abort();
    for (const s of this.tx) s.close();
    for (const r of this.rx) r.sock.close();
  }

  /**
   * Runs one iteration of `plan`; resolves when every probe is settled or the hard limit passes.
   * `rotation` (the caller's iteration count) turns the order of each lane's flows
   * (src/engine/rotation.ts); 0, the default, sends them in the plan's order.
   */
  run(plan: ProbePlan, rotation = 0): Promise<IterationResult> {
    // A trace in progress is short (one timeout): the iteration starts after it.
    if (this.current?.trace) return this.current.ended.then(() => this.run(plan, rotation));
    if (this.current) throw new Error("an iteration is already running");
    const base = this.counter.reserve(plan.count);
    const oldest =
      this.history[this.history.length - 1]?.inflight.base ?? this.previous?.inflight.base ?? base;
    // A RST to a SYN with data acknowledges seq + 1 + its length: the window reaches that far.
    const last = (base + Math.max(plan.count, 1) - 1 + maxTcpData(plan)) >>> 0;
    this.cover(oldest, last, Math.max(WINDOW_AHEAD_MIN, 4 * plan.count));
    const rot = rotation === 0 ? Rotation.none : new Rotation(plan, rotation);
    const it = new Iteration(this, plan, base, ++this.serials, rot);
    this.current = it;
    it.ended = it.start().finally(() => {
      if (this.previous) this.remember(this.previous);
      this.previous = it;
      this.current = undefined;
    });
    return it.ended;
  }

  /**
   * Sends TTL-limited probes that copy regular flows exactly (src/engine/trace.ts) and resolves with
   * one result per probe, in request order, once each is answered, reported by a router, or timed out
   * (its series' timeout). Runs between iterations: it waits for a running one, and an iteration asked
   * for meanwhile waits for it. A trace leaves no trace in iteration results: its probes, answers and
   * faults are its own, and late replies to it count as foreign (unknown_key).
   */
  async trace(requests: readonly TraceRequest[]): Promise<TraceResult[]> {
    while (this.current) await this.current.ended.catch(() => undefined);
    if (this.closed) throw new Error("the engine is closed");
    const t = new Trace(requests, (n) => this.counter.reserve(n));
    if (t.plan.count === 0) return [];
    let oldest =
      this.history[this.history.length - 1]?.inflight.base ?? this.previous?.inflight.base ?? t.base;
    // Echo replies carry the copied probes' identifiers: the filters' window reaches back to them.
    for (const k of t.reference.values()) if ((oldest - k) >>> 0 < 0x80000000) oldest = k;
    const last = (t.base + t.plan.count - 1 + maxTcpData(t.plan)) >>> 0;
    this.cover(oldest, last, WINDOW_AHEAD_MIN);
    const it = new Iteration(this, t.plan, t.base, ++this.serials, Rotation.none, t);
    this.current = it;
    it.ended = it.start().finally(() => {
      this.current = undefined;
    });
    await it.ended;
    return t.results(it.inflight);
  }

  /** Keeps the key range of an iteration that is no longer the previous one, for its late answers. */
  private remember(it: Iteration): void {
    const m = it.matcher;
    this.history.unshift(
      new Matcher(m.plan, new KeyRange(m.inflight.base, m.inflight.count), m.addrBytes, m.rotation),
    );
    const plans = new Set<ProbePlan>();
    let keep = 0;
    for (const h of this.history) {
      plans.add(h.plan);
      if (plans.size > LATE_PLANS || keep === LATE_ITERATIONS) break;
      keep++;
    }
    this.history.length = keep;
  }

  /** The plan's addresses as bytes, shared by its iterations. */
  addrBytesOf(plan: ProbePlan): Uint8Array[] {
    let a = this.addrCache.get(plan);
    if (!a) {
      a = plan.addresses.map(addressBytes);
      this.addrCache.set(plan, a);
    }
    return a;
  }

  /** The foreign counters and the count of packets read since the last call (for an iteration's result). */
  takeForeign(): { foreign: ForeignCounters; received: number; faults: Map<EngineFault, number> } {
    const r = { foreign: this.foreign, received: this.received, faults: this.faults };
    this.foreign = newForeignCounters();
    this.received = 0;
    this.faults = new Map();
    return r;
  }

  // ---- internals shared with Iteration ----

  /** The engine's prebuild arrays, grown to at least `bytes` and `probes` records. */
  prebuildArrays(bytes: number, probes: number): { data: Uint8Array; records: Uint32Array } {
    const p = this.pre;
    if (p && p.data.length >= bytes && p.records.length >= probes * SEND_RECORD_WORDS) return p;
    this.pre = {
      data: new Uint8Array(Math.max(bytes, p?.data.length ?? 0)),
      records: new Uint32Array(Math.max(probes * SEND_RECORD_WORDS, p?.records.length ?? 0)),
    };
    return this.pre;
  }

  get options(): EngineOptions {
    return this.o;
  }
  clock(): number {
    return this.now();
  }
  /**
   * The send thread of family f that takes the next submission (in turn, when there are several); a
   * paced iteration's batches all go to the first, whose schedule then covers them all (each thread
   * keeps its own: native/send.c).
   */
  sender(f: 4 | 6, paced = false): Sender {
    const s = this.senders.get(f);
    if (!s) throw new Error(`no IPv${f} socket open`);
    return s.length === 1 || paced ? s[0]! : s[this.turn[f]++ % s.length]!;
  }
  /**
   * How far stalls pushed the paced send threads' schedules back (the most of either family's), in ms:
   * a paced iteration's pacer runs this much behind clock(), so that its releases leave when released
   * rather than waiting in the threads' queues.
   */
  scheduleLagMs(): number {
    let lag = 0;
    for (const s of this.senders.values()) lag = Math.max(lag, s[0]!.scheduleShiftMs());
    return lag;
  }
  /** A paced iteration starts: its schedule owes nothing to the previous one's stalls. */
  newSchedule(): void {
    for (const s of this.senders.values()) s[0]!.newSchedule();
  }
  /**
   * The CLOCK_MONOTONIC time in ns of clock() time `ms`, for a send thread's schedule; 0 (no schedule)
   * when the engine runs on a clock of the caller's.
   */
  wireTimeNs(ms: number): number {
    return this.monoOffsetNs === undefined ? 0 : ms * 1e6 + this.monoOffsetNs;
  }
  /** Calls done once every send thread answered a flush (Sender.barrier): the TX timestamps queued so far are in. */
  flushSenders(done: () => void): void {
    const all = [...this.senders.values()].flat();
    let left = all.length;
    if (left === 0) done();
    for (const s of all) s.barrier(() => --left === 0 && done());
  }
  /**
   * Handles now, on the JS thread, every reply the receive threads have put in their rings (their
   * wake may still wait for the event loop's poll phase, which runs after the timers).
   */
  drainReceivers(): void {
    for (const rx of this.rx) if (rx.ring !== undefined) this.drainRing(rx, rx.ring);
  }
  /**
   * Calls done once every receive thread answered a barrier (RawSocket.flushReceiver) and what it read
   * before was handled: every reply the kernel queued on the RX sockets before this call has been
   * matched. A socket that cannot answer (closed, thread stopped) counts as answered. The barrier
   * guards itself: when a thread leaves it unanswered for RX_FLUSH_GUARD_MS, done is called all the
   * same, with a receive fault; and a thread whose oldest barrier is that old is not asked again (a
   * fault per barrier that skipped it, until it answers): one mute thread costs the guard's wait once,
   * not at every expiry after it. done is called exactly once, unless the engine closes first.
   */
  flushReceivers(done: () => void): void {
    // barriers still unanswered, plus one for this call's own loop; -1 once done was called
    let left = 1;
    let guard: NodeJS.Timeout | undefined;
    const finish = () => {
      left = -1;
      if (guard !== undefined) {
        clearTimeout(guard);
        this.rearm.delete(guard);
      }
      done();
    };
    const one = () => {
      if (left > 0 && --left === 0) finish();
    };
    const now = this.clock();
    let mute = false;
    for (const rx of this.rx) {
      const oldest = rx.flushes[0];
      if (oldest !== undefined && now - oldest.at >= RX_FLUSH_GUARD_MS) {
        mute = true;
        continue;
      }
      let n: number;
      try {
        n = rx.sock.flushReceiver();
      } catch {
        continue;
      }
      left++;
      rx.flushes.push({ n, at: now, done: one });
    }
    // One fault per barrier, as the guard counts one per barrier it gave up on.
    if (mute) this.noteFault("receive");
    if (left > 1) {
      // Referenced (unlike later()'s): a `run --once` waits for the answer or the guard.
      // finish() clears it: when it fires, done was not called yet
      guard = setTimeout(() => {
        this.noteFault("receive");
        finish();
      }, RX_FLUSH_GUARD_MS);
      this.rearm.add(guard);
    }
    one();
  }
  /** Receive-queue drops the kernel counted so far, summed over the RX sockets (read now, SO_MEMINFO). */
  kernelDrops(): number {
    let n = 0;
    for (const r of this.rx) n += r.sock.kernelDrops();
    return n;
  }
  carry(what: "late" | "duplicate", target: string, group: string): void {
    bump(what === "late" ? this.carriedLate : this.carriedDuplicates, `${target}\0${group}`);
  }
  takeCarried(what: "late" | "duplicate", target: string, group: string): number {
    const m = what === "late" ? this.carriedLate : this.carriedDuplicates;
    const k = `${target}\0${group}`;
    const n = m.get(k) ?? 0;
    m.delete(k);
    return n;
  }

  /** Received packets from the ring, matched in place; a record whose handling throws is skipped. */
  private drainRx(rx: RxSocket, r: Ring): void {
    for (let n = r.ready(); n > 0; n = r.ready()) {
      let k = 0;
      try {
        for (; k < n; k++) this.onPacket(rx, r, r.offset(k));
      } finally {
        r.release(k < n ? k + 1 : n);
      }
    }
  }

  private readonly scratch = packetScratch();
  private readonly replyKey = blankReplyKey();

  /** One received packet (the ring record at byte `at`): parsed, keyed, matched or counted foreign. */
  private onPacket(rx: RxSocket, r: Ring, at: number): void {
    const w = r.words;
    const data = r.bytes;
    const m = at >>> 2;
    const len = w[m]!;
    const off = at + r.metaWords * 4;
    this.received++;
    // Parsed into objects reused for every packet (nothing allocated per reply; read synchronously).
    const s = this.scratch;
    const p =
      rx.family === 4
        ? parseIPv4PacketInto(s, data, off, len)
        : parseIPv6TransportInto(s, data, off, len, rx.protocol);
    const key = p && replyKeyInto(this.replyKey, p);
    if (!key) {
      this.foreign.notAReply++;
      return;
    }
    // The RX timestamp as integers (seconds since the epoch, ns; -1: none), never a double in a call.
    const ts = (w[m + 1]! & META_HAS_TIMESTAMP) !== 0;
    const rxSec = ts ? w[m + 2]! - this.epochSec : 0;
    const rxNsec = ts ? w[m + 3]! : -1;
    const srcOff = at + 16;
    // IPv4: the header's TTL; IPv6 raw sockets give no header, the addon reads the hop limit.
    this.replyTtl = rx.family === 4 ? (p.ip && "ttl" in p.ip ? p.ip.ttl : 0) : metaHopLimit(w[m + 1]!);
    if (this.current?.onReply(key, data, data, srcOff, rxSec, rxNsec, rx.family, false)) return;
    if (this.previous?.onReply(key, data, data, srcOff, rxSec, rxNsec, rx.family, true)) return;
    this.unmatched(key, data, data, srcOff, rx.family);
  }

  /**
   * A reply that answers no probe of the running or the previous iteration: a very late answer to an
   * older one (counted late for its target), or foreign (counted by reason). Nothing is dropped
   * uncounted.
   */
  private unmatched(key: ReplyKey, data: Uint8Array, meta: Uint8Array, srcOff: number, family: 4 | 6): void {
    for (const h of this.history) {
      const i = h.locate(key, data, meta, srcOff);
      if (i < 0) continue;
      // Keys of different iterations never overlap: this is the only candidate.
      if (!h.sameAddress(i, key, data, meta, srcOff) || !h.samePorts(i, key)) break;
      const series = h.plan.series[h.plan.seriesOf[i]!]!;
      if (h.answers(i, key, meta, srcOff, family)) this.carry("late", series.target, series.group);
      else this.foreign.settledError++;
      return;
    }
    if (PROBE_TYPE[key.kind].tcp && key.how === "direct") {
      // The running iteration counted it already (tcpsyn_match_ack_fail_count); between iterations
      // nothing has: name the address with the last plan.
      if (!this.current)
        bump(
          this.foreign.tcpAckMismatch,
          this.previous?.matcher.addressText(meta, srcOff, family) ?? "unknown",
        );
      return;
    }
    this.foreign.unknownKey++;
  }
}

/** One run of a plan: the send loop, the in-flight table and the counters. */
class Iteration implements SendOwner {
  readonly inflight: InFlight;
  readonly counters: SeriesCounters;
  readonly sendErrors = new Map<string, number>();
  private readonly addrBytes: Uint8Array[];
  private readonly addrTable: Uint8Array;
  private readonly familyOf: Uint8Array;
  private readonly data: Uint8Array;
  private readonly records: Uint32Array;
  /** The largest packet the plan builds, bytes. */
  private readonly maxLen: number;
  /** Probes [0, prebuilt) were built before the first send, their records by probe index in `pre`. */
  private prebuilt = 0;
  private pre: SendBatch | undefined;
  /** Packets built as they go, a batch at a time. */
  private readonly own: SendBatch;
  private readonly opts: PacketOptions;
  private readonly batch: number;
  readonly matcher: Matcher;
  private next = 0;
  private startMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private finish: ((r: IterationResult) => void) | undefined;
  private limitHit = false;
  private dropsAtStart = 0;
  /** Probes submitted to a send thread whose result has not arrived yet. */
  private unconfirmed = 0;
  /** The send thread whose queue was full at the last submit. */
  private full: Sender | undefined;
  /** This iteration's pacer, told when a round's first packet was really sent. */
  private pacer: Pacer | undefined;
  /** The iteration is paced (interval_packets or max_packets_per_second): its sends follow a schedule. */
  private paced = false;
  /** When the batch being submitted is scheduled, on CLOCK_MONOTONIC (0: no schedule). */
  private atNs = 0;
  /** Waiting for the send threads' flush (undefined: not asked), then answered (true). */
  private txFlushed: boolean | undefined;
  /** A receive barrier is on its way: the probes due when it was asked expire once it is answered. */
  private awaitingRx = false;
  /** Settles when the iteration has ended and the engine let go of it. */
  ended: Promise<IterationResult> = Promise.resolve(undefined as never);

  constructor(
    private readonly engine: Engine,
    private readonly plan: ProbePlan,
    base: number,
    /** Never 0 (0 marks a free TX ring slot). */
    readonly serial: number,
    /** Which plan index's flow each probe sends this iteration. */
    private readonly rotation: Rotation,
    /** Set when this runs trace probes (engine.trace) rather than a regular plan. */
    readonly trace?: Trace,
  ) {
    this.inflight = new InFlight(base, plan.count, (i) => plan.series[plan.seriesOf[i]!]!.timeout * 1000);
    this.counters = new SeriesCounters(plan.series.length);
    this.addrBytes = engine.addrBytesOf(plan);
    this.addrTable = new Uint8Array(16 * plan.addresses.length);
    this.addrBytes.forEach((a, i) => {
      this.addrTable.set(a, i * 16);
    });
    this.familyOf = Uint8Array.from(plan.series, (s) => (s.family === "ipv4" ? 4 : 6));
    this.matcher = new Matcher(
      plan,
      trace ? trace.keySpace(this.inflight) : this.inflight,
      this.addrBytes,
      rotation,
    );
    this.batch = engine.options.batch ?? 64;
    let largest = 0;
    for (const s of plan.series) largest = Math.max(largest, (s.payloadSize ?? 0) + 40);
    this.maxLen = Math.min(MAX_PACKET, Math.max(largest, 128));
    this.data = new Uint8Array(this.maxLen * this.batch);
    this.records = new Uint32Array(this.batch * SEND_RECORD_WORDS);
    this.own = { data: this.data, records: this.records, addresses: this.addrTable };
    this.opts = {
      protocol: "tcp-syn",
      src: this.addrBytes[0] ?? new Uint8Array(4),
      dst: this.addrBytes[0] ?? new Uint8Array(4),
    };
  }

  start(): Promise<IterationResult> {
    this.startMs = this.engine.clock();
    this.dropsAtStart = this.engine.kernelDrops();
    const o = this.engine.options;
    const pacer = new Pacer({
      pps: o.pps ?? Infinity,
      burst: this.batch,
      roundIntervalMs: o.intervalPacketsMs ?? 0,
      roundStart: this.plan.roundStart,
      count: this.plan.count,
      lanes: this.plan.lanes,
    });
    this.pacer = pacer;
    this.paced = (o.pps ?? Infinity) !== Infinity || (o.intervalPacketsMs ?? 0) > 0;
    if (this.paced) this.engine.newSchedule();
    this.prebuild();
    // pacing starts with the first send (building the first packets took time before it)
    pacer.start(this.engine.clock());
    return new Promise((resolve) => {
      this.finish = resolve;
      this.sendLoop(pacer);
    });
  }

  private sendLoop(pacer: Pacer): void {
    if (this.finish === undefined) return; // already settled (e.g. stopped by the hard limit)
    const now = this.engine.clock();
    if (this.checkLimit(now)) return;
    while (this.next < this.plan.count) {
      const at = this.pacerClock();
      const r = pacer.take(at, this.next, this.batch);
      if (r.n === 0) {
        setTimeout(() => this.sendLoop(pacer), Math.max(0, (r.wakeAtMs ?? at) - at));
        return;
      }
      // the send thread keeps the pacer's time on the wire: a stall of it delays, never bunches
      if (this.paced) this.atNs = this.engine.wireTimeNs(at);
      // fewer when a send thread's queue is full: the rest is built again once it reports
      const sent = this.sendBatch(this.next, r.n);
      pacer.released(this.next, sent, this.pacerClock());
      this.next += sent;
      if (sent < r.n && this.full !== undefined) {
        this.full.waiting = () => this.sendLoop(pacer);
        this.full = undefined;
        return;
      }
      // Let replies and send results in between batches.
      setImmediate(() => this.sendLoop(pacer));
      return;
    }
    this.schedule();
  }

  /** The round's first packet, if its index is in [from, to), left now (or never will): tells the pacer. */
  private roundSentIn(from: number, to: number): void {
    const w = this.pacer?.watching ?? -1;
    if (w >= from && w < to) this.pacer!.sent(this.pacerClock());
  }

  /**
   * The pacer's clock: paced, the wire's, which stalls of the send thread put behind clock() (every
   * time the pacer is given must come from here).
   */
  private pacerClock(): number {
    return this.paced ? this.engine.clock() - this.engine.scheduleLagMs() : this.engine.clock();
  }

  /**
   * Builds the first probes' packets before the first send (PREBUILD_BYTES): the engine's arrays, one
   * record per probe. Only what a packet holds is fixed this early (key, ports, addresses); when it
   * leaves is still the pacer's, and a probe counts as sent when submitted, as ever.
   */
  private prebuild(): void {
    const cap = this.engine.options.prebuildBytes ?? PREBUILD_BYTES;
    const n = Math.min(this.plan.count, Math.floor(cap / this.maxLen));
    if (n === 0) return;
    const { data, records } = this.engine.prebuildArrays(n * this.maxLen, n);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const len = this.build(i, data, off);
      this.record(records, i, off, len, i);
      off += len;
    }
    this.pre = { data, records, addresses: this.addrTable };
    this.prebuilt = n;
  }

  private record(records: Uint32Array, at: number, off: number, len: number, i: number): void {
    const r = at * SEND_RECORD_WORDS;
    records[r] = off;
    records[r + 1] = len;
    records[r + 2] = this.plan.dst[i]!;
    records[r + 3] = 0;
  }

  /**
   * Submits probes [first, first+n), split into runs of one family (and of prebuilt or not), building
   * those not prebuilt; returns how many went.
   */
  private sendBatch(first: number, n: number): number {
    const plan = this.plan;
    let i = first;
    while (i < first + n) {
      const family = this.familyOf[plan.seriesOf[i]!]!;
      const pre = i < this.prebuilt;
      const end = pre ? Math.min(first + n, this.prebuilt) : first + n;
      let j = i;
      let off = 0;
      while (j < end && this.familyOf[plan.seriesOf[j]!] === family) {
        if (!pre) {
          const len = this.build(j, this.data, off);
          this.record(this.records, j - i, off, len, j);
          off += len;
        }
        j++;
      }
      const went = pre
        ? this.send(family as 4 | 6, i, j - i, this.pre!, i)
        : this.send(family as 4 | 6, i, j - i, this.own, 0);
      if (went < j - i) return i + went - first;
      i = j;
    }
    return n;
  }

  private build(i: number, d: Uint8Array, off: number): number {
    const plan = this.plan;
    const s = plan.series[plan.seriesOf[i]!]!;
    const o = this.opts;
    const fi = this.rotation.of(i);
    o.protocol = PROTOCOL_OF[s.type];
    o.src = this.addrBytes[plan.src[fi]!]!;
    o.dst = this.addrBytes[plan.dst[i]!]!;
    o.srcPort = plan.srcPort[fi]!;
    o.dstPort = s.dstPort;
    o.dscp = s.dscp;
    o.df = s.dontFragment;
    o.flowLabel = plan.flowLabel[fi]!;
    o.payloadSize = s.payloadSize;
    const t = this.trace;
    if (t === undefined) {
      stampKey(o, s.type, this.inflight.keyOf(i));
      return buildPacket(d, off, o);
    }
    o.ttl = plan.ttl![i]!;
    const copy = t.reference.get(i);
    if (copy === undefined) {
      stampKey(o, s.type, t.wire[i]!);
      return buildPacket(d, off, o);
    }
    return this.buildCopy(i, d, off, s.type, copy, t.wire[i]!);
  }

  /**
   * A trace probe that copies the ICMP echo of key `copy` (Paris style): built once as that probe to
   * read its checksum, then with its own key (same identifier, own sequence number) and the same
   * padding, whose first word, when the echo has one, restores the checksum.
   */
  private buildCopy(
    i: number,
    d: Uint8Array,
    off: number,
    kind: ProbeKind,
    copy: number,
    wire: number,
  ): number {
    const o = this.opts;
    stampKey(o, kind, copy);
    const len = buildPacket(d, off, o);
    const l4 = off + (this.familyOf[this.plan.seriesOf[i]!] === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN);
    const sum = (d[l4 + ICMP.CHECKSUM]! << 8) | d[l4 + ICMP.CHECKSUM + 1]!;
    stampKey(o, kind, wire);
    o.patternSeed = copy;
    buildPacket(d, off, o);
    if (off + len - l4 >= ICMP_HEADER_LEN + 2) pinChecksum(d, l4 + ICMP_HEADER_LEN, l4 + ICMP.CHECKSUM, sum);
    return len;
  }

  /**
   * Submits probes [first, first+count) to the family's send thread and counts them sent; the thread's
   * result turns a refusal into a failed send (confirm), counted by errno and never as loss. The TX
   * socket has IP_RECVERR on, so a packet the qdisc or netfilter drops on this host is a refusal
   * (ENOBUFS, EPERM) rather than a silent "sent". Returns how many were taken (fewer when the thread's
   * queue is full); a submit that throws (socket closed under us) refuses them instead of escaping.
   * Their packets are records [rec0, rec0+count) of `batch` (the prebuilt ones, or those just built).
   */
  private send(family: 4 | 6, first: number, count: number, batch: SendBatch, rec0: number): number {
    const records = batch.records;
    let from = 0;
    while (from < count) {
      // Threads take submissions in turn (not send calls: an unpaced call can hold every probe).
      const sender = this.engine.sender(family, this.paced);
      // a submission holds at most SUBMIT_MAX packets and SUBMIT_BYTES bytes
      let n = 0;
      let bytes = 0;
      while (from + n < count && n < SUBMIT_MAX) {
        const len = records[(rec0 + from + n) * SEND_RECORD_WORDS + 1]!;
        if (n > 0 && bytes + len > SUBMIT_BYTES) break;
        bytes += len;
        n++;
      }
      try {
        if (!sender.submit(batch, rec0 + from, n, this, first + from, this.atNs)) {
          this.full = sender;
          return from;
        }
      } catch (err) {
        this.refuse(first + from, first + from + n, errnoOf(err));
        from += n;
        continue;
      }
      const now = this.engine.clock();
      for (let i = first + from; i < first + from + n; i++) this.inflight.markSent(i, now);
      this.unconfirmed += n;
      from += n;
    }
    return count;
  }

  confirm(index: number, errno: number): void {
    this.roundSentIn(index, index + 1);
    if (errno === 0) return;
    this.inflight.unsend(index);
    bump(this.sendErrors, errnoName(errno));
  }

  settled(count: number): void {
    this.unconfirmed -= count;
    // Every submission settled, some without results (a send thread that stopped): the round's
    // first packet, if submitted, is as sent as it will be.
    if (this.unconfirmed === 0) this.roundSentIn(0, this.next);
    if (this.finish !== undefined && this.unconfirmed === 0) this.maybeFinish();
  }

  setTx(index: number, ns: number): void {
    this.inflight.setTx(index, ns);
  }

  /**
   * Handles a reply whose key may be ours. Returns false when the key belongs to no probe of this
   * iteration (the caller then tries the previous one, where an answer is late).
   */
  onReply(
    key: ReplyKey,
    data: Uint8Array,
    meta: Uint8Array,
    srcOff: number,
    rxSec: number,
    rxNsec: number,
    family: 4 | 6,
    previous: boolean,
  ): boolean {
    const plan = this.plan;
    const f = this.inflight;
    const m = this.matcher;
    const foreign = this.engine.foreign;
    const i = m.locate(key, data, meta, srcOff);
    if (i < 0) {
      if (!previous && PROBE_TYPE[key.kind].tcp && key.how === "direct") {
        bump(foreign.tcpAckMismatch, m.addressText(meta, srcOff, family));
      }
      return false;
    }
    const s = plan.seriesOf[i]!;
    const series = plan.series[s]!;
    if (!m.sameAddress(i, key, data, meta, srcOff)) {
      foreign.addressMismatch++;
      return true;
    }
    if (!m.samePorts(i, key)) {
      bump(foreign.portMismatch, series.target);
      return true;
    }
    const answers = m.answers(i, key, meta, srcOff, family);
    // A trace probe ends with its first reply, whoever sent it (a router's time exceeded is the point).
    if (this.trace) this.trace.note(i, key, answers, formatAddress(meta, srcOff, family), family);
    else if (!answers) {
      // Not an answer (a router's error, or a kind the original never let in): the probe stays
      // pending and, unanswered, ends unreachable; the sender is kept for the log.
      if (f.noteError(i, key.icmpType, key.icmpCode) === "noted") {
        bump(foreign.unreachableFrom, formatAddress(meta, srcOff, family));
      } else foreign.settledError++;
      return true;
    }
    // The kernel's clocks first (InFlight.lateByKernel): while the iteration is open, a reply in time
    // answers even a probe the JS clock expired; one beyond the timeout is late.
    const verdict = f.lateByKernel(i, rxSec, rxNsec, this.finish !== undefined)
      ? "late"
      : f.replyAt(i, rxSec, rxNsec);
    if (verdict === "matched") {
      f.replyTtl[i] = this.engine.replyTtl;
      if (key.how === "icmp-error")
        bump(this.counters.icmpErrors[s]!, icmpLabel((key.icmpType << 8) | key.icmpCode));
      if (key.synAck) {
        try {
          this.answerSynAck(i, key.probeSrcPort, (f.keyOf(i) + 1) >>> 0);
        } catch {
          // The answer counts; without our RST the target's kernel retransmits its SYN-ACK and then
          // gives up (its SYN queue entry expires): counted, never thrown into the event loop.
          this.engine.noteFault("rst");
        }
      }
      if (!previous) this.maybeFinish();
    } else if (verdict === "late" || verdict === "duplicate") {
      // After this iteration reported, the answer is counted with the next one.
      if (this.finish === undefined) this.engine.carry(verdict, series.target, series.group);
      else (verdict === "late" ? this.counters.late : this.counters.duplicates)[s]!++;
    } else {
      // The key of a probe never sent (refused by the kernel, or not yet sent): nobody could answer
      // it; a forged or foreign packet, counted as such, and the probe stays failed or unsent.
      foreign.unknownKey++;
    }
    return true;
  }

  private answerSynAck(i: number, srcPort: number, seq: number): void {
    const plan = this.plan;
    const series = plan.series[plan.seriesOf[i]!]!;
    const family = this.familyOf[plan.seriesOf[i]!] as 4 | 6;
    const off = 0;
    const fi = this.rotation.of(i);
    const len = writeRst(this.rstBuf, off, {
      src: this.addrBytes[plan.src[fi]!]!,
      dst: this.addrBytes[plan.dst[i]!]!,
      srcPort,
      dstPort: series.dstPort,
      seq,
      dscp: series.dscp,
      flowLabel: plan.flowLabel[fi]!,
    });
    this.rstRecords[0] = off;
    this.rstRecords[1] = len;
    this.rstRecords[2] = plan.dst[i]!;
    this.rstRecords[3] = 0;
    const rst = { data: this.rstBuf, records: this.rstRecords, addresses: this.addrTable };
    this.engine.sender(family).submitAnyway(rst, 0, this);
    this.unconfirmed++; // the iteration ends once its RSTs went
  }
  private readonly rstBuf = new Uint8Array(64);
  private readonly rstRecords = new Uint32Array(SEND_RECORD_WORDS);

  /**
   * Expires the probes whose deadline passed, then arms the timer for the next deadline, or finishes
   * when nothing is pending. A probe is never expired on the JS thread's lateness alone (the timer runs
   * before the event loop reads the receive threads' wakes, and a starved JS thread wakes late): the
   * replies already in the rings are handled first, and if probes are still due, the receive threads
   * are asked for a barrier (they read their sockets now) and the probes due when it was asked expire
   * once it is answered. Costs nothing per packet: only when probes are about to expire.
   */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.finish === undefined) return; // settled: arm nothing that would keep the process alive
    if (this.awaitingRx) return; // a receive barrier is on its way: it expires and re-arms
    const now = this.engine.clock();
    if (this.checkLimit(now)) return;
    if (this.due(now)) {
      this.engine.drainReceivers();
      if (this.finish === undefined) return;
      if (this.due(now)) {
        // answered, or given up on by the barrier's own guard (a receive fault)
        this.awaitingRx = true;
        const expire = () => {
          this.awaitingRx = false;
          this.expireBy(now);
        };
        this.engine.flushReceivers(expire);
        return;
      }
    }
    this.expireBy(now);
  }

  /** Some pending probe's deadline is at or before `now`. */
  private due(now: number): boolean {
    const next = this.inflight.nextDeadline();
    return next !== undefined && next <= now;
  }

  /** Expires the probes due at `at`, then re-arms (see schedule). */
  private expireBy(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.finish === undefined) return;
    this.inflight.expire(at);
    if (this.maybeFinish()) return;
    const now = this.engine.clock();
    if (this.checkLimit(now)) return;
    const next = this.inflight.nextDeadline();
    const limit = this.startMs + (this.engine.options.iterationLimitMs ?? Infinity);
    const when = Math.min(next ?? limit, limit);
    this.timer = setTimeout(() => this.schedule(), Math.max(1, when - now));
  }

  /** Probes [from, to) did not leave this host: refused, counted under `reason` (an errno name). */
  private refuse(from: number, to: number, reason: string): void {
    // A round whose first packet never reaches a send thread started when it was refused.
    this.roundSentIn(from, to);
    for (let i = from; i < to; i++) this.inflight.markSendFailed(i);
    if (to > from) bump(this.sendErrors, reason, to - from);
  }

  private checkLimit(now: number): boolean {
    const limitMs = this.engine.options.iterationLimitMs;
    if (limitMs === undefined || now - this.startMs < limitMs || this.finish === undefined) return false;
    this.limitHit = true;
    this.inflight.expire(Infinity);
    // Not yet sent when global.timeout passed: refused here, never tried.
    this.refuse(this.next, this.plan.count, "ETIMEDOUT");
    this.next = this.plan.count;
    this.done();
    return true;
  }

  /** Ends the iteration now (engine closing): nothing more is sent; pending probes count as lost. */
  abort(): void {
    if (this.finish === undefined) return;
    this.inflight.expire(Number.POSITIVE_INFINITY);
    this.refuse(this.next, this.plan.count, "ECANCELED");
    this.next = this.plan.count;
    this.done();
  }

  private maybeFinish(): boolean {
    if (
      this.next < this.plan.count ||
      this.inflight.pending > 0 ||
      this.unconfirmed > 0 ||
      this.finish === undefined
    )
      return false;
    // A reply can be read before its probe's TX timestamp (the send thread reports after its sends, and
    // the receive thread may be quicker): the kernel queued the timestamp before the packet left, so
    // once the send threads answer a flush, whatever is still missing was lost by the kernel.
    if (this.inflight.awaitingTx > 0 && this.txFlushed !== true) {
      if (this.txFlushed === undefined) {
        this.txFlushed = false;
        this.engine.flushSenders(() => {
          this.txFlushed = true;
          this.maybeFinish();
        });
      }
      return false;
    }
    this.done();
    return true;
  }

  private done(): void {
    if (this.timer) clearTimeout(this.timer);
    const finish = this.finish!;
    this.finish = undefined;
    if (this.trace) {
      // A trace's outcome is read from its Trace; the engine's counters stay with the iterations.
      finish({
        series: [],
        foreign: newForeignCounters(),
        received: 0,
        faults: new Map(),
        durationMs: this.engine.clock() - this.startMs,
        timedOut: this.limitHit,
        socketDrops: 0,
        sendErrors: this.sendErrors,
        inflight: this.inflight,
      });
      return;
    }
    const series = summarize(this.plan, this.inflight, this.counters, this.rotation);
    const flows = summarizeFlows(this.plan, this.inflight, this.rotation);
    for (const r of series) {
      r.late += this.engine.takeCarried("late", r.target, r.group);
      r.duplicates += this.engine.takeCarried("duplicate", r.target, r.group);
    }
    const { foreign, received, faults } = this.engine.takeForeign();
    finish({
      series,
      foreign,
      received,
      faults,
      durationMs: this.engine.clock() - this.startMs,
      timedOut: this.limitHit,
      socketDrops: this.engine.kernelDrops() - this.dropsAtStart,
      sendErrors: this.sendErrors,
      flows,
      inflight: this.inflight,
    });
  }
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** The errno name a thrown send error carries (sysCode of a NativeSocketError), else "EIO". */
function errnoOf(err: unknown): string {
  const e = err as { sysCode?: unknown; errno?: unknown };
  if (typeof e?.sysCode === "string") return e.sysCode;
  return typeof e?.errno === "number" ? errnoName(e.errno) : "EIO";
}

/** Echo identifiers (the keys' high 16 bits) of keys lo..hi (inclusive, mod 2^32). */
function echoIdsOf(lo: number, hi: number): U16Range[] {
  const a = lo >>> 16;
  const b = hi >>> 16;
  if ((hi - lo) >>> 0 >= 0xffff0000) return [{ lo: 0, hi: 0xffff }];
  return a <= b && lo <= hi
    ? [{ lo: a, hi: b }]
    : [
        { lo: a, hi: 0xffff },
        { lo: 0, hi: b },
      ];
}

/** The most TCP data bytes a SYN of the plan carries: a RST to it acknowledges seq + 1 + that many. */
function maxTcpData(plan: ProbePlan): number {
  let data = 0;
  for (const s of plan.series) data = Math.max(data, tcpDataBytes(s.type, s.payloadSize));
  return data;
}
