// /metrics in gzip for scrapers that ask for it (Prometheus does): the compressed copy of the
// rendering is sent as is, plain text otherwise; Accept-Encoding parsed with its q-values.
import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { acceptsGzip, startServer } from "../../src/server/http.js";

function fetchRaw(port: number, headers: Record<string, string>) {
  return new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/metrics", headers, agent: false }, (r) => {
      const chunks: Buffer[] = [];
      r.on("data", (c: Buffer) => chunks.push(c));
      r.on("end", () => resolve({ headers: r.headers, body: Buffer.concat(chunks) }));
      r.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("gzip", () => {
  test("Accept-Encoding: gzip gets the compressed copy, others the plain body", async () => {
    const body = Buffer.from("up 1\n".repeat(1000));
    const gz = gzipSync(body);
    const s = await startServer({
      address: "127.0.0.1",
      port: 0,
      metrics: async () => ({ contentType: "text/plain; version=0.0.4", body, gzip: gz }),
      health: () => ({ ok: true, detail: {} }),
    });
    try {
      const z = await fetchRaw(s.port, { "accept-encoding": "gzip" });
      assert.equal(z.headers["content-encoding"], "gzip");
      assert.equal(z.headers.vary, "Accept, Accept-Encoding");
      assert.deepEqual(gunzipSync(z.body), body);
      const plain = await fetchRaw(s.port, {});
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.deepEqual(plain.body, body);
      const refused = await fetchRaw(s.port, { "accept-encoding": "gzip;q=0, identity" });
      assert.deepEqual(refused.body, body);
    } finally {
      await s.close();
    }
  });

  test("acceptsGzip reads codings and q-values", () => {
    assert.equal(acceptsGzip(undefined), false);
    assert.equal(acceptsGzip("gzip"), true);
    assert.equal(acceptsGzip("identity, GZIP;q=0.5"), true);
    assert.equal(acceptsGzip("gzip;q=0"), false);
    assert.equal(acceptsGzip("br, deflate"), false);
    assert.equal(acceptsGzip("*"), true);
  });
});
