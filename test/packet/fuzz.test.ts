// Fuzz: every parser gets 1,000,000 hostile inputs (random bytes; valid packets with bit flips,
// truncations, lies in every length field and version nibble; odd offsets and lengths) and must never
// throw, and whatever it returns must stay inside the bytes it was given (so a consumer following
// payloadOffset/payloadLength cannot read past them). Deterministic seed; a few seconds on 2 cores.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  parseIcmp,
  parseIcmp6,
  parseIPv4Header,
  parseIPv4Packet,
  parseIPv6Header,
  parseIPv6Packet,
  parseIPv6Transport,
  parseQuotedIPv4,
  parseQuotedIPv6,
  parseTcp,
  parseUdp,
  type QuotedPacket,
} from "../../src/packet/index.js";
import { corpus } from "./corpus.js";

const ITERATIONS = 1_000_000;

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Offsets of fields whose lies hurt most: lengths, IHL / data offset, version nibbles. */
const LIE_OFFSETS = [0, 2, 3, 4, 5, 6, 12, 20, 24, 26, 28, 32, 40, 44, 46, 48, 52, 60, 72, 80];

test("fuzz: 1,000,000 random and mutated packets, no parser throws or points outside its input", (t) => {
  const seeds = corpus().map((c) => c.bytes);
  const rnd = xorshift(0xc0ffee);
  const work = new Uint8Array(2048);
  let thrown = 0;
  let firstError: unknown;
  let outside = 0;
  let accepted = 0;
  const within = (end: number, off: number, len: number) => {
    if (off < 0 || len < 0 || off + len > end) outside++;
  };
  const checkQuoted = (q: QuotedPacket | undefined, end: number) => {
    if (q !== undefined) within(end, q.transportOffset, q.transportLength);
  };
  const started = Date.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const r = rnd();
    let n: number;
    if (r % 8 === 0) {
      n = rnd() % 200;
      for (let k = 0; k < n; k++) work[k] = rnd() & 0xff;
      if (n > 0 && rnd() % 2 === 0) work[0] = (rnd() % 2 === 0 ? 0x45 : 0x60) | (work[0]! & 0x0f);
    } else {
      const s = seeds[rnd() % seeds.length]!;
      work.set(s);
      n = s.length;
      const kind = rnd() % 4;
      const flips = 1 + (rnd() % 4);
      if (kind === 0 || kind === 3) {
        for (let k = 0; k < flips; k++) {
          const bitPos = rnd() % (n * 8);
          work[bitPos >>> 3] = work[bitPos >>> 3]! ^ (1 << (bitPos & 7));
        }
      }
      if (kind === 1 || kind === 3) n = rnd() % (n + 1);
      if (kind === 2 || kind === 3) {
        const at = LIE_OFFSETS[rnd() % LIE_OFFSETS.length]!;
        if (at < n) work[at] = rnd() & 0xff;
        if (at + 1 < n) work[at + 1] = rnd() & 0xff;
      }
    }
    // Mostly the honest window; sometimes odd offsets and lengths, including out-of-range ones.
    let off = 0;
    let len = n;
    const w = rnd() % 16;
    if (w === 0) off = rnd() % (n + 4);
    else if (w === 1) len = n + (rnd() % 64);
    else if (w === 2) {
      off = -(rnd() % 3);
      len = (rnd() | 0) % 3000;
    } else if (w === 3) {
      off = 0.5;
      len = Number.NaN;
    }
    const view = work.subarray(0, n);
    try {
      const a = parseIPv4Packet(view, off, len);
      const b = parseIPv6Packet(view, off, len);
      const c = parseIPv6Transport(view, off, len, [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6][r % 3]!);
      const h4 = parseIPv4Header(view, off, len);
      const h6 = parseIPv6Header(view, off, len);
      const t = parseTcp(view, off, len);
      const u = parseUdp(view, off, len);
      const m4 = parseIcmp(view, off, len);
      const m6 = parseIcmp6(view, off, len);
      const q4 = parseQuotedIPv4(view, off, len);
      const q6 = parseQuotedIPv6(view, off, len);
      if (a || b || c) accepted++;
      if (h4) within(n, h4.payloadOffset, h4.presentLength);
      if (h6) within(n, h6.payloadOffset, h6.presentLength);
      if (t) within(n, t.payloadOffset, t.payloadLength);
      if (u) within(n, u.payloadOffset, u.payloadLength);
      for (const m of [m4, m6, a?.icmp, b?.icmp, c?.icmp]) {
        if (m?.kind === "echo") within(n, m.payloadOffset, m.payloadLength);
        else if (m?.kind === "error") checkQuoted(m.quoted, n);
      }
      checkQuoted(q4, n);
      checkQuoted(q6, n);
    } catch (err) {
      thrown++;
      firstError ??= err;
    }
  }
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`fuzz: ${ITERATIONS} inputs in ${seconds.toFixed(1)} s, ${accepted} accepted as packets`);
  assert.equal(thrown, 0, `parsers threw ${thrown} times; first: ${String(firstError)}`);
  assert.equal(outside, 0, "a parser returned a range outside its input");
  // The mutations must exercise the accepting paths too, not only the early rejections.
  assert.ok(accepted > ITERATIONS / 10, `only ${accepted} inputs parsed`);
  assert.ok(accepted < ITERATIONS, "everything parsed: the fuzzer is not hostile");
});
