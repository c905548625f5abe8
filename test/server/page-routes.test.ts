// The status page's routes on the real HTTP server: the page at `/` and its static files (uPlot at a
// path carrying the installed package's version), and the JSON API hook under /api/: credentials
// required like /metrics, gzip when accepted, read-only, 404 for what does not exist.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { type RunningServer, startServer } from "../../src/server/http.js";
import { landingPage } from "../../src/server/landing.js";
import { ASSET_PATHS, PAGE_DIR } from "../../src/web/assets.js";
import { basic } from "./client.js";

const AUTH = { user: "u", password: "p" };
const OK = { authorization: basic(AUTH.user, AUTH.password) };

function fetchRaw(port: number, path: string, headers: Record<string, string> = {}, method = "GET") {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path, method, headers, agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () =>
          resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks) }),
        );
        r.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    },
  );
}

describe("status page routes", () => {
  let srv: RunningServer;
  const asked: string[] = [];
  before(async () => {
    srv = await startServer({
      address: "127.0.0.1",
      port: 0,
      auth: AUTH,
      metrics: async () => ({ contentType: "text/plain", body: "" }),
      health: () => ({ ok: true, detail: {} }),
      landing: landingPage("9.9.9", "probe <1>"),
      api: (path, q) => {
        asked.push(`${path}?${q}`);
        if (path === "/api/v1/status")
          return { status: 200, body: JSON.stringify({ probe_name: "probe", big: "x".repeat(5000) }) };
        if (path === "/api/v1/target") return { status: 404, body: '{"error":"no such target"}' };
        return undefined;
      },
    });
  });
  after(() => srv.close());

  test("`/` is the status page: escaped probe name, version, the endpoints' links, its scripts", async () => {
    const r = await fetchRaw(srv.port, "/", OK);
    assert.equal(r.status, 200);
    const html = r.body.toString();
    assert.match(html, /<title>netprobify \(probe &#60;1&#62;\)<\/title>/);
    assert.match(html, /netprobify 9\.9\.9/);
    for (const p of ["/metrics", "/-/healthy", "/-/ready", "/health"])
      assert.match(html, new RegExp(`href="\\.${p}"`));
    for (const p of Object.values(ASSET_PATHS)) assert.ok(html.includes(`"${p}"`), p);
  });

  test("static files: the package's own bytes, gzip when accepted, uPlot at its version's path", async () => {
    const require = createRequire(import.meta.url);
    const version = (require("uplot/package.json") as { version: string }).version;
    assert.equal(ASSET_PATHS.uplotJs, `static/uplot-${version}/uPlot.iife.min.js`);
    const js = await fetchRaw(srv.port, `/${ASSET_PATHS.js}`, OK);
    assert.equal(js.status, 200);
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert.deepEqual(js.body, readFileSync(`${PAGE_DIR}/page.js`));
    const uplot = await fetchRaw(srv.port, `/${ASSET_PATHS.uplotJs}`, { ...OK, "accept-encoding": "gzip" });
    assert.equal(uplot.headers["content-encoding"], "gzip");
    assert.deepEqual(gunzipSync(uplot.body), readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js")));
    const css = await fetchRaw(srv.port, `/${ASSET_PATHS.css}`, OK, "HEAD");
    assert.equal(css.status, 200);
    assert.equal(css.body.length, 0);
    assert.equal(Number(css.headers["content-length"]), readFileSync(`${PAGE_DIR}/page.css`).length);
    assert.equal((await fetchRaw(srv.port, "/static/nope.js", OK)).status, 404);
    assert.equal((await fetchRaw(srv.port, `/${ASSET_PATHS.js}`, OK, "POST")).status, 405);
  });

  test("the API hook: JSON, gzip for large answers, its status, 404 when it has no answer", async () => {
    const s = await fetchRaw(srv.port, "/api/v1/status?x=1", { ...OK, "accept-encoding": "gzip" });
    assert.equal(s.status, 200);
    assert.equal(s.headers["content-type"], "application/json; charset=utf-8");
    assert.equal(s.headers["content-encoding"], "gzip");
    assert.equal(JSON.parse(gunzipSync(s.body).toString()).probe_name, "probe");
    assert.ok(asked.includes("/api/v1/status?x=1"));
    const t = await fetchRaw(srv.port, "/api/v1/target?id=a%2Fb", OK);
    assert.equal(t.status, 404);
    assert.deepEqual(JSON.parse(t.body.toString()), { error: "no such target" });
    assert.ok(asked.includes("/api/v1/target?id=a%2Fb"));
    assert.equal((await fetchRaw(srv.port, "/api/v2/nothing", OK)).status, 404);
    assert.equal((await fetchRaw(srv.port, "/api/v1/status", OK, "POST")).status, 405);
  });

  test("everything needs the credentials, as /metrics does", async () => {
    const before = asked.length;
    for (const p of ["/", `/${ASSET_PATHS.js}`, `/${ASSET_PATHS.uplotJs}`, "/api/v1/status"]) {
      assert.equal((await fetchRaw(srv.port, p)).status, 401, p);
      assert.equal((await fetchRaw(srv.port, p, { authorization: basic("u", "wrong") })).status, 401, p);
    }
    assert.equal(asked.length, before, "the API is not asked for unauthenticated requests");
  });

  test("without an API hook /api/ paths are 404", async () => {
    const bare = await startServer({
      address: "127.0.0.1",
      port: 0,
      metrics: async () => ({ contentType: "text/plain", body: "" }),
      health: () => ({ ok: true, detail: {} }),
    });
    try {
      assert.equal((await fetchRaw(bare.port, "/api/v1/status")).status, 404);
      assert.equal((await fetchRaw(bare.port, `/${ASSET_PATHS.css}`)).status, 200);
    } finally {
      await bare.close();
    }
  });
});
