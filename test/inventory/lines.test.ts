// LineReader: lines split across chunks, a line over the cap skipped without being buffered, and
// the stream paused once a second's byte or line budget is spent.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { LineReader } from "../../src/inventory/lines.js";

test("lines across chunks; an oversize line skipped and reported by its length; the next line intact", () => {
  const s = new PassThrough();
  const lines: string[] = [];
  const over: number[] = [];
  new LineReader(s, {
    maxLineBytes: 10,
    bytesPerSecond: 1e9,
    onLine: (l) => lines.push(l),
    onOversize: (n) => over.push(n),
  });
  s.emit("data", Buffer.from("ab"));
  s.emit("data", Buffer.from("c\nde"));
  s.emit("data", Buffer.from("f\n0123456"));
  s.emit("data", Buffer.from("789abcdef"));
  s.emit("data", Buffer.from("ghij\nok\n\n"));
  assert.deepEqual(lines, ["abc", "def", "ok", ""]);
  assert.deepEqual(over, [20]);
});

test("past the byte budget the stream is paused, and resumed in the next second", async () => {
  const s = new PassThrough();
  let t = 0;
  const reader = new LineReader(s, {
    maxLineBytes: 100,
    bytesPerSecond: 10,
    onLine: () => {},
    onOversize: () => {},
    now: () => t,
  });
  s.emit("data", Buffer.from("12345\n"));
  assert.equal(s.isPaused(), false);
  s.emit("data", Buffer.from("67890\n"));
  assert.equal(s.isPaused(), true);
  t = 1000;
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal(s.isPaused(), false);
  reader.close();
});

test("past the line budget the stream is paused too, however short the lines", () => {
  const s = new PassThrough();
  const reader = new LineReader(s, {
    maxLineBytes: 100,
    bytesPerSecond: 1e9,
    linesPerSecond: 3,
    onLine: () => {},
    onOversize: () => {},
    now: () => 0,
  });
  s.emit("data", Buffer.from("a\nb\n"));
  assert.equal(s.isPaused(), false);
  s.emit("data", Buffer.from("c\n"));
  assert.equal(s.isPaused(), true);
  reader.close();
});
