// The metrics listener answering real HTTP requests on loopback: routes, HEAD, basic auth with
// every kind of wrong header, a failing metrics callback, IPv6.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { authFromEnv } from "../../src/server/auth.js";
import { type LogLevel, type RunningServer, type ServerOptions, startServer } from "../../src/server/http.js";
import { basic, get, raw } from "./client.js";

const EXPOSITION = "# HELP up test\n# TYPE up gauge\nup 1\n";
const PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function options(over: Partial<ServerOptions> = {}): ServerOptions {
  return {
    address: "127.0.0.1",
    port: 0,
    metrics: async () => ({ contentType: PROM_TYPE, body: EXPOSITION }),
    health: () => ({ ok: true, detail: { iterations: 3 } }),
    ...over,
  };
}

describe("http server without auth", () => {
  let srv: RunningServer;
  let healthy = true;
  before(async () => {
    srv = await startServer(
      options({
        health: () => ({ ok: healthy, detail: { iterations: 3, last_error: healthy ? null : "x" } }),
      }),
    );
  });
  after(() => srv.close());

  test("binds 127.0.0.1 on a real port", () => {
    assert.equal(srv.address, "127.0.0.1");
    assert.ok(srv.port > 0 && srv.port < 65536);
  });

  test("GET /metrics: the callback's body and content type", async () => {
    const r = await get("127.0.0.1", srv.port, "/metrics");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], PROM_TYPE);
    assert.equal(r.body, EXPOSITION);
    assert.equal(r.headers["content-length"], String(Buffer.byteLength(EXPOSITION)));
  });

  test("a query string does not change the route", async () => {
    const r = await get("127.0.0.1", srv.port, "/metrics?name[]=up");
    assert.equal(r.status, 200);
    assert.equal(r.body, EXPOSITION);
  });

  test("GET /health: 200 with detail when healthy, 503 when not", async () => {
    healthy = true;
    let r = await get("127.0.0.1", srv.port, "/health");
    assert.equal(r.status, 200);
    assert.match(r.headers["content-type"] ?? "", /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { ok: true, detail: { iterations: 3, last_error: null } });
    healthy = false;
    r = await get("127.0.0.1", srv.port, "/health");
    assert.equal(r.status, 503);
    assert.deepEqual(JSON.parse(r.body), { ok: false, detail: { iterations: 3, last_error: "x" } });
    healthy = true;
  });

  test("GET / is an HTML page linking the endpoints", async () => {
    const r = await get("127.0.0.1", srv.port, "/");
    assert.equal(r.status, 200);
    assert.match(r.headers["content-type"] ?? "", /^text\/html; charset=utf-8/);
    for (const p of ["/metrics", "/-/healthy", "/-/ready", "/health"])
      assert.match(r.body, new RegExp(`<a href="\\.${p}">`), p);
  });

  test("unknown paths are 404", async () => {
    for (const p of ["/nope", "/metrics/", "/metricsx", "/health/x"]) {
      const r = await get("127.0.0.1", srv.port, p);
      assert.equal(r.status, 404, p);
    }
  });

  test("methods other than GET and HEAD are 405 with Allow", async () => {
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
      for (const p of ["/metrics", "/health", "/"]) {
        const r = await get("127.0.0.1", srv.port, p, { method });
        assert.equal(r.status, 405, `${method} ${p}`);
        assert.equal(r.headers.allow, "GET, HEAD");
      }
    }
  });

  test("HEAD: the GET headers, no body", async () => {
    for (const p of ["/metrics", "/health", "/"]) {
      const g = await get("127.0.0.1", srv.port, p);
      const h = await get("127.0.0.1", srv.port, p, { method: "HEAD" });
      assert.equal(h.status, g.status, p);
      assert.equal(h.body, "", p);
      assert.equal(h.headers["content-type"], g.headers["content-type"], p);
      assert.equal(h.headers["content-length"], String(Buffer.byteLength(g.body)), p);
    }
  });

  test("bytes that are not HTTP get 400 and the server keeps serving", async () => {
    const r = await raw("127.0.0.1", srv.port, "HELLO THERE\r\n\r\n");
    assert.match(r.text, /^HTTP\/1\.1 400 /);
    assert.equal((await get("127.0.0.1", srv.port, "/metrics")).status, 200);
  });
});

describe("http server with basic auth", () => {
  let srv: RunningServer;
  const creds = authFromEnv({ PROM_USER: "prom", PROM_PASSWORD: "pa:ss wörd" })!;
  before(async () => {
    srv = await startServer(options({ auth: creds }));
  });
  after(() => srv.close());

  const status = async (path: string, authorization?: string) => {
    const r = await get(
      "127.0.0.1",
      srv.port,
      path,
      authorization === undefined ? {} : { headers: { authorization } },
    );
    return r;
  };

  test("no credentials: 401 with the challenge", async () => {
    for (const p of ["/metrics", "/", "/nope"]) {
      const r = await status(p);
      assert.equal(r.status, 401, p);
      assert.equal(r.headers["www-authenticate"], 'Basic realm="netprobify", charset="UTF-8"');
      assert.doesNotMatch(r.body, /up 1/);
    }
  });

  test("wrong user or wrong password: 401", async () => {
    assert.equal((await status("/metrics", basic("prometheus", "pa:ss wörd"))).status, 401);
    assert.equal((await status("/metrics", basic("prom", "pa:ss word"))).status, 401);
    assert.equal((await status("/metrics", basic("prom", "pa:ss wörd "))).status, 401);
    assert.equal((await status("/metrics", basic("prom", ""))).status, 401);
  });

  test("right credentials: the metrics", async () => {
    const r = await status("/metrics", basic("prom", "pa:ss wörd"));
    assert.equal(r.status, 200);
    assert.equal(r.body, EXPOSITION);
    assert.equal((await status("/nope", basic("prom", "pa:ss wörd"))).status, 404);
  });

  test("malformed Authorization headers: 401, never 500", async () => {
    for (const h of [
      "",
      "Basic",
      "Basic ",
      "Basic %%%%",
      "Basic cHJvbQ==",
      "Bearer cHJvbTpwYTpzcyB3w7ZyZA==",
      "Digest username=prom",
      `Basic ${"QUJD".repeat(2000)}`,
      "Basic \u00ff\u00fe",
    ]) {
      const r = await status("/metrics", h);
      assert.equal(r.status, 401, h.slice(0, 30));
      assert.ok(r.headers["www-authenticate"]);
    }
    assert.equal((await status("/metrics", basic("prom", "pa:ss wörd"))).status, 200);
  });

  test("/health needs no credentials, but only shows its detail to those who have them", async () => {
    const anon = await status("/health");
    assert.equal(anon.status, 200);
    assert.deepEqual(JSON.parse(anon.body), { ok: true });
    const wrong = await status("/health", basic("prom", "nope"));
    assert.deepEqual(JSON.parse(wrong.body), { ok: true });
    const authed = await status("/health", basic("prom", "pa:ss wörd"));
    assert.deepEqual(JSON.parse(authed.body), { ok: true, detail: { iterations: 3 } });
  });

  test("only one of PROM_USER / PROM_PASSWORD set: served without auth", async () => {
    const open = await startServer(options({ auth: authFromEnv({ PROM_USER: "prom" }) }));
    try {
      const r = await get("127.0.0.1", open.port, "/metrics");
      assert.equal(r.status, 200);
      assert.equal(r.body, EXPOSITION);
    } finally {
      await open.close();
    }
  });
});

describe("http server callbacks that fail", () => {
  test("a throwing metrics callback: 500, logged, and the next scrape works", async () => {
    const logs: { level: LogLevel; msg: string; fields: Record<string, unknown> }[] = [];
    let mode: "reject" | "throw" | "ok" = "reject";
    const srv = await startServer(
      options({
        log: (level, msg, fields) => logs.push({ level, msg, fields }),
        metrics: () => {
          if (mode === "throw") throw new Error("registry exploded synchronously");
          if (mode === "reject") return Promise.reject(new Error("registry exploded"));
          return Promise.resolve({ contentType: PROM_TYPE, body: EXPOSITION });
        },
      }),
    );
    try {
      let r = await get("127.0.0.1", srv.port, "/metrics");
      assert.equal(r.status, 500);
      assert.match(r.body, /metrics collection failed/);
      assert.doesNotMatch(r.body, /exploded/, "internals are logged, not shown");
      mode = "throw";
      r = await get("127.0.0.1", srv.port, "/metrics");
      assert.equal(r.status, 500);
      mode = "ok";
      r = await get("127.0.0.1", srv.port, "/metrics");
      assert.equal(r.status, 200);
      assert.equal(r.body, EXPOSITION);
      const errors = logs.filter((l) => l.level === "error");
      assert.equal(errors.length, 2);
      assert.deepEqual(
        errors.map((e) => (e.fields.err as { message: string }).message),
        ["registry exploded", "registry exploded synchronously"],
      );
      assert.ok(logs.some((l) => l.level === "info" && l.msg === "serving metrics"));
      assert.ok(logs.some((l) => l.level === "debug" && l.fields.status === 200));
    } finally {
      await srv.close();
    }
  });

  test("an answer that cannot be written at all (a header node refuses): the connection is closed, logged, never an unhandled rejection", async () => {
    const logs: string[] = [];
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on("unhandledRejection", onRejection);
    // A header loadWebConfig now refuses; before, such a file made every answer fail this way.
    const srv = await startServer(
      options({
        web: {
          file: "web.yml",
          users: new Map(),
          headers: { "Content-Security-Policy": "default-src \u20ac" },
        },
        log: (level, msg) => logs.push(`${level} ${msg}`),
      }),
    );
    try {
      for (let k = 0; k < 3; k++)
        await assert.rejects(
          get("127.0.0.1", srv.port, "/metrics"),
          "the connection is closed without an answer",
        );
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(rejections, []);
      assert.equal(logs.filter((l) => l === "error http handler failed").length, 3);
    } finally {
      process.off("unhandledRejection", onRejection);
      await srv.close();
    }
  });

  test("a throwing health callback: 503, and the server keeps serving", async () => {
    const srv = await startServer(
      options({
        health: () => {
          throw new Error("no state yet");
        },
      }),
    );
    try {
      const r = await get("127.0.0.1", srv.port, "/health");
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).ok, false);
      assert.equal((await get("127.0.0.1", srv.port, "/metrics")).status, 200);
    } finally {
      await srv.close();
    }
  });
});

describe("http server on IPv6", () => {
  test("::1 serves /metrics", async () => {
    const srv = await startServer(options({ address: "::1" }));
    try {
      assert.equal(srv.address, "::1");
      const r = await get("::1", srv.port, "/metrics");
      assert.equal(r.status, 200);
      assert.equal(r.body, EXPOSITION);
    } finally {
      await srv.close();
    }
  });

  test(":: accepts both IPv6 and IPv4 clients (dual stack)", async () => {
    const srv = await startServer(options({ address: "::" }));
    try {
      assert.equal(srv.address, "::");
      assert.equal((await get("::1", srv.port, "/metrics")).status, 200);
      assert.equal((await get("127.0.0.1", srv.port, "/metrics")).status, 200);
    } finally {
      await srv.close();
    }
  });

  test("the default address is 0.0.0.0", async () => {
    const { address: _omit, ...rest } = options();
    const srv = await startServer(rest);
    try {
      assert.equal(srv.address, "0.0.0.0");
      assert.equal((await get("127.0.0.1", srv.port, "/")).status, 200);
    } finally {
      await srv.close();
    }
  });
});
