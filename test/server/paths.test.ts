// GET /paths: the trace-on-loss document as JSON behind the same credentials as /metrics; 404 when
// the daemon gives no document; a failing document is a 500, not a crash.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startServer } from "../../src/server/http.js";
import { basic, get } from "./client.js";

test("/paths serves the document as JSON, with the credentials /metrics needs", async () => {
  let fail = false;
  const doc = { enabled: true, incidents: [{ destination: "web", flows: [{ hops: ["198.18.1.1", null] }] }] };
  const srv = await startServer({
    address: "127.0.0.1",
    port: 0,
    metrics: async () => ({ contentType: "text/plain", body: "up 1\n" }),
    health: () => ({ ok: true, detail: {} }),
    auth: { user: "prom", password: "pw" },
    paths: () => {
      if (fail) throw new Error("boom");
      return doc;
    },
  });
  try {
    assert.equal((await get("127.0.0.1", srv.port, "/paths")).status, 401);
    const authorization = basic("prom", "pw");
    const r = await get("127.0.0.1", srv.port, "/paths", { headers: { authorization } });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), doc);
    assert.equal(
      (await get("127.0.0.1", srv.port, "/paths", { method: "POST", headers: { authorization } })).status,
      405,
    );
    fail = true;
    assert.equal((await get("127.0.0.1", srv.port, "/paths", { headers: { authorization } })).status, 500);
  } finally {
    await srv.close();
  }
});

test("without a paths callback /paths is 404", async () => {
  const srv = await startServer({
    address: "127.0.0.1",
    port: 0,
    metrics: async () => ({ contentType: "text/plain", body: "up 1\n" }),
    health: () => ({ ok: true, detail: {} }),
  });
  try {
    assert.equal((await get("127.0.0.1", srv.port, "/paths")).status, 404);
  } finally {
    await srv.close();
  }
});
