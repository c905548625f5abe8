// The built-in `http` inventory against a local HTTP server on loopback: first list, ETag and 304
// (the same list confirmed, not re-sent), a change, a 500 and bad JSON (failures; nothing published,
// so the last good list stays), a server that never answers (failure after `timeout`), and the
// credentials it sends (bearer token read from a file at each poll, basic auth).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { HttpInventoryInput } from "../../src/config/schema.js";
import { MAX_BODY, start } from "../../src/inventory/builtin/http.js";
import { Recorder } from "./builtin-support.js";

type Reply = { status: number; body?: string; etag?: string; hang?: boolean };

describe("built-in http inventory (local HTTP server on loopback)", () => {
  let server: Server;
  let base: string;
  const seen: IncomingHttpHeaders[] = [];
  let reply: (h: IncomingHttpHeaders) => Reply = () => ({ status: 200, body: "[]" });
  const dir = mkdtempSync(join(tmpdir(), "npf-http-inv-"));

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      const r = reply(req.headers);
      if (r.hang) return; // never answers
      res.writeHead(r.status, r.etag ? { etag: r.etag, "content-type": "application/json" } : {});
      res.end(r.body ?? "");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const options = (o: Partial<HttpInventoryInput> = {}): HttpInventoryInput => ({
    type: "http",
    url: `${base}/targets`,
    interval: 0.15,
    timeout: 0.5,
    ...o,
  });

  test("list, 304 with the ETag, change, 500, bad JSON, timeout: failures keep the last good list", async () => {
    const v1 = JSON.stringify([{ hostname: "198.18.0.1", type: "ICMPping" }]);
    const v2 = JSON.stringify({ targets: [{ hostname: "198.18.0.2", type: "ICMPping" }] });
    let phase = "v1";
    reply = (h) => {
      if (phase === "v1")
        return h["if-none-match"] === '"v1"' ? { status: 304 } : { status: 200, body: v1, etag: '"v1"' };
      if (phase === "v2")
        return h["if-none-match"] === '"v2"' ? { status: 304 } : { status: 200, body: v2, etag: '"v2"' };
      if (phase === "500") return { status: 500, body: "database down" };
      if (phase === "json") return { status: 200, body: "[{" };
      return { status: 200, hang: true };
    };
    seen.length = 0;
    const r = new Recorder(options());
    const run = start(r.ctx);
    assert.deepEqual(await r.next(1), { kind: "publish", targets: JSON.parse(v1) });
    // Polls after the first carry If-None-Match and get 304: the module confirms the same list.
    assert.deepEqual(await r.next(3), { kind: "publish", targets: JSON.parse(v1) });
    assert.equal(seen[0]!["if-none-match"], undefined);
    assert.equal(seen[1]!["if-none-match"], '"v1"');

    phase = "v2";
    const n = r.events.length;
    const changed = await r.next(n + 1);
    assert.deepEqual(changed, { kind: "publish", targets: [{ hostname: "198.18.0.2", type: "ICMPping" }] });

    for (const [p, pattern] of [
      ["500", /HTTP 500: database down/],
      ["json", /not valid JSON/],
      ["hang", /no complete answer within 0.5 s/],
    ] as const) {
      phase = p;
      const m = r.events.length;
      let e = await r.next(m + 1, 3000);
      while (e.kind === "publish") e = await r.next(r.events.length + 1, 3000); // a poll already under way
      assert.match((e as { message: string }).message, pattern);
      assert.match((e as { message: string }).message, /last good list stays/);
    }
    phase = "v2";
    // After the failures, the next poll revalidates with the last good ETag: 304, the same list.
    let e = await r.next(r.events.length + 1, 3000);
    while (e.kind === "failure") e = await r.next(r.events.length + 1, 3000); // the hanging poll ending
    r.controller.abort();
    await run;
    assert.deepEqual(e, changed);
    assert.equal(seen.at(-1)!["if-none-match"], '"v2"');
    const publishes = r.events.filter((x) => x.kind === "publish");
    assert.deepEqual(publishes.at(-1), changed, "failures never replaced the list");
  });

  test("sends a bearer token read from its file at each poll, or basic auth; never a stale token", async () => {
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "first\n");
    reply = () => ({ status: 200, body: "[]" });
    seen.length = 0;
    const r = new Recorder(options({ bearer_token_file: tokenFile, headers: { "x-team": "network" } }));
    const run = start(r.ctx);
    await r.next(1);
    writeFileSync(tokenFile, "second\n");
    await r.next(3);
    r.controller.abort();
    await run;
    assert.equal(seen[0]!.authorization, "Bearer first");
    assert.equal(seen.at(-1)!.authorization, "Bearer second");
    assert.equal(seen[0]!["x-team"], "network");
    assert.equal(seen[0]!.accept, "application/json");

    seen.length = 0;
    const b = new Recorder(options({ basic_auth: { username: "np", password: "pw" } }));
    const run2 = start(b.ctx);
    await b.next(1);
    b.controller.abort();
    await run2;
    assert.equal(seen[0]!.authorization, `Basic ${Buffer.from("np:pw").toString("base64")}`);
  });

  test("a body over 16 MiB is a failure, not read to the end", async () => {
    reply = () => ({ status: 200, body: `[${'"x",'.repeat(MAX_BODY / 4)}"x"]` });
    const r = new Recorder(options({ timeout: 10 }));
    const run = start(r.ctx);
    const e = await r.next(1, 10_000);
    r.controller.abort();
    await run;
    assert.equal(e.kind, "failure");
    assert.match((e as { message: string }).message, /body larger than 16777216 bytes/);
  });

  test("a connection refused is a failure; stop is prompt even in the middle of a poll", async () => {
    const r = new Recorder(options({ url: "http://127.0.0.1:1/targets" }));
    const run = start(r.ctx);
    const e = await r.next(1);
    assert.equal(e.kind, "failure");
    assert.match((e as { message: string }).message, /ECONNREFUSED/);
    r.controller.abort();
    await run;

    reply = () => ({ status: 200, hang: true });
    const h = new Recorder(options({ timeout: 30, interval: 60 }));
    const t0 = Date.now();
    const run2 = start(h.ctx);
    await new Promise((res) => setTimeout(res, 100));
    h.controller.abort();
    await run2;
    assert.ok(Date.now() - t0 < 2000, "aborting ends a poll that would take 30 s");
  });
});
