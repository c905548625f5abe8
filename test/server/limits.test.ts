// What an HTTP client can make the server hold is bounded (issue 11, siblings of item 5): open
// connections (a cap, 503 beyond it), slowloris clients (the cap, then the headers timeout), header
// size, pipelined requests per connection, a reader too slow for the answer (cut after responseMs),
// and a client that vanishes mid-answer (dropped, the next scrape is served).
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, test } from "node:test";
import { type LogFn, type ServerOptions, startServer } from "../../src/server/http.js";
import { get, raw } from "./client.js";

const H = "127.0.0.1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function options(over: Partial<ServerOptions> = {}): ServerOptions {
  return {
    address: H,
    port: 0,
    metrics: async () => ({ contentType: "text/plain; version=0.0.4", body: "up 1\n" }),
    health: () => ({ ok: true, detail: {} }),
    ...over,
  };
}

/** GET until it is not 503 (a slot is freed when the server sees the close, a moment after the client). */
async function getFreed(port: number, path: string): Promise<number> {
  for (let i = 0; ; i++) {
    const r = await get(H, port, path);
    if (r.status !== 503 || i === 50) return r.status;
    await sleep(20);
  }
}

/** A connected socket that sent nothing yet. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: H, port }, () => resolve(s));
    s.on("error", reject);
  });
}

/** Resolves when the socket is closed by the server, with everything it received. */
function drained(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => s.on("close", () => resolve(Buffer.concat(chunks))));
}

describe("limits on what clients can hold", () => {
  test("beyond maxConnections a new connection is answered 503 and closed; a freed slot serves again", async () => {
    const s = await startServer(options({ limits: { maxConnections: 3 }, timeouts: { headersMs: 2000 } }));
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await open(s.port));
      const t0 = performance.now();
      const r = await raw(H, s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(r.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
      assert.match(r.text, /Retry-After: 1/);
      assert.ok(performance.now() - t0 < 1500, "refused at once, not after a timeout");
      assert.equal(s.refused, 1);
      held.pop()!.destroy();
      assert.equal(await getFreed(s.port, "/metrics"), 200);
    } finally {
      for (const h of held) h.destroy();
      await s.close();
    }
  });

  test("slowloris: dribbling clients take at most the cap, and only until the headers timeout", async () => {
    const s = await startServer(
      options({ limits: { maxConnections: 4 }, timeouts: { headersMs: 500, requestMs: 500 } }),
    );
    const slow: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const c = await open(s.port);
        c.on("error", () => {});
        c.write("GET /metrics HTTP/1.1\r\nX-a: ");
        slow.push(c);
      }
      const closed = slow.map((c) => drained(c));
      assert.match((await raw(H, s.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")).text, /^HTTP\/1\.1 503 /);
      await Promise.all(closed); // the headers timeout cuts them
      assert.equal(await getFreed(s.port, "/metrics"), 200);
    } finally {
      for (const c of slow) c.destroy();
      await s.close();
    }
  });

  test("request headers above maxHeaderBytes (8 KiB): 431, and the server keeps serving", async () => {
    const s = await startServer(options());
    try {
      const big = "a".repeat(12 * 1024);
      const r = await raw(H, s.port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
      assert.match(r.text, /^HTTP\/1\.1 431 /);
      assert.equal((await get(H, s.port, "/metrics")).status, 200);
    } finally {
      await s.close();
    }
  });

  test("pipelined requests: at most maxRequestsPerConnection served, the rest 503, then the connection closes", async () => {
    let calls = 0;
    const s = await startServer(
      options({
        limits: { maxRequestsPerConnection: 10 },
        metrics: async () => {
          calls++;
          return { contentType: "text/plain", body: "up 1\n" };
        },
      }),
    );
    try {
      const r = await raw(H, s.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20));
      const served = r.text.match(/HTTP\/1\.1 200/g) ?? [];
      assert.equal(served.length, 10);
      assert.equal(calls, 10, "the requests beyond the limit were not served");
      assert.doesNotMatch(r.text, /HTTP\/1\.1 (?!200|503)/);
    } finally {
      await s.close();
    }
  });

  test("a reader too slow for the answer is cut after responseMs; others are served meanwhile", async () => {
    const body = Buffer.alloc(48 << 20, 97); // far more than loopback socket buffers hold
    const s = await startServer(
      options({
        timeouts: { responseMs: 300 },
        metrics: async () => ({ contentType: "text/plain", body }),
      }),
    );
    try {
      const c = await open(s.port);
      c.on("error", () => {});
      c.pause();
      c.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      await sleep(1500); // never reads meanwhile
      assert.equal((await get(H, s.port, "/health")).status, 200);
      const got = drained(c);
      c.resume();
      const received = await got;
      assert.ok(received.length < body.length, `received ${received.length} of ${body.length} bytes`);
    } finally {
      await s.close();
    }
  });

  test("a client that vanishes mid-answer: dropped quietly, the next scrape is served", async () => {
    const body = Buffer.alloc(16 << 20, 98);
    const errors: string[] = [];
    const log: LogFn = (level, msg) => {
      if (level === "error") errors.push(msg);
    };
    const s = await startServer(options({ log, metrics: async () => ({ contentType: "text/plain", body }) }));
    try {
      for (let i = 0; i < 5; i++) {
        const c = await open(s.port);
        c.on("error", () => {});
        c.write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        await new Promise((r) => c.once("data", r));
        c.destroy();
      }
      const r = await get(H, s.port, "/metrics");
      assert.equal(r.status, 200);
      assert.equal(r.body.length, body.length);
      assert.deepEqual(errors, []);
    } finally {
      await s.close();
    }
  });
});
