// HTTP basic authentication for the metrics listener. Users of the original netprobify protect
// /metrics by setting PROM_USER and PROM_PASSWORD; this module turns that environment into
// credentials and checks Authorization headers against them without leaking, through timing, how
// much of a guess was right or how long the expected values are.
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, NetprobifyError } from "../errors.js";

export interface BasicAuth {
  user: string;
  password: string;
}

/** The value of the WWW-Authenticate header of a 401 answer (RFC 7617, with the charset parameter). */
export const WWW_AUTHENTICATE = 'Basic realm="netprobify", charset="UTF-8"';

type Env = Record<string, string | undefined>;

/**
 * The credentials the listener requires: present only when PROM_USER and PROM_PASSWORD are both set
 * and non-empty (the original's rule). A user name with a colon cannot be sent in basic auth
 * (RFC 7617 §2), so nobody could ever log in: that is refused loudly rather than served silently.
 */
export function authFromEnv(env: Env): BasicAuth | undefined {
  const user = env.PROM_USER ?? "";
  const password = env.PROM_PASSWORD ?? "";
  if (user === "" || password === "") return undefined;
  if (user.includes(":")) {
    throw new NetprobifyError(
      Code.NPF_PROM_USER_INVALID,
      "PROM_USER contains a colon, which HTTP basic authentication cannot carry (RFC 7617): " +
        "no client could ever log in; choose a user name without ':'",
    );
  }
  return { user, password };
}

/**
 * A warning for the log when exactly one of PROM_USER / PROM_PASSWORD is set: the operator most
 * likely meant to protect /metrics, but it is served without authentication.
 */
export function authEnvWarning(env: Env): string | undefined {
  const hasUser = (env.PROM_USER ?? "") !== "";
  const hasPassword = (env.PROM_PASSWORD ?? "") !== "";
  if (hasUser === hasPassword) return undefined;
  const set = hasUser ? "PROM_USER" : "PROM_PASSWORD";
  const unset = hasUser ? "PROM_PASSWORD" : "PROM_USER";
  return `${set} is set but ${unset} is not: /metrics is served WITHOUT authentication (set both to require it)`;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The user and password an Authorization header carries, or undefined when it is absent or is not
 * a well-formed `Basic <base64(user:password)>` value. Never throws: the header comes from the network.
 */
export function parseBasicAuth(header: string | undefined): BasicAuth | undefined {
  if (header === undefined) return undefined;
  const m = /^[Bb][Aa][Ss][Ii][Cc] +(\S+) *$/.exec(header);
  if (!m) return undefined;
  const token = m[1]!;
  if (token.length % 4 !== 0 || !BASE64.test(token)) return undefined;
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/**
 * A checker for Authorization headers against `expected`. Both the user and the password are always
 * compared, as SHA-256 digests of equal length with timingSafeEqual, so neither the position of the
 * first wrong byte, nor the expected lengths, nor which of the two was wrong shows in the timing.
 */
export function basicAuthChecker(expected: BasicAuth): (header: string | undefined) => boolean {
  const userDigest = digest(expected.user);
  const passwordDigest = digest(expected.password);
  return (header) => {
    const given = parseBasicAuth(header);
    // A missing or malformed header pays for the same two comparisons and is refused whatever they say.
    const user = digest(given?.user ?? "");
    const password = digest(given?.password ?? "");
    const userOk = timingSafeEqual(user, userDigest);
    const passwordOk = timingSafeEqual(password, passwordDigest);
    return given !== undefined && userOk && passwordOk;
  };
}

/** Decides on an Authorization header; a Promise when a bcrypt check has to run. */
export type Authorizer = (header: string | undefined) => boolean | Promise<boolean>;

/** What a checker of bcrypt users (bcrypt-users.ts) offers: kept structural to keep this file small. */
export interface PasswordChecker {
  readonly empty: boolean;
  check(user: string, password: string): Promise<boolean>;
}

/**
 * The credentials the listener accepts: PROM_USER/PROM_PASSWORD (the original's way) and the
 * web configuration's basic_auth_users, either one; undefined when neither is set (no authentication).
 */
export function authorizer(
  env: BasicAuth | undefined,
  users: PasswordChecker | undefined,
): Authorizer | undefined {
  const fromEnv = env ? basicAuthChecker(env) : undefined;
  const bcryptUsers = users && !users.empty ? users : undefined;
  if (!fromEnv && !bcryptUsers) return undefined;
  if (!bcryptUsers) return fromEnv;
  return (header) => {
    if (fromEnv?.(header)) return true;
    const given = parseBasicAuth(header);
    return given === undefined ? false : bcryptUsers.check(given.user, given.password);
  };
}
