// The JSON API (src/web/api.ts) over the real HTTP server (src/server/http.ts): the contract's shapes,
// the /metrics credentials (401 without), gzip when accepted, downsampling and its limits, and the
// daemon's state as WebState hears it.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { startServer } from "../../src/server/http.js";
import { answerApi, MAX_IDS, WebState } from "../../src/web/api.js";
import { iteration, series } from "../metrics/exposition.js";
import { get } from "../server/client.js";
import { ms, webConfig } from "./history.test.js";

const AUTH = { authorization: `Basic ${Buffer.from("u:p").toString("base64")}` };

/** A WebState with the base configuration and `n` iterations 30 s apart starting at unix 1000. */
function fed(n: number, clock = { now: 0 }) {
  const c = webConfig({ retention: 3600 });
  const w = new WebState("9.9", () => clock.now);
  clock.now = 999;
  w.applyConfig(c);
  for (let i = 0; i < n; i++) {
    clock.now = 1000 + i * 30 + 2; // the iteration took 2 s: it started at 1000 + 30 i
    const lossy = i % 2 === 0;
    w.recordIteration(
      c,
      iteration(
        [
          series("web", "g1", {
            sent: 10,
            lost: lossy ? 2 : 0,
            rtts: ms(1, 2, 3, 4, 5, 6, 7, 8, lossy ? 0 : 9, 10).filter((x) => x > 0),
          }),
          series("udp", "g1", { sent: 4, unreachable: 1, unreachableBy: new Map([["3/1", 1]]), late: 1 }),
        ],
        { durationMs: 2000 },
      ),
    );
  }
  return { w, c, clock };
}

const json = (w: WebState, path: string, q = "") => {
  const a = answerApi(w, path, new URLSearchParams(q))!;
  return { status: a.status, body: JSON.parse(a.body) };
};

describe("/api/v1 answers", () => {
  test("status: probe, iteration, reload and one entry per target × group", () => {
    const { w } = fed(3);
    w.setInventory("inv", { targets: 7, lastPublishMs: 5 });
    w.countInventoryError("inv", "crash");
    const { status, body } = json(w, "/api/v1/status");
    assert.equal(status, 200);
    assert.equal(body.probe_name, "lab");
    assert.equal(body.version, "9.9");
    assert.equal(body.interval, 30);
    assert.equal(body.retention_seconds, 3600);
    assert.deepEqual(body.iteration, { count: 3, last_duration_seconds: 2, probes_per_second: 7 });
    assert.deepEqual(body.reload, { failed: false, last_applied: 999 });
    assert.deepEqual(body.inventories, [{ name: "inv", healthy: false, targets: 7, crashes: 1 }]);
    const web = body.targets.find((t: { id: string }) => t.id === "web/g1");
    assert.deepEqual(Object.keys(web).sort(), [
      "description",
      "destination",
      "family",
      "group",
      "id",
      "loss_ratio",
      "loss_ratio_window",
      "rtt_p50",
      "rtt_p95",
      "state",
      "suspect_link",
      "type",
      "worst_rtt_window",
    ]);
    assert.equal(web.type, "TCPsyn");
    assert.equal(web.family, "ipv4");
    assert.equal(web.state, "in production");
    assert.equal(web.loss_ratio, 0.2); // the last iteration (i = 2) was lossy
    assert.equal(web.loss_ratio_window, 0.1333); // 4 lost of 30
    assert.equal(web.rtt_p50, 0.005); // 1..8 and 10 ms
    assert.equal(web.suspect_link, null);
    const udp = body.targets.find((t: { id: string }) => t.id === "udp/g1");
    assert.equal(udp.rtt_p50, null);
    assert.equal(udp.worst_rtt_window, null);
    assert.equal(udp.loss_ratio, 0.25);
  });

  test("history: columns per id, gaps as null, downsampled by sums and weighted means", () => {
    const { w } = fed(10);
    const all = json(w, "/api/v1/history", "ids=web/g1,udp/g1,nope/g1&from=0&to=5000").body;
    assert.deepEqual(Object.keys(all.series).sort(), ["udp/g1", "web/g1"]);
    const web = all.series["web/g1"];
    assert.deepEqual(web.t, [1000, 1030, 1060, 1090, 1120, 1150, 1180, 1210, 1240, 1270]);
    assert.deepEqual(web.lost, [2, 0, 2, 0, 2, 0, 2, 0, 2, 0]);
    assert.deepEqual(Object.keys(web.rtt), ["min", "p10", "p25", "p50", "p75", "p90", "max"]);
    assert.ok(Math.abs(web.rtt.max[0] - 0.01) < 1e-5);
    const udp = all.series["udp/g1"];
    assert.deepEqual(udp.rtt.p50, Array(10).fill(null));
    assert.deepEqual(udp.errors, Array(10).fill(1));
    // 10 iterations in 3 buckets: 3, 3, 4 iterations
    const d = json(w, "/api/v1/history", "ids=web/g1&from=0&to=5000&points=3").body.series["web/g1"];
    assert.deepEqual(d.t, [1000, 1090, 1180]);
    assert.deepEqual(d.sent, [30, 30, 40]);
    assert.deepEqual(d.lost, [4, 2, 4]);
    // bucket 0: iterations 0, 1, 2 weighted 8, 10, 8 answered; max of maxes, min of mins
    assert.ok(Math.abs(d.rtt.max[0] - 0.01) < 1e-5);
    assert.ok(Math.abs(d.rtt.min[0] - 0.001) < 1e-6);
    // a window: only the iterations that started in [from, to]
    const win = json(w, "/api/v1/history", "ids=web/g1&from=1030&to=1090").body.series["web/g1"];
    assert.deepEqual(win.t, [1030, 1060, 1090]);
  });

  test("history refuses what it cannot answer", () => {
    const { w } = fed(1);
    assert.equal(json(w, "/api/v1/history", "").status, 400);
    const many = Array.from({ length: MAX_IDS + 1 }, (_, i) => `t${i}/g`).join(",");
    assert.equal(json(w, "/api/v1/history", `ids=${many}`).status, 400);
    assert.equal(json(w, "/api/v1/history", "ids=web/g1&points=0").status, 400);
    assert.equal(json(w, "/api/v1/history", "ids=web/g1&from=10&to=5").status, 400);
    assert.equal(answerApi(w, "/api/v1/nothing", new URLSearchParams()), undefined);
  });

  test("target: the status entry, configuration, ICMP errors, late, duplicates", () => {
    const { w } = fed(2);
    const { status, body } = json(w, "/api/v1/target", "id=udp/g1");
    assert.equal(status, 200);
    assert.equal(body.id, "udp/g1");
    assert.equal(body.config.dst_port, 33434);
    assert.equal(body.config.type, "UDPunreachable");
    assert.deepEqual(body.icmp_errors, { "3/1": 2 });
    assert.equal(body.late, 2);
    assert.equal(body.duplicates, 0);
    assert.equal(body.flows, null);
    assert.equal(body.paths, null);
    assert.equal(json(w, "/api/v1/target", "id=web/nope").status, 404);
  });

  test("a reload keeps unchanged targets' history and the failed state shows", () => {
    const { w, clock } = fed(2);
    clock.now = 2000;
    w.setReloadConfFailed(true);
    w.applyConfig(webConfig({ retention: 3600, body: undefined }));
    const body = json(w, "/api/v1/status").body;
    assert.equal(body.reload.failed, true);
    assert.equal(body.reload.last_applied, 2000);
    const h = json(w, "/api/v1/history", "ids=web/g1&from=0&to=5000").body.series["web/g1"];
    assert.equal(h.t.length, 2);
  });
});

describe("/api/v1 over HTTP", () => {
  let port = 0;
  let close: () => Promise<void> = async () => {};
  before(async () => {
    const { w } = fed(120);
    const s = await startServer({
      address: "127.0.0.1",
      port: 0,
      auth: { user: "u", password: "p" },
      metrics: async () => ({ contentType: "text/plain", body: "" }),
      health: () => ({ ok: true, detail: {} }),
      api: (path, q) => answerApi(w, path, q),
    });
    port = s.port;
    close = () => s.close();
  });
  after(() => close());

  test("same credentials as /metrics: 401 without", async () => {
    assert.equal((await get("127.0.0.1", port, "/api/v1/status")).status, 401);
    const r = await get("127.0.0.1", port, "/api/v1/status", { headers: AUTH });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^application\/json/);
    assert.equal(JSON.parse(r.body).targets.length, 2);
  });

  test("gzip when accepted; 404 for unknown routes, 405 for other methods", async () => {
    const raw = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/api/v1/history?ids=web/g1,udp/g1&from=0&to=99999",
          headers: { ...AUTH, "accept-encoding": "gzip" },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(raw.headers["content-encoding"], "gzip");
    assert.equal(JSON.parse(gunzipSync(raw.body).toString()).series["web/g1"].t.length, 120);
    assert.equal((await get("127.0.0.1", port, "/api/v1/nope", { headers: AUTH })).status, 404);
    assert.equal(
      (await get("127.0.0.1", port, "/api/v1/status", { headers: AUTH, method: "POST" })).status,
      405,
    );
  });
});
