// Fuzz of the HTTP listener with raw requests over loopback, beyond the cases tested one by one:
// odd methods, request targets (absolute form, `*`, `//`, dot segments, bad percent-encoding, huge or
// non-ASCII paths, the API's parameters at their edges), versions, and headers (Authorization,
// Accept, Accept-Encoding, Content-Length and Transfer-Encoding lies, Expect, Upgrade), with bodies
// that fit, lie or never come. The server runs the real metrics, status-page API and paths document
// behind credentials. Every request must be answered with a status a client can act on (never 500)
// or the connection closed, within the server's own timeouts; nothing may be logged as an error; and
// a well-formed scrape after each case is served. FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> sizes it.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { loadConfigText } from "../../src/config/load.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { type RunningServer, startServer } from "../../src/server/http.js";
import { landingPage } from "../../src/server/landing.js";
import { answerApi, WebState } from "../../src/web/api.js";
import { basic, get } from "./client.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const AUTH = { user: "u", password: "p:ä" };
const GOOD = basic(AUTH.user, AUTH.password);
/** What a client can act on (100: the interim answer to Expect); 500 would be the server's own failure. */
const ANSWERS = new Set([100, 200, 400, 401, 404, 405, 408, 413, 414, 417, 431, 501, 503, 505]);

const METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
  "TRACE",
  "CONNECT",
  "PATCH",
  "PRI",
  "get",
  "GE T",
  "X".repeat(300),
];
const TARGETS = [
  "/",
  "/metrics",
  "//metrics",
  "///",
  "/metrics?",
  "/metrics?a=1&a=2",
  "/metrics#frag",
  "/metrics/",
  "/METRICS",
  "/%",
  "/%zz",
  "/%00",
  "/%2e%2e/metrics",
  "/../metrics",
  "/./metrics",
  "*",
  "",
  "http://x/metrics",
  "https://u:p@x:99999/metrics",
  "http://[::1/metrics",
  "/health",
  "/-/healthy",
  "/-/ready",
  "/-/reload",
  "/paths",
  "/static/",
  "/static/../../etc/passwd",
  "/static/%2e%2e/x",
  "/static/app.js",
  "/api/v1/status",
  "/api/v1/status?x=%ff",
  "/api/v1/history",
  "/api/v1/history?ids=",
  "/api/v1/history?ids=a,b,,c",
  "/api/v1/history?ids=x&from=-1e308&to=1e308",
  "/api/v1/history?ids=x&from=NaN",
  "/api/v1/history?ids=x&from=5&to=1",
  "/api/v1/history?ids=x&points=1e9",
  "/api/v1/history?ids=x&points=0.5",
  "/api/v1/history?ids=x&points=-1",
  "/api/v1/history?ids=x&to=Infinity",
  `/api/v1/history?ids=${"a,".repeat(3000)}`,
  "/api/v1/target",
  "/api/v1/target?id=__proto__",
  "/api/v1/target?id=constructor",
  "/api/v1/target?id=%F0%9F%98%80",
  "/api/v1/",
  "/api/v2/status",
  "/\u00e9",
  "/\u0000",
  "/\r",
  `/${"a".repeat(7000)}`,
  `/metrics?${"q=1&".repeat(1500)}`,
];
const VERSIONS = [
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/0.9",
  "HTTP/9.9",
  "",
  "HTTP/1.1x",
  "http/1.1",
];
const HEADERS: [string, string[]][] = [
  [
    "Authorization",
    [
      GOOD,
      GOOD,
      GOOD,
      "Basic",
      "Basic ",
      "Basic !!!",
      "Basic dTo=",
      `basic ${GOOD.slice(6)}`,
      "Bearer x",
      `Basic ${"A".repeat(6000)}`,
      "Basic dTpwOsOk\u0000",
      `${GOOD}, ${GOOD}`,
    ],
  ],
  [
    "Accept",
    [
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
      "application/openmetrics-text;version=1.0.0;q=NaN",
      "*/*;q=-1",
      "text/plain;q=0, application/openmetrics-text;q=0",
      "application/openmetrics-text;version=0.0.1",
      ";;;,,,",
      "x".repeat(4000),
      "application/openmetrics-text; version=1.0.0; q=1e400",
    ],
  ],
  [
    "Accept-Encoding",
    ["gzip", "gzip;q=0", "gzip;q=nan", "*", "GZIP", "br, gzip;q=1e400", "identity;q=0", ",,"],
  ],
  ["Content-Length", ["0", "5", "-1", "abc", "1e3", "99999999999999999999", "5, 6"]],
  ["Transfer-Encoding", ["chunked", "gzip, chunked", "chunked, identity", "identity", "xchunked"]],
  ["Expect", ["100-continue", "nonsense"]],
  ["Connection", ["close", "keep-alive", "upgrade", "Upgrade, HTTP2-Settings"]],
  ["Upgrade", ["websocket", "h2c"]],
  ["Range", ["bytes=0-1", "bytes=-1"]],
  ["X-Forwarded-For", ["1.2.3.4"]],
];
const BODIES = ["", "", "hello", "0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n", "x".repeat(70_000)];

const request = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...METHODS.slice(0, 2)) },
    { weight: 4, arbitrary: fc.constantFrom(...METHODS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  ),
  target: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...TARGETS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => `/${s}`) },
  ),
  version: fc.oneof(
    { weight: 8, arbitrary: fc.constant("HTTP/1.1") },
    { weight: 2, arbitrary: fc.constantFrom(...VERSIONS) },
  ),
  /** Without Host and the right credentials most requests end at 400 or 401: mostly sent. */
  host: fc.nat(9),
  auth: fc.nat(9),
  headers: fc.array(fc.tuple(fc.nat(HEADERS.length - 1), fc.nat()), { maxLength: 3 }),
  body: fc.oneof(
    { weight: 6, arbitrary: fc.constant("") },
    { weight: 2, arbitrary: fc.constantFrom(...BODIES) },
  ),
  /** Sends the request in two parts, the second after a pause (a client that dribbles). */
  split: fc.option(fc.nat(), { nil: undefined }),
});

type Request = typeof request extends fc.Arbitrary<infer R> ? R : never;

function bytes(r: Request): Buffer {
  const lines = [`${r.method} ${r.target} ${r.version}`.replace(/ +$/, "")];
  if (r.host > 0)
    lines.push(`Host: ${["127.0.0.1", "127.0.0.1", "", "x:99999", "[::1]", "a b"][r.host % 6]}`);
  if (r.auth > 2) lines.push(`Authorization: ${GOOD}`);
  for (const [h, v] of r.headers) {
    const [name, values] = HEADERS[h]!;
    lines.push(`${name}: ${values[v % values.length]}`);
  }
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${r.body}`, "latin1");
}

/** Sends raw bytes, half-closes, and reads until the server closes: the status codes it answered. */
function exchange(port: number, data: Buffer, split: number | undefined): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const hang = setTimeout(() => {
      s.destroy();
      reject(
        new Error(
          `no answer nor close within 10 s for ${JSON.stringify(data.toString("latin1").slice(0, 300))}`,
        ),
      );
    }, 10_000);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", () => {}); // a reset after the answer is an ending too
    s.on("close", () => {
      clearTimeout(hang);
      const text = Buffer.concat(chunks).toString("latin1");
      resolve([...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])));
    });
    s.on("connect", () => {
      if (split === undefined) {
        s.end(data);
        return;
      }
      const at = split % (data.length + 1);
      s.write(data.subarray(0, at));
      setTimeout(() => s.end(data.subarray(at)), 20);
    });
  });
}

describe(`HTTP request fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  let srv: RunningServer;
  const errors: string[] = [];
  before(async () => {
    const config = loadConfigText(
      "/etc/netprobify.yaml",
      "global: {probe_name: fuzz, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: 9000, dns_update_interval: 0}\ngroups: {g: {}}\ntargets:\n  a: {type: ICMPping, destination: 198.18.1.1}\n",
    );
    const metrics = new Metrics({ version: "fuzz", processMetrics: false });
    metrics.applyConfig(config);
    const state = new WebState("fuzz");
    state.applyConfig(config);
    srv = await startServer({
      address: "127.0.0.1",
      port: 0,
      auth: AUTH,
      metrics: (format) => metrics.snapshot(format),
      health: () => ({ ok: true, detail: { iterations: 1 } }),
      ready: () => true,
      reload: async () => ({ ok: false, message: "refused", status: 500 }),
      paths: () => ({ enabled: false, incidents: [] }),
      api: (path, query) => answerApi(state, path, query),
      landing: landingPage("fuzz", "fuzz"),
      log: (level, msg, fields) => {
        if (level === "error" || level === "warn") errors.push(`${level}: ${msg} ${JSON.stringify(fields)}`);
      },
      timeouts: { headersMs: 2000, requestMs: 3000, keepAliveMs: 500 },
    });
  });
  after(() => srv.close());

  test(`${RUNS} raw requests: answered with a status a client can act on, or closed; scrapes go on`, async (t) => {
    console.log(`HTTP request fuzz: FUZZ_SEED=${SEED}`);
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const statuses = await exchange(srv.port, bytes(r), r.split);
        for (const s of statuses) {
          seen.set(s, (seen.get(s) ?? 0) + 1);
          // /-/reload answers the reload's own outcome (500 when it failed): that is not the server's fault
          if (s === 500 && r.target === "/-/reload") continue;
          assert.ok(ANSWERS.has(s), `status ${s}`);
        }
        assert.deepEqual(errors, [], "nothing logged as an error");
        const scrape = await get("127.0.0.1", srv.port, "/metrics", { headers: { authorization: GOOD } });
        assert.equal(scrape.status, 200);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(`seed ${SEED}: statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  });
});
