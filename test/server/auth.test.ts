// Basic-auth pieces on their own: which environments turn auth on, which Authorization headers
// parse, and that the checker accepts exactly the right pair.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ExitCode, NetprobifyError } from "../../src/errors.js";
import { authEnvWarning, authFromEnv, basicAuthChecker, parseBasicAuth } from "../../src/server/auth.js";
import { basic } from "./client.js";

describe("authFromEnv", () => {
  test("both PROM_USER and PROM_PASSWORD non-empty: credentials", () => {
    assert.deepEqual(authFromEnv({ PROM_USER: "prom", PROM_PASSWORD: "s3cr:et" }), {
      user: "prom",
      password: "s3cr:et",
    });
  });

  test("only one set, or one empty: no auth, and a warning naming the missing one", () => {
    for (const env of [
      { PROM_USER: "prom" },
      { PROM_PASSWORD: "x" },
      { PROM_USER: "prom", PROM_PASSWORD: "" },
      { PROM_USER: "", PROM_PASSWORD: "x" },
    ]) {
      assert.equal(authFromEnv(env), undefined, JSON.stringify(env));
      assert.match(authEnvWarning(env) ?? "", /WITHOUT authentication/, JSON.stringify(env));
    }
    assert.match(authEnvWarning({ PROM_USER: "prom" })!, /^PROM_USER is set but PROM_PASSWORD is not/);
  });

  test("neither set: no auth and no warning", () => {
    assert.equal(authFromEnv({}), undefined);
    assert.equal(authEnvWarning({}), undefined);
    assert.equal(authEnvWarning({ PROM_USER: "a", PROM_PASSWORD: "b" }), undefined);
  });

  test("a user name with a colon is refused: no client could ever send it", () => {
    assert.throws(
      () => authFromEnv({ PROM_USER: "a:b", PROM_PASSWORD: "x" }),
      (e: unknown) =>
        e instanceof NetprobifyError && e.code === "NPF_PROM_USER_INVALID" && e.exitCode === ExitCode.CONFIG,
    );
  });
});

describe("parseBasicAuth", () => {
  test("well-formed headers, any case of the scheme, colons and UTF-8 in the password", () => {
    assert.deepEqual(parseBasicAuth(basic("u", "p")), { user: "u", password: "p" });
    assert.deepEqual(parseBasicAuth(basic("u", "a:b:c")), { user: "u", password: "a:b:c" });
    assert.deepEqual(parseBasicAuth(basic("", "")), { user: "", password: "" });
    assert.deepEqual(parseBasicAuth(basic("üser", "pässwörd")), { user: "üser", password: "pässwörd" });
    assert.deepEqual(parseBasicAuth(`bAsIc ${Buffer.from("u:p").toString("base64")}`), {
      user: "u",
      password: "p",
    });
  });

  test("malformed headers are undefined, never an exception", () => {
    for (const h of [
      undefined,
      "",
      "Basic",
      "Basic ",
      "Bearer dTpw",
      "Basic !!!!",
      "Basic dTpw=",
      "Basic dTpw dTpw",
      `Basic ${Buffer.from("nocolon").toString("base64")}`,
      "Basic =====",
      `Basic ${"A".repeat(100_000)}`,
    ]) {
      assert.equal(parseBasicAuth(h), undefined, String(h).slice(0, 40));
    }
  });
});

describe("basicAuthChecker", () => {
  const check = basicAuthChecker({ user: "prom", password: "hunter2" });
  test("accepts exactly the right user and password", () => {
    assert.equal(check(basic("prom", "hunter2")), true);
    assert.equal(check(basic("prom", "hunter3")), false);
    assert.equal(check(basic("prom", "hunter2x")), false);
    assert.equal(check(basic("prom", "")), false);
    assert.equal(check(basic("Prom", "hunter2")), false);
    assert.equal(check(basic("promx", "hunter2")), false);
    assert.equal(check(basic("hunter2", "prom")), false);
    assert.equal(check(undefined), false);
    assert.equal(check("Basic ????"), false);
  });

  test("an empty expected pair is not matched by a missing header", () => {
    const empty = basicAuthChecker({ user: "", password: "" });
    assert.equal(empty(undefined), false);
    assert.equal(empty("garbage"), false);
    assert.equal(empty(basic("", "")), true);
  });
});
