// The listener's life: binding failures that must stop the daemon (typed errors, exit codes),
// slow clients cut off by the timeouts, and close() that does not wait for keep-alive clients.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Agent } from "node:http";
import { describe, test } from "node:test";
import { ExitCode, NetprobifyError } from "../../src/errors.js";
import { type ServerOptions, startServer } from "../../src/server/http.js";
import { listenError } from "../../src/server/listen-errors.js";
import { REPO } from "../support/paths.js";
import { get, raw } from "./client.js";

function options(over: Partial<ServerOptions> = {}): ServerOptions {
  return {
    address: "127.0.0.1",
    port: 0,
    metrics: async () => ({ contentType: "text/plain; version=0.0.4", body: "up 1\n" }),
    health: () => ({ ok: true, detail: {} }),
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<NetprobifyError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof NetprobifyError, `not a NetprobifyError: ${e}`);
    return e;
  }
  assert.fail("expected a rejection");
}

describe("binding errors", () => {
  test("port already in use: NPF_PORT_IN_USE, exit 69, address:port in the message; the first keeps serving", async () => {
    const first = await startServer(options());
    try {
      const e = await rejection(startServer(options({ port: first.port })));
      assert.equal(e.code, "NPF_PORT_IN_USE");
      assert.equal(e.exitCode, ExitCode.UNAVAILABLE);
      assert.equal(e.exitCode, 69);
      assert.ok(e.message.includes(`127.0.0.1:${first.port}`), e.message);
      assert.match(e.message, /already in use/);
      assert.match(e.message, /prometheus_port/);
      assert.equal((e.cause as { code: string }).code, "EADDRINUSE");
      assert.equal((await get("127.0.0.1", first.port, "/metrics")).status, 200);
    } finally {
      await first.close();
    }
  });

  test("the wildcard on a port held on 127.0.0.1 is in use too; IPv6 is bracketed", async () => {
    const first = await startServer(options());
    try {
      const e = await rejection(startServer(options({ address: "::", port: first.port })));
      assert.equal(e.code, "NPF_PORT_IN_USE");
      assert.ok(e.message.includes(`[::]:${first.port}`), e.message);
    } finally {
      await first.close();
    }
  });

  test("an address this machine does not have: NPF_ADDRESS_NOT_AVAILABLE, exit 69", async () => {
    // Lab range (RFC 2544) address that no interface carries: bind fails before any packet.
    for (const address of ["198.18.0.1", "fd18::1"]) {
      const e = await rejection(startServer(options({ address })));
      assert.equal(e.code, "NPF_ADDRESS_NOT_AVAILABLE", address);
      assert.equal(e.exitCode, ExitCode.UNAVAILABLE);
      assert.match(e.message, /prometheus_address/);
    }
  });

  test("a port out of range: NPF_LISTEN_FAILED, exit 69", async () => {
    const e = await rejection(startServer(options({ port: 70_000 })));
    assert.equal(e.code, "NPF_LISTEN_FAILED");
    assert.equal(e.exitCode, ExitCode.UNAVAILABLE);
    assert.match(e.message, /127\.0\.0\.1:70000/);
  });

  test("EACCES maps to NPF_PORT_ACCESS_DENIED, exit 77", () => {
    const errno = Object.assign(new Error("listen EACCES: permission denied 0.0.0.0:80"), { code: "EACCES" });
    const e = listenError(errno, "0.0.0.0", 80);
    assert.equal(e.code, "NPF_PORT_ACCESS_DENIED");
    assert.equal(e.exitCode, ExitCode.NOPERM);
    assert.match(e.message, /0\.0\.0\.0:80/);
    assert.match(e.message, /CAP_NET_BIND_SERVICE/);
  });

  test("port 80 without CAP_NET_BIND_SERVICE (root: a child drops it, staying uid 0 so it can read a 0700 checkout): NPF_PORT_ACCESS_DENIED", () => {
    const url = new URL("dist/src/server/http.js", `file://${REPO}`).href;
    const script = `
      const { startServer } = await import(${JSON.stringify(url)});
      try {
        const s = await startServer({ address: "127.0.0.1", port: 80, metrics: async () => ({}), health: () => ({}) });
        await s.close();
        console.log(JSON.stringify({ bound: true }));
      } catch (e) {
        console.log(JSON.stringify({ code: e.code, exitCode: e.exitCode, message: e.message }));
      }`;
    // Binding below 1024 needs CAP_NET_BIND_SERVICE (sysctl net.ipv4.ip_unprivileged_port_start is per
    // network namespace: the lab's fresh one has the default 1024).
    const dropCap =
      process.getuid?.() === 0
        ? ["setpriv", "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service"]
        : [];
    const argv = [...dropCap, process.execPath, "--input-type=module", "-e", script];
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.code, "NPF_PORT_ACCESS_DENIED", r.stdout);
    assert.equal(out.exitCode, 77);
    assert.match(out.message, /127\.0\.0\.1:80/);
  });
});

describe("timeouts and shutdown", () => {
  test("close() with an idle keep-alive connection open returns at once and closes it", async () => {
    const srv = await startServer(options());
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const r = await get("127.0.0.1", srv.port, "/metrics", { agent });
      assert.equal(r.status, 200);
      const sockets = Object.values(agent.freeSockets).flat();
      assert.equal(sockets.length, 1, "the client keeps its connection");
      // The agent unrefs its idle sockets; ref it so waiting for its close keeps the test alive.
      sockets[0]!.ref();
      const closed = new Promise<void>((resolve) => sockets[0]!.once("close", () => resolve()));
      const t0 = performance.now();
      await srv.close();
      const ms = performance.now() - t0;
      assert.ok(ms < 300, `close took ${ms.toFixed(1)} ms`);
      await closed;
      await assert.rejects(get("127.0.0.1", srv.port, "/metrics"), /ECONNREFUSED/);
    } finally {
      agent.destroy();
    }
  });

  test("close() during a slow scrape waits the grace time, then cuts it", async () => {
    let started!: () => void;
    const inScrape = new Promise<void>((r) => {
      started = r;
    });
    const srv = await startServer(
      options({
        timeouts: { closeGraceMs: 200 },
        metrics: () => {
          started();
          return new Promise(() => {}); // never answers
        },
      }),
    );
    const reply = get("127.0.0.1", srv.port, "/metrics").then(
      () => "answered",
      (e: NodeJS.ErrnoException) => e.code,
    );
    await inScrape;
    const t0 = performance.now();
    await srv.close();
    const ms = performance.now() - t0;
    assert.ok(ms >= 150 && ms < 1_000, `close took ${ms.toFixed(1)} ms`);
    assert.equal(await reply, "ECONNRESET");
  });

  test("a client that never finishes its headers is answered 408 and dropped", async () => {
    const srv = await startServer(options({ timeouts: { headersMs: 300 } }));
    try {
      const r = await raw("127.0.0.1", srv.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
      assert.match(r.text, /^HTTP\/1\.1 408 /);
      assert.ok(r.ms >= 250 && r.ms < 2_000, `dropped after ${r.ms.toFixed(0)} ms`);
      assert.equal((await get("127.0.0.1", srv.port, "/metrics")).status, 200);
    } finally {
      await srv.close();
    }
  });

  test("an idle keep-alive connection is closed by the server after keepAliveMs", async () => {
    const srv = await startServer(options({ timeouts: { keepAliveMs: 200 } }));
    try {
      const r = await raw("127.0.0.1", srv.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.match(r.text, /^HTTP\/1\.1 200 /);
      assert.match(r.text, /Keep-Alive: timeout=/);
      assert.ok(r.ms >= 150 && r.ms < 2_000, `closed after ${r.ms.toFixed(0)} ms`);
    } finally {
      await srv.close();
    }
  });
});
