// The engine's end of a TX socket's send thread (native/send.c): the event loop builds packets and
// submits batches; the thread sends them and answers, in one ring, with a result per packet and then
// the kernel TX timestamps of its sends. Probes count as sent when submitted (a reply can be read
// before the thread's result: both come from the kernel at once), and a refusal the result reports
// turns the probe into a failed send. TX timestamp ids are numbered by the thread in send order; a
// table indexed by the id's low bits maps each to its probe until its timestamp arrives. A reply can
// also be read before its probe's TX timestamp (the thread reports after its sends, the receive
// thread may be quicker): barrier() is what an iteration waits for before it ends with answered
// probes still untimed (engine.ts).
import {
  ADDRESS_BYTES,
  META_HAS_TIMESTAMP,
  type RawSocket,
  type Ring,
  SEND_RECORD_WORDS,
  SENT_FLUSH,
  SENT_RESULT,
  SENT_TXTS,
  type SendBatch,
} from "../native/rawsock.js";

/** An iteration, as the sender sees it. */
export interface SendOwner {
  /** Never 0 (0 marks a free slot of the id table). */
  readonly serial: number;
  /** The thread's result for probe `index`: errno 0 = sent. */
  confirm(index: number, errno: number): void;
  /** Every result of a submitted run of `count` probes arrived. */
  settled(count: number): void;
  /** The kernel TX timestamp of probe `index`, in ns since the engine's epoch. */
  setTx(index: number, ns: number): void;
}

interface Submission {
  owner: SendOwner;
  first: number;
  count: number;
  cookie: number;
}

const ID_TABLE_SIZE = 1 << 16;
const ID_MASK = ID_TABLE_SIZE - 1;

export class Sender {
  private ring: Ring;
  private readonly queue: Submission[] = [];
  private cookie = 0;
  /** Called once when the thread next reports (its queue then has room again). */
  waiting: (() => void) | undefined;
  /** Packets that must go although the queue was full (our RSTs), with their owner, oldest first. */
  private backlog: { bytes: Uint8Array; address: Uint8Array; owner: SendOwner }[] = [];
  private readonly id = new Uint32Array(ID_TABLE_SIZE);
  private readonly index = new Uint32Array(ID_TABLE_SIZE);
  private readonly owner = new Uint32Array(ID_TABLE_SIZE);
  /** The owner whose schedule the thread follows (its serial; 0: none yet). */
  private scheduleOf = 0;
  /** barrier() calls waiting for their SENT_FLUSH record, oldest first. */
  private flushes: { n: number; done: () => void }[] = [];

  constructor(
    private readonly sock: RawSocket,
    private readonly epochSec: number,
    /** The iteration with this serial, if it still takes TX timestamps. */
    private readonly ownerOf: (serial: number) => SendOwner | undefined,
    /** The thread stopped on an error (it is restarted by the caller); ring records were drained. */
    private readonly onError: (err: Error) => void,
  ) {
    this.ring = this.start();
  }

  private start(): Ring {
    return this.sock.startSender((err) => {
      this.drain();
      if (err) this.onError(err);
      this.flush();
      const w = this.waiting;
      this.waiting = undefined;
      w?.();
    });
  }

  /** Starts the thread again after it stopped on an error; what it had not sent counts as refused. */
  restart(): void {
    this.sock.stopReceiver();
    this.abandon();
    this.ring = this.start();
  }

  /** Forgets submissions that will get no result (the thread is gone): their probes stay sent, unconfirmed. */
  abandon(): void {
    for (const s of this.queue.splice(0)) s.owner.settled(s.count);
    for (const b of this.backlog.splice(0)) b.owner.settled(1);
    for (const f of this.flushes.splice(0)) f.done();
  }

  /**
   * Calls done once every TX timestamp the kernel queued for this socket before now was handled (the
   * thread's SENT_FLUSH record), or at once when the thread cannot answer (socket closed); a thread
   * that stops on an error answers through abandon().
   */
  barrier(done: () => void): void {
    let n: number;
    try {
      n = this.sock.flushSender();
    } catch {
      done();
      return;
    }
    this.flushes.push({ n, done });
  }

  private flushed(n: number): void {
    while (this.flushes.length > 0 && ((n - this.flushes[0]!.n) | 0) >= 0) this.flushes.shift()!.done();
  }

  /**
   * Sends record `from` of batch, not a probe (our RST), even when the queue is full: then a copy
   * waits here and goes, packed with the others waiting, when the thread next reports. owner.settled(1)
   * follows its result either way. (Copies are made only while the queue is full.)
   */
  submitAnyway(batch: SendBatch, from: number, owner: SendOwner): void {
    if (this.backlog.length === 0 && this.submit(batch, from, 1, owner, -1)) return;
    const r = batch.records;
    const o = from * SEND_RECORD_WORDS;
    const a = r[o + 2]! * ADDRESS_BYTES;
    this.backlog.push({
      bytes: batch.data.slice(r[o]!, r[o]! + r[o + 1]!),
      address: batch.addresses.slice(a, a + ADDRESS_BYTES),
      owner,
    });
  }

  /** Submits waiting RSTs, up to 64 per batch, while the queue takes them. */
  private flush(): void {
    while (this.backlog.length > 0) {
      const take = this.backlog.slice(0, 64);
      const data = new Uint8Array(take.reduce((n, b) => n + b.bytes.length, 0));
      const records = new Uint32Array(take.length * SEND_RECORD_WORDS);
      const addresses = new Uint8Array(take.length * ADDRESS_BYTES);
      let off = 0;
      take.forEach((b, k) => {
        data.set(b.bytes, off);
        records.set([off, b.bytes.length, k, 0], k * SEND_RECORD_WORDS);
        addresses.set(b.address, k * ADDRESS_BYTES);
        off += b.bytes.length;
      });
      // one submission, one owner per packet: settle each through its own (their results are ignored)
      const owners = take.map((b) => b.owner);
      const group: SendOwner = {
        serial: 0,
        confirm: () => {},
        setTx: () => {},
        settled: () => {
          for (const w of owners) w.settled(1);
        },
      };
      if (!this.submit({ data, records, addresses }, 0, take.length, group, -1)) return;
      this.backlog.splice(0, take.length);
    }
  }

  /**
   * Queues records [from, from+count) of batch, which are probes [first, first+count) of `owner`
   * (first < 0: not probes, e.g. our RST: only settled() is called); false when the thread's queue is full.
   * `atNs`: the CLOCK_MONOTONIC time the batch is scheduled for (0: at once); an owner's first scheduled
   * batch starts a new schedule on the thread (a stall of the previous owner's delays none of its).
   */
  submit(batch: SendBatch, from: number, count: number, owner: SendOwner, first: number, atNs = 0): boolean {
    const cookie = (this.cookie + 1) >>> 0;
    const fresh = atNs !== 0 && owner.serial !== this.scheduleOf;
    if (!this.sock.submit(batch, from, count, cookie, atNs, fresh)) return false;
    if (atNs !== 0) this.scheduleOf = owner.serial;
    this.cookie = cookie;
    this.queue.push({ owner, first, count, cookie });
    return true;
  }

  /** How far stalls pushed the thread's schedule back, in ms (the pacer runs that much behind). */
  scheduleShiftMs(): number {
    return this.ring.scheduleShiftMs();
  }

  /** A new schedule starts (its first batch is fresh): forget the last one's shift. */
  newSchedule(): void {
    this.ring.resetScheduleShift();
  }

  /** Results and TX timestamps the thread wrote, in its order. */
  drain(): void {
    const r = this.ring;
    const w = r.words;
    for (let n = r.ready(); n > 0; n = r.ready()) {
      for (let k = 0; k < n; k++) {
        const o = r.offset(k) >>> 2;
        const type = w[o];
        if (type === SENT_RESULT) this.result(w[o + 1]!, w[o + 2]!, w[o + 3]!, w[o + 4]!);
        else if (type === SENT_TXTS) {
          if (w[o + 2]! & META_HAS_TIMESTAMP) this.timestamp(w[o + 1]!, w[o + 3]!, w[o + 4]!);
        } else if (type === SENT_FLUSH) this.flushed(w[o + 1]!);
      }
      r.release(n);
    }
  }

  private result(cookie: number, k: number, errno: number, id: number): void {
    const s = this.queue[0];
    if (s === undefined || s.cookie !== cookie) return; // abandoned before the thread answered
    const i = s.first + k;
    if (s.first >= 0) {
      s.owner.confirm(i, errno);
      if (errno === 0) {
        const slot = id & ID_MASK;
        this.id[slot] = id;
        this.index[slot] = i;
        this.owner[slot] = s.owner.serial;
      }
    }
    if (k === s.count - 1) {
      this.queue.shift();
      s.owner.settled(s.count);
    }
  }

  private timestamp(id: number, sec: number, nsec: number): void {
    const slot = id & ID_MASK;
    const serial = this.owner[slot]!;
    if (serial === 0 || this.id[slot] !== id) return; // not a probe (our RST), or overwritten
    this.owner[slot] = 0;
    this.ownerOf(serial)?.setTx(this.index[slot]!, (sec - this.epochSec) * 1e9 + nsec);
  }
}
