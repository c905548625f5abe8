// The JS end of a receive thread's ring (native/recv.c): the thread writes records (a received
// packet's metadata and bytes, or one TX timestamp) and publishes its index; JS reads what is ready
// and hands the records back. Single producer, single consumer: the indices are read and written with
// Atomics, everything else is plain memory that the index publishes. Nothing here allocates per
// record: a record is a byte offset into `bytes` (and a word offset into `words`).
//
// Header (32-bit words; constants mirrored in native/rawsock.h): the producer's index at word 0 and
// the consumer's at word 16 (their own cache lines), then slots, stride, metadata words, full waits,
// the errno the thread stopped on, a send thread's schedule shift. Records start at RING_HEADER_BYTES.

export const RING_HEADER_BYTES = 256;
export const RING_HEAD = 0;
export const RING_TAIL = 16;
export const RING_SLOTS = 32;
export const RING_STRIDE = 33;
export const RING_META_WORDS = 34;
export const RING_FULL_WAITS = 35;
export const RING_ERRNO = 36;
export const RING_SHIFT_US = 37;

/** Header word 38, packets: the last receive barrier the thread answered (RawSocket.flushReceiver). */
export const RING_FLUSHED = 38;

/** What a receive thread reads: received packets, or TX timestamps from the error queue. */
export const RECEIVE_PACKETS = 0;
export const RECEIVE_ERRQUEUE = 1;
/** The thread sends what JS submits; its ring carries results and TX timestamps (native/send.c). */
export const RECEIVE_SEND = 2;
/**
 * Send-ring records: [SENT_RESULT, cookie, index in batch, errno, TX id, 0], [SENT_TXTS, id, flags,
 * sec, nsec, 0], or [SENT_FLUSH, flush number, 0, 0, 0, 0] after every TX timestamp the kernel
 * queued before that flushSender() call.
 */
export const SENT_WORDS = 6;
export const SENT_RESULT = 1;
export const SENT_TXTS = 2;
export const SENT_FLUSH = 3;

export class Ring {
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  /** Bytes from one record to the next; a record's packet starts metaWords * 4 bytes in. */
  readonly stride: number;
  readonly slots: number;
  readonly metaWords: number;
  readonly #ctrl: Int32Array;
  readonly #mask: number;
  #tail: number;

  constructor(buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.words = new Uint32Array(buffer);
    this.#ctrl = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
    this.slots = this.words[RING_SLOTS]!;
    this.stride = this.words[RING_STRIDE]!;
    this.metaWords = this.words[RING_META_WORDS]!;
    this.#mask = this.slots - 1;
    this.#tail = Atomics.load(this.#ctrl, RING_TAIL) >>> 0;
    if (this.slots === 0 || (this.slots & this.#mask) !== 0 || this.stride % 4 !== 0)
      throw new RangeError(`not a receive ring (slots ${this.slots}, stride ${this.stride})`);
    if (RING_HEADER_BYTES + this.slots * this.stride > buffer.byteLength)
      throw new RangeError("receive ring larger than its buffer");
  }

  /** Records ready to read now (written by the thread, not yet released). */
  ready(): number {
    return (Atomics.load(this.#ctrl, RING_HEAD) - this.#tail) >>> 0;
  }

  /**
   * The last receive barrier the thread answered (RawSocket.flushReceiver): read before the records,
   * every packet queued before that barrier was asked is then ready.
   */
  flushed(): number {
    return Atomics.load(this.#ctrl, RING_FLUSHED) >>> 0;
  }

  /** Byte offset of the k-th ready record (k < ready()); its metadata word is offset / 4. */
  offset(k: number): number {
    return RING_HEADER_BYTES + ((this.#tail + k) & this.#mask) * this.stride;
  }

  /** Hands n records back to the thread. */
  release(n: number): void {
    this.#tail = (this.#tail + n) >>> 0;
    Atomics.store(this.#ctrl, RING_TAIL, this.#tail | 0);
  }

  /**
   * A send thread's: how far stalls pushed the running schedule back, in ms (native/send.c); the JS
   * side zeroes it when it starts a new schedule (the thread's last batch of the old one went).
   */
  scheduleShiftMs(): number {
    return (Atomics.load(this.#ctrl, RING_SHIFT_US) >>> 0) / 1000;
  }

  resetScheduleShift(): void {
    Atomics.store(this.#ctrl, RING_SHIFT_US, 0);
  }

  /** Times the thread found the ring full and waited (the kernel queue held the rest meanwhile). */
  fullWaits(): number {
    return Atomics.load(this.#ctrl, RING_FULL_WAITS) >>> 0;
  }
}

/**
 * Fills a ring the way the receive thread does, from a source that writes `max` records at once
 * (metadata words then the packet, per record): used by the fake addon, so that both sides of the
 * contract are the same code in JS. Returns the records written; 0 when the ring is full or nothing
 * waits.
 */
export function fillRing(
  buffer: ArrayBuffer,
  read: (meta: Uint32Array, metaAt: number, data: Uint8Array, dataAt: number) => boolean,
): number {
  const words = new Uint32Array(buffer);
  const ctrl = new Int32Array(buffer, 0, RING_HEADER_BYTES / 4);
  const bytes = new Uint8Array(buffer);
  const slots = words[RING_SLOTS]!;
  const stride = words[RING_STRIDE]!;
  const metaBytes = words[RING_META_WORDS]! * 4;
  let head = Atomics.load(ctrl, RING_HEAD) >>> 0;
  let n = 0;
  while ((head - (Atomics.load(ctrl, RING_TAIL) >>> 0)) >>> 0 < slots) {
    const at = RING_HEADER_BYTES + (head & (slots - 1)) * stride;
    if (!read(words, at / 4, bytes, at + metaBytes)) break;
    head = (head + 1) >>> 0;
    n++;
    Atomics.store(ctrl, RING_HEAD, head | 0);
  }
  if (n === 0 && (head - (Atomics.load(ctrl, RING_TAIL) >>> 0)) >>> 0 >= slots) bumpFullWaits(ctrl);
  return n;
}

function bumpFullWaits(ctrl: Int32Array): void {
  Atomics.add(ctrl, RING_FULL_WAITS, 1);
}

/** A ring's memory as the native side lays it out, for the fake addon. */
export function allocRing(slots: number, metaWords: number, slotBytes: number): ArrayBuffer {
  const stride = (metaWords * 4 + slotBytes + 7) & ~7;
  const buffer = new ArrayBuffer(RING_HEADER_BYTES + slots * stride);
  const words = new Uint32Array(buffer);
  words[RING_SLOTS] = slots;
  words[RING_STRIDE] = stride;
  words[RING_META_WORDS] = metaWords;
  return buffer;
}
