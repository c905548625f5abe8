// --web.config.file: exporter-toolkit's format read as those exporters read it (paths relative to
// the file, defaults, every client_auth_type), and every mistake refused with the file, line, key
// and a message saying what to do, before anything listens. Certificates are made by openssl here.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { getCiphers } from "node:tls";
import { formatDiagnostic } from "../../src/config/format.js";
import { ConfigError, ExitCode } from "../../src/errors.js";
import { CIPHER_SUITES, loadWebConfig } from "../../src/server/web-config.js";
import { makeCerts, type TestCerts } from "../support/certs.js";

const HASH = "$2y$10$IP7YRvE95IgdZa9oZHmJLui0eFiZSFEA1z5M/ywTreEVWxtyIkosq";

describe("web configuration file (exporter-toolkit format)", () => {
  let c: TestCerts;
  before(() => {
    c = makeCerts();
  });
  after(() => rmSync(c.dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const f = join(c.dir, name);
    writeFileSync(f, text);
    return f;
  };
  /** The messages a refused file gets, as printed (`file:line:col key: message`), the file as NAME. */
  const refusal = async (text: string): Promise<string[]> => {
    const f = write("web.yml", text);
    const err = await loadWebConfig(f).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError, `refused: ${text}`);
    assert.equal(err.exitCode, ExitCode.CONFIG);
    return err.diagnostics.map((d) => formatDiagnostic("NAME", d).replaceAll(c.dir, "DIR"));
  };

  test("an empty file is plain HTTP without users", async () => {
    const w = await loadWebConfig(write("empty.yml", ""));
    assert.equal(w.tls, undefined);
    assert.equal(w.users.size, 0);
    assert.deepEqual(w.headers, {});
  });

  test("a full file: files relative to it, client auth, ciphers and curves mapped to OpenSSL's names", async () => {
    const w = await loadWebConfig(
      write(
        "full.yml",
        `tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prometheus: "${HASH}"
`,
      ),
    );
    assert.equal(w.tls?.clientAuth, "RequireAndVerifyClientCert");
    assert.match(String(w.tls?.context.cert), /BEGIN CERTIFICATE/);
    assert.match(String(w.tls?.context.ca), /BEGIN CERTIFICATE/);
    assert.equal(w.tls?.context.minVersion, "TLSv1.3");
    assert.equal(w.tls?.context.maxVersion, "TLSv1.3");
    assert.equal(w.tls?.context.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert.equal(w.tls?.context.ecdhCurve, "X25519:P-256");
    assert.deepEqual([...w.users], [["prometheus", HASH]]);
    assert.deepEqual(w.headers, {
      "X-Frame-Options": "deny",
      "Strict-Transport-Security": "max-age=31536000",
    });
  });

  test("defaults: TLS 1.2 to 1.3, no client certificate", async () => {
    const w = await loadWebConfig(
      write("tls.yml", `tls_server_config: {cert_file: ${c.serverCert}, key_file: ${c.serverKey}}\n`),
    );
    assert.equal(w.tls?.clientAuth, "NoClientCert");
    assert.equal(w.tls?.context.minVersion, "TLSv1.2");
    assert.equal(w.tls?.context.maxVersion, "TLSv1.3");
  });

  test("every TLS 1.2 cipher suite name maps to one OpenSSL knows", () => {
    const known = new Set(getCiphers());
    for (const [go, openssl] of Object.entries(CIPHER_SUITES))
      if (openssl !== undefined) assert.ok(known.has(openssl.toLowerCase()), `${go} -> ${openssl}`);
  });

  test("mistakes are refused with file, line, column, key and what to do", async () => {
    const cases: [string, string[]][] = [
      [
        "basic_auth_users:\n  prom: s3cret\n",
        [
          "NAME:2:9 basic_auth_users.prom: expected a bcrypt hash ($2y$10$ followed by 53 characters, e.g. from `htpasswd -nBC 10 '' | tr -d ':\\n'`)",
        ],
      ],
      [
        `basic_auth_users:\n  "a:b": "${HASH}"\n`,
        ["NAME:2:3 basic_auth_users.a:b: a user name cannot contain ':' in HTTP basic authentication"],
      ],
      [
        "tls_server_config:\n  cert_file: x\n  keyfile: y\n",
        ['NAME:3:3 tls_server_config.keyfile: unknown key (did you mean "key_file"?)'],
      ],
      [
        // Loaded, these made every answer fail (node refuses to write them): no scrape, no health.
        'http_server_config:\n  headers:\n    Content-Security-Policy: "default-src \u20ac"\n    Strict-Transport-Security: "max-age=1\\r\\nX-Injected: 1"\n',
        [
          'NAME:4:32 http_server_config.headers.Strict-Transport-Security: cannot be sent in an HTTP header: "max-age=1\\r\\nX-Injected: 1" holds a line break, a control character or a character beyond Latin-1',
          'NAME:3:30 http_server_config.headers.Content-Security-Policy: cannot be sent in an HTTP header: "default-src €" holds a line break, a control character or a character beyond Latin-1',
        ],
      ],
      [
        "rate_limit:\n  interval: 1s\n  burst: 3\n",
        [
          "NAME:1:1 rate_limit: not supported by netprobify: its listener already bounds connections and request sizes (docs/http.md#limits)",
        ],
      ],
      [
        `tls_server_config:\n  cert_file: nope.pem\n  key_file: ${c.serverKey}\n`,
        ["NAME:2:14 tls_server_config.cert_file: cannot read DIR/nope.pem: no such file"],
      ],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.clientKey}\n`,
        [
          "NAME:2:14 tls_server_config.cert_file: the certificate and key cannot be used: error:05800074:x509 certificate routines::key values mismatch",
        ],
      ],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.serverKey}\n  client_ca_file: ${c.caCert}\n`,
        [
          "NAME:4:19 tls_server_config.client_ca_file: a client CA is set but client_auth_type is NoClientCert: set RequireAndVerifyClientCert",
        ],
      ],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.serverKey}\n  client_auth_type: RequireAndVerifyClientCert\n`,
        [
          "NAME:4:21 tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file: the CA that signs the clients' certificates",
        ],
      ],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.serverKey}\n  client_auth_type: RequireAndVerifyClientCertt\n`,
        [
          'NAME:4:21 tls_server_config.client_auth_type: expected one of "NoClientCert", "RequestClientCert", "RequireAnyClientCert", "RequireClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert", got "RequireAndVerifyClientCertt" (did you mean "RequireAndVerifyClientCert"?)',
        ],
      ],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.serverKey}\n  min_version: TLS13\n  max_version: TLS12\n`,
        ["NAME:4:16 tls_server_config.min_version: min_version TLS13 is above max_version TLS12"],
      ],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n`,
        ["NAME:1:1 tls_server_config: TLS needs key_file (or key inline)"],
      ],
      [
        "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        [
          'NAME:3:22 http_server_config.headers.X-Frame-Options: expected one of "deny", "sameorigin", got "allow"',
        ],
      ],
      [
        "http_server_config:\n  headers:\n    X-Powered-By: me\n",
        ["NAME:3:5 http_server_config.headers.X-Powered-By: unknown key"],
      ],
      [
        "basic_auth_users:\n  a: x\n  a: y\n",
        [
          "NAME:3:3 basic_auth_users.a: duplicate key: already defined at line 2; only one definition is allowed",
        ],
      ],
      ["- a\n", ["NAME:1:1 expected a map of web configuration keys at the top level"]],
      [
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.serverKey}\n  client_allowed_sans: [prometheus.lab]\n`,
        [
          "NAME:4:24 tls_server_config.client_allowed_sans: needs a client_auth_type that asks for a certificate: set RequireAndVerifyClientCert",
        ],
      ],
    ];
    for (const [text, expected] of cases) assert.deepEqual(await refusal(text), expected, text);
  });

  test("a client CA file without a certificate is refused", async () => {
    const notCa = write("not-ca.pem", "hello\n");
    assert.deepEqual(
      await refusal(
        `tls_server_config:\n  cert_file: ${c.serverCert}\n  key_file: ${c.serverKey}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${notCa}\n`,
      ),
      ["NAME:5:19 tls_server_config.client_ca_file: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"],
    );
  });
});
