// The listener over TLS as the web configuration asks: real handshakes on loopback with certificates
// made by openssl, bcrypt users, mutual TLS in each client_auth_type, and a reload that changes
// users and certificates for new connections, or is refused whole when it would switch TLS off.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import bcrypt from "bcryptjs";
import { ConfigError } from "../../src/errors.js";
import { type RunningServer, startServer } from "../../src/server/http.js";
import { loadWebConfig, type WebConfig } from "../../src/server/web-config.js";
import { makeCerts, type TestCerts } from "../support/certs.js";
import { basic, type ClientTls, get, tlsGet as tget } from "./client.js";

describe("TLS listener from a web configuration", () => {
  let c: TestCerts;
  let c2: TestCerts;
  let hashA: string;
  let hashB: string;
  before(() => {
    c = makeCerts();
    c2 = makeCerts(); // another CA: a rotated server certificate
    hashA = bcrypt.hashSync("s3cret", 4);
    hashB = bcrypt.hashSync("n3w", 4);
  });
  after(() => {
    rmSync(c.dir, { recursive: true, force: true });
    rmSync(c2.dir, { recursive: true, force: true });
  });

  const webFile = (name: string, text: string): Promise<WebConfig> => {
    const f = join(c.dir, name);
    writeFileSync(f, text);
    return loadWebConfig(f);
  };
  const serve = (web: WebConfig, extra = {}) =>
    startServer({
      address: "127.0.0.1",
      port: 0,
      web,
      metrics: async () => ({ contentType: "text/plain; version=0.0.4; charset=utf-8", body: "up 1\n" }),
      health: () => ({ ok: true, detail: { iterations: 1 } }),
      ...extra,
    });

  describe("TLS with bcrypt users", () => {
    let srv: RunningServer;
    before(async () => {
      srv = await serve(
        await webFile(
          "users.yml",
          `tls_server_config: {cert_file: server.pem, key_file: server.key}
http_server_config: {headers: {X-Frame-Options: deny}}
basic_auth_users: {prometheus: "${hashA}"}
`,
        ),
      );
    });
    after(() => srv.close());

    test("the right password gets /metrics over TLS; none or a wrong one gets 401", async () => {
      assert.equal(srv.tls, true);
      const ok = await tget(srv.port, "/metrics", {
        ca: c.caCert,
        headers: { authorization: basic("prometheus", "s3cret") },
      });
      assert.equal(ok.status, 200);
      assert.equal(ok.body, "up 1\n");
      assert.equal(ok.headers["x-frame-options"], "deny", "http_server_config.headers on the answer");
      const none = await tget(srv.port, "/metrics", { ca: c.caCert });
      assert.equal(none.status, 401);
      assert.match(String(none.headers["www-authenticate"]), /^Basic /);
      for (const [u, p] of [
        ["prometheus", "wrong"],
        ["nobody", "s3cret"],
      ] as const)
        assert.equal(
          (await tget(srv.port, "/metrics", { ca: c.caCert, headers: { authorization: basic(u, p) } }))
            .status,
          401,
        );
    });

    test("/-/healthy and /-/ready need the credentials too; /health stays open, without detail", async () => {
      for (const p of ["/-/healthy", "/-/ready", "/"])
        assert.equal((await tget(srv.port, p, { ca: c.caCert })).status, 401, p);
      const auth = { authorization: basic("prometheus", "s3cret") };
      for (const p of ["/-/healthy", "/-/ready", "/"])
        assert.equal((await tget(srv.port, p, { ca: c.caCert, headers: auth })).status, 200, p);
      const h = await tget(srv.port, "/health", { ca: c.caCert });
      assert.equal(h.status, 200);
      assert.deepEqual(JSON.parse(h.body), { ok: true });
    });

    test("plain HTTP on the TLS port is not served; a client that does not trust the CA fails", async () => {
      await assert.rejects(get("127.0.0.1", srv.port, "/metrics"));
      await assert.rejects(
        tget(srv.port, "/metrics", { ca: c2.caCert }),
        /self.signed|unable to verify|certificate/i,
      );
    });

    test("a reload changes the users for the next request; switching TLS off is refused whole", async () => {
      const next = await webFile(
        "users2.yml",
        `tls_server_config: {cert_file: server.pem, key_file: server.key}\nbasic_auth_users: {prometheus: "${hashB}"}\n`,
      );
      srv.applyWeb(next);
      const as = (p: string) =>
        tget(srv.port, "/metrics", { ca: c.caCert, headers: { authorization: basic("prometheus", p) } });
      assert.equal((await as("s3cret")).status, 401, "the old password no longer works");
      assert.equal((await as("n3w")).status, 200);
      const plain = await webFile("plain.yml", `basic_auth_users: {prometheus: "${hashA}"}\n`);
      assert.throws(
        () => srv.applyWeb(plain),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.diagnostics.map((d) => `${d.path.join(".")}: ${d.message} [${d.rule}]`).join() ===
            "tls_server_config: switching TLS off takes a restart; the running web configuration stays in force [web-restart]",
      );
      assert.equal((await as("n3w")).status, 200, "the running configuration stays");
    });

    test("a reload with a new certificate serves it to new connections", async () => {
      const rotated = await webFile(
        "rotated.yml",
        `tls_server_config: {cert_file: ${c2.serverCert}, key_file: ${c2.serverKey}}\nbasic_auth_users: {prometheus: "${hashB}"}\n`,
      );
      srv.applyWeb(rotated);
      const auth = { authorization: basic("prometheus", "n3w") };
      assert.equal((await tget(srv.port, "/metrics", { ca: c2.caCert, headers: auth })).status, 200);
      await assert.rejects(tget(srv.port, "/metrics", { ca: c.caCert, headers: auth }));
    });
  });

  test("over TLS a connection beyond the cap is closed before the handshake", async () => {
    const srv = await serve(
      await webFile("cap.yml", "tls_server_config: {cert_file: server.pem, key_file: server.key}\n"),
      { limits: { maxConnections: 1 } },
    );
    const held = tlsConnect({ host: "127.0.0.1", port: srv.port, ca: readFileSync(c.caCert) });
    try {
      await once(held, "secureConnect");
      await assert.rejects(tget(srv.port, "/metrics", { ca: c.caCert }));
      assert.equal(srv.refused, 1);
    } finally {
      held.destroy();
      await srv.close();
    }
  });

  describe("mutual TLS", () => {
    const modes = async (clientAuth: string) =>
      serve(
        await webFile(
          `mtls-${clientAuth}.yml`,
          `tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: ${clientAuth}
${clientAuth === "RequireAnyClientCert" ? "" : "  client_ca_file: ca.pem\n"}`,
        ),
      );
    /** Which of: no certificate, the CA's client certificate, a self-signed one, is served. */
    const served = async (srv: RunningServer) => {
      const ok = (o: ClientTls) =>
        tget(srv.port, "/metrics", { ca: c.caCert, ...o }).then(
          (r) => r.status === 200,
          () => false,
        );
      return {
        none: await ok({}),
        good: await ok({ cert: c.clientCert, key: c.clientKey }),
        rogue: await ok({ cert: c.rogueCert, key: c.rogueKey }),
      };
    };

    test("RequireAndVerifyClientCert: only a certificate signed by client_ca_file", async () => {
      const srv = await modes("RequireAndVerifyClientCert");
      try {
        assert.deepEqual(await served(srv), { none: false, good: true, rogue: false });
      } finally {
        await srv.close();
      }
    });

    test("VerifyClientCertIfGiven: none, or a verified one", async () => {
      const srv = await modes("VerifyClientCertIfGiven");
      try {
        assert.deepEqual(await served(srv), { none: true, good: true, rogue: false });
      } finally {
        await srv.close();
      }
    });

    test("RequireAnyClientCert: any certificate, none refused", async () => {
      const srv = await modes("RequireAnyClientCert");
      try {
        assert.deepEqual(await served(srv), { none: false, good: true, rogue: true });
      } finally {
        await srv.close();
      }
    });

    test("client_allowed_sans: the CA's certificate must also carry one of the names", async () => {
      const sans = async (list: string) =>
        serve(
          await webFile(
            "sans.yml",
            `tls_server_config: {cert_file: server.pem, key_file: server.key, client_auth_type: RequireAndVerifyClientCert, client_ca_file: ca.pem, client_allowed_sans: ${list}}\n`,
          ),
        );
      for (const [list, good] of [
        ["[spiffe://lab/prometheus]", true],
        ['["198.18.0.9"]', true],
        ["[other.lab, prometheus.lab]", true],
        ["[spiffe://lab/other, prometheus]", false],
      ] as const) {
        const srv = await sans(list);
        try {
          assert.deepEqual(await served(srv), { none: false, good, rogue: false }, list);
        } finally {
          await srv.close();
        }
      }
    });

    test("a reload from no client certificate to RequireAndVerifyClientCert applies to new connections", async () => {
      const srv = await modes("RequestClientCert");
      try {
        assert.deepEqual(await served(srv), { none: true, good: true, rogue: true });
        srv.applyWeb(
          await webFile(
            "strict.yml",
            "tls_server_config: {cert_file: server.pem, key_file: server.key, client_auth_type: RequireAndVerifyClientCert, client_ca_file: ca.pem}\n",
          ),
        );
        assert.deepEqual(await served(srv), { none: false, good: true, rogue: false });
      } finally {
        await srv.close();
      }
    });
  });
});
