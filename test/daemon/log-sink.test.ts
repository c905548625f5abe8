// LogSink without root: writes to a descriptor that always fails (/dev/full: ENOSPC) drop and count
// lines and never throw; a descriptor that works gets every line, in order.
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { LogSink } from "../../src/daemon/log-sink.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("LogSink", () => {
  test("ENOSPC (/dev/full): lines dropped and counted, the error reported once, nothing thrown", async () => {
    const fd = openSync("/dev/full", "w");
    const codes: string[] = [];
    const sink = new LogSink({ fd, retryMs: 20, onError: (c) => codes.push(c) });
    try {
      for (let i = 0; i < 10; i++) sink.write(`line ${i}\n`);
      for (let i = 0; i < 100 && sink.dropped < 10; i++) await sleep(20);
      assert.equal(sink.dropped, 10);
      assert.equal(sink.written, 0);
      assert.equal(sink.failing, "ENOSPC");
      assert.deepEqual(codes, ["ENOSPC"]);
    } finally {
      await sleep(50);
      closeSync(fd);
    }
  });

  test("a full queue drops new lines at once instead of growing", async () => {
    const fd = openSync("/dev/null", "w");
    const sink = new LogSink({ fd, maxQueuedBytes: 100 });
    try {
      for (let i = 0; i < 50; i++) sink.write(`${"x".repeat(20)}\n`); // 1,050 bytes in one turn
      assert.ok(sink.dropped >= 40, `${sink.dropped} dropped`);
    } finally {
      // The background write must be done before the descriptor number can be reused.
      for (let i = 0; i < 100 && sink.written + sink.dropped < 50; i++) await sleep(10);
      closeSync(fd);
    }
  });

  test("a working file gets every line in order", async () => {
    const dir = mkdtempSync(join(tmpdir(), "npf-sink-"));
    const path = join(dir, "log");
    const fd = openSync(path, "a");
    try {
      const sink = new LogSink({ fd });
      for (let i = 0; i < 1000; i++) sink.write(`line ${i}\n`);
      for (let i = 0; i < 100 && sink.written < 1000; i++) await sleep(10);
      assert.equal(sink.written, 1000);
      assert.equal(sink.dropped, 0);
      const lines = readFileSync(path, "utf8").trimEnd().split("\n");
      assert.deepEqual(
        lines,
        Array.from({ length: 1000 }, (_, i) => `line ${i}`),
      );
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
