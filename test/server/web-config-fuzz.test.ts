// Fuzz of the web configuration file (--web.config.file, exporter-toolkit format): a full, valid
// file (TLS with a client CA, ciphers, curves, headers, bcrypt users; real certificates made by
// openssl) edited key by key with edge values (wrong types, unknown names, missing or non-PEM files,
// maps that break a careless String()) and mutated byte by byte (test/support/config-mutations.ts).
// Each must load or be refused with a ConfigError whose errors all name a line: never another
// exception (OpenSSL's own errors included). FUZZ_SEED=<n> replays a run, FUZZ_RUNS=<n> sizes it.
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { parse, stringify } from "yaml";
import { ConfigError } from "../../src/errors.js";
import { loadWebConfig } from "../../src/server/web-config.js";
import { makeCerts, type TestCerts } from "../support/certs.js";
import { apply, mutation } from "../support/config-mutations.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const HASH = "$2y$10$IP7YRvE95IgdZa9oZHmJLui0eFiZSFEA1z5M/ywTreEVWxtyIkosq";

const PLACES: [string, string][] = [
  ["tls_server_config", "cert_file"],
  ["tls_server_config", "key_file"],
  ["tls_server_config", "client_auth_type"],
  ["tls_server_config", "client_ca_file"],
  ["tls_server_config", "min_version"],
  ["tls_server_config", "max_version"],
  ["tls_server_config", "cipher_suites"],
  ["tls_server_config", "curve_preferences"],
  ["tls_server_config", "client_allowed_sans"],
  ["tls_server_config", "prefer_server_cipher_suites"],
  ["tls_server_config", "cert"],
  ["tls_server_config", "key"],
  ["http_server_config", "http2"],
  ["http_server_config", "headers"],
  ["basic_auth_users", "prometheus"],
  ["basic_auth_users", "a:b"],
  ["rate_limit", "interval"],
  ["x", "y"],
];
const VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e9,
  Number.NaN,
  "",
  "x",
  "ca.pem",
  "server.pem",
  "server.key",
  "/nonexistent/x.pem",
  "/dev/null",
  "/etc",
  "TLS10",
  "TLS11",
  "TLS12",
  "TLS13",
  "TLS14",
  "RequireAndVerifyClientCert",
  "RequireAnyClientCert",
  "VerifyClientCertIfGiven",
  "NoClientCert",
  "Nope",
  [],
  ["X25519"],
  ["CurveP521", "nope"],
  ["TLS_AES_128_GCM_SHA256"],
  ["TLS_RSA_WITH_RC4_128_SHA"],
  [null],
  ["a.example", "198.18.0.1"],
  {},
  { "X-A": "b" },
  { "Content-Type": "x" },
  { "X-Bad\n": "v" },
  { "X-A": "v\r\nInjected: 1" },
  { toString: 1 },
  HASH,
  `${HASH}x`,
  "$2a$04$short",
];

describe(`web configuration fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  let c: TestCerts;
  let base: string;
  before(() => {
    c = makeCerts();
    base = `tls_server_config:
  cert_file: ${c.serverCert}
  key_file: ${c.serverKey}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ${c.caCert}
  min_version: TLS12
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
http_server_config:
  headers:
    X-Frame-Options: deny
basic_auth_users:
  prometheus: "${HASH}"
`;
  });
  after(() => rmSync(c.dir, { recursive: true, force: true }));

  const edits = fc.array(fc.tuple(fc.nat(PLACES.length - 1), fc.constantFrom(...VALUES)), {
    minLength: 1,
    maxLength: 3,
  });
  const files = fc.oneof(
    edits.map((list) => {
      const doc = parse(base) as Record<string, Record<string, unknown>>;
      for (const [p, v] of list) {
        const [section, key] = PLACES[p]!;
        if (doc[section] === null || typeof doc[section] !== "object") doc[section] = {};
        doc[section][key] = structuredClone(v);
      }
      return Buffer.from(stringify(doc));
    }),
    fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => ms.reduce(apply, Buffer.from(base))),
  );

  test(`${RUNS} web configurations: loaded, or refused with every error at a line`, async (t) => {
    console.log(`web configuration fuzz: FUZZ_SEED=${SEED}`);
    const file = join(c.dir, "web.yml");
    let loaded = 0;
    await fc.assert(
      fc.asyncProperty(files, async (content) => {
        writeFileSync(file, content);
        try {
          await loadWebConfig(file);
          loaded++;
        } catch (err) {
          assert.ok(err instanceof ConfigError, `not a ConfigError: ${(err as Error)?.stack ?? err}`);
          const errors = err.diagnostics.filter((d) => d.severity === "error");
          assert.ok(errors.length > 0);
          for (const d of errors) {
            assert.notEqual(d.rule, "internal", d.message);
            assert.ok(d.pos && d.pos.line >= 1, `no line: ${d.message}`);
          }
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(`seed ${SEED}: ${loaded} of ${RUNS} loaded`);
    assert.ok(loaded > 0);
  });
});
