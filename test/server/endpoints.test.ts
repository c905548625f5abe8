// The routes exporter users expect besides /metrics: /-/healthy, /-/ready (503 until the first
// iteration), POST /-/reload answered with the reload's outcome, all behind the credentials as in
// exporter-toolkit; OpenMetrics for a scraper that asks for it as Prometheus does; bcrypt verdicts
// remembered so that a scrape does not pay bcrypt every time.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { authorizer } from "../../src/server/auth.js";
import { BcryptUsers } from "../../src/server/bcrypt-users.js";
import { type ReloadOutcome, type RunningServer, startServer } from "../../src/server/http.js";
import { negotiateFormat } from "../../src/server/negotiate.js";
import { basic, get } from "./client.js";

/** What Prometheus 2.42 (Debian 12) sends; later versions rank the same types in the same order. */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

describe("/-/healthy, /-/ready, /-/reload", () => {
  let srv: RunningServer;
  let ready = false;
  let outcome: ReloadOutcome = { ok: true, message: "configuration reloaded" };
  let reloads = 0;
  const formats: string[] = [];
  before(async () => {
    srv = await startServer({
      address: "127.0.0.1",
      port: 0,
      metrics: async (format) => {
        formats.push(format);
        return { contentType: `type/${format}`, body: `${format}\n` };
      },
      health: () => ({ ok: true, detail: {} }),
      ready: () => ready,
      reload: async () => {
        reloads++;
        return outcome;
      },
    });
  });
  after(() => srv.close());

  test("/-/healthy is 200 while serving; /-/ready 503 until the first iteration, then 200", async () => {
    assert.equal((await get("127.0.0.1", srv.port, "/-/healthy")).status, 200);
    const before = await get("127.0.0.1", srv.port, "/-/ready");
    assert.equal(before.status, 503);
    assert.match(before.body, /first iteration/);
    ready = true;
    assert.equal((await get("127.0.0.1", srv.port, "/-/ready")).status, 200);
    assert.equal((await get("127.0.0.1", srv.port, "/-/ready", { method: "HEAD" })).status, 200);
  });

  test("POST and PUT /-/reload reload and answer the outcome; GET is 405", async () => {
    outcome = { ok: true, message: "configuration reloaded" };
    let r = await get("127.0.0.1", srv.port, "/-/reload", { method: "POST" });
    assert.equal(r.status, 200);
    assert.equal(r.body, "configuration reloaded\n");
    assert.equal((await get("127.0.0.1", srv.port, "/-/reload", { method: "PUT" })).status, 200);
    outcome = { ok: false, message: "configuration refused" };
    r = await get("127.0.0.1", srv.port, "/-/reload", { method: "POST" });
    assert.equal(r.status, 500);
    assert.equal(r.body, "configuration refused\n");
    outcome = { ok: true, status: 202, message: "requested" };
    assert.equal((await get("127.0.0.1", srv.port, "/-/reload", { method: "POST" })).status, 202);
    assert.equal(reloads, 4);
    r = await get("127.0.0.1", srv.port, "/-/reload");
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "POST, PUT");
    assert.equal(reloads, 4, "a GET reloads nothing");
    r = await get("127.0.0.1", srv.port, "/-/healthy", { method: "POST" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "GET, HEAD");
  });

  test("OpenMetrics for Prometheus's Accept header; the text format for anyone else", async () => {
    formats.length = 0;
    const om = await get("127.0.0.1", srv.port, "/metrics", { headers: { accept: PROMETHEUS_ACCEPT } });
    assert.equal(om.headers["content-type"], "type/openmetrics");
    assert.equal(om.headers.vary, "Accept, Accept-Encoding");
    assert.equal((await get("127.0.0.1", srv.port, "/metrics")).headers["content-type"], "type/text");
    assert.equal(
      (await get("127.0.0.1", srv.port, "/metrics", { headers: { accept: "*/*" } })).headers["content-type"],
      "type/text",
    );
    assert.deepEqual(formats, ["openmetrics", "text", "text"]);
  });
});

test("without a reload callback /-/reload is 404", async () => {
  const srv = await startServer({
    address: "127.0.0.1",
    port: 0,
    metrics: async () => ({ contentType: "text/plain", body: "up 1\n" }),
    health: () => ({ ok: true, detail: {} }),
  });
  try {
    assert.equal((await get("127.0.0.1", srv.port, "/-/reload", { method: "POST" })).status, 404);
  } finally {
    await srv.close();
  }
});

test("with credentials required, every new route asks for them (exporter-toolkit's rule)", async () => {
  let reloads = 0;
  const srv = await startServer({
    address: "127.0.0.1",
    port: 0,
    auth: { user: "prom", password: "pw" },
    metrics: async () => ({ contentType: "text/plain", body: "up 1\n" }),
    health: () => ({ ok: true, detail: {} }),
    reload: async () => {
      reloads++;
      return { ok: true, message: "ok" };
    },
  });
  try {
    for (const [p, method] of [
      ["/-/healthy", "GET"],
      ["/-/ready", "GET"],
      ["/-/reload", "POST"],
    ] as const) {
      assert.equal((await get("127.0.0.1", srv.port, p, { method })).status, 401, p);
      const r = await get("127.0.0.1", srv.port, p, {
        method,
        headers: { authorization: basic("prom", "pw") },
      });
      assert.equal(r.status, 200, p);
    }
    assert.equal(reloads, 1, "an unauthenticated POST reloads nothing");
  } finally {
    await srv.close();
  }
});

test("negotiateFormat: OpenMetrics only when named and preferred", () => {
  assert.equal(negotiateFormat(PROMETHEUS_ACCEPT), "openmetrics");
  assert.equal(negotiateFormat("application/openmetrics-text"), "openmetrics");
  assert.equal(negotiateFormat("application/openmetrics-text;version=0.0.1"), "openmetrics");
  assert.equal(negotiateFormat("application/openmetrics-text;version=2.0.0"), "text");
  assert.equal(negotiateFormat("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"), "text");
  assert.equal(negotiateFormat("application/openmetrics-text;q=0"), "text");
  assert.equal(negotiateFormat("*/*"), "text");
  assert.equal(negotiateFormat(undefined), "text");
  assert.equal(negotiateFormat(";;,=,q=x"), "text");
});

describe("bcrypt users", () => {
  const hash = bcrypt.hashSync("s3cret", 4);

  test("a verdict is remembered: many scrapes, one bcrypt comparison each for right and wrong", async () => {
    const users = new BcryptUsers(new Map([["prom", hash]]));
    for (let i = 0; i < 20; i++) {
      assert.equal(await users.check("prom", "s3cret"), true);
      assert.equal(await users.check("prom", "wrong"), false);
    }
    assert.equal(users.compares, 2);
  });

  test("an unknown user pays a comparison too (against another user's hash) and is refused", async () => {
    const users = new BcryptUsers(new Map([["prom", hash]]));
    assert.equal(await users.check("nobody", "s3cret"), false, "even with a known user's password");
    assert.equal(users.compares, 1);
  });

  test("concurrent checks of the same credentials share one comparison", async () => {
    const users = new BcryptUsers(new Map([["prom", hash]]));
    const all = await Promise.all(Array.from({ length: 10 }, () => users.check("prom", "s3cret")));
    assert.deepEqual(all, Array(10).fill(true));
    assert.equal(users.compares, 1);
  });

  test("$2a$, $2b$ and $2y$ hashes (bcryptjs, Python, htpasswd) verify alike", async () => {
    const body = hash.slice(4);
    for (const prefix of ["$2a$", "$2b$", "$2y$"]) {
      const users = new BcryptUsers(new Map([["prom", prefix + body]]));
      assert.equal(await users.check("prom", "s3cret"), true, prefix);
    }
  });

  test("PROM_USER/PROM_PASSWORD and basic_auth_users are both accepted", async () => {
    const check = authorizer({ user: "env", password: "pw" }, new BcryptUsers(new Map([["prom", hash]])))!;
    assert.equal(await check(basic("env", "pw")), true);
    assert.equal(await check(basic("prom", "s3cret")), true);
    assert.equal(await check(basic("prom", "pw")), false);
    assert.equal(await check(undefined), false);
    assert.equal(authorizer(undefined, new BcryptUsers(new Map())), undefined, "nobody: no authentication");
  });
});
