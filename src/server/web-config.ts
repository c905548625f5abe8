// The `--web.config.file` of Prometheus exporters (exporter-toolkit's format), so that a team that
// already secures node_exporter or blackbox_exporter with TLS, mutual TLS and bcrypt users can hand
// netprobify the same file. Read with the configuration's own reader (positions, YAML 1.1, duplicate
// keys), validated with zod, then every file it names is read and the TLS context built once here:
// a certificate that does not match its key is an error with a line, at start (exit 65) or at a
// reload (the running one stays). Keys netprobify does not implement are refused, never ignored: a
// silently dropped security setting is worse than a refused file.
import { readFile } from "node:fs/promises";
import { validateHeaderValue } from "node:http";
import { dirname, resolve as resolvePath } from "node:path";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { z } from "zod";
import { issuesToDiagnostics } from "../config/schema-issues.js";
import { type KeyPath, readConfigSource } from "../config/source.js";
import { ConfigError, type Diagnostic } from "../errors.js";

/** exporter-toolkit's client_auth_type values (Go's tls.ClientAuthType names). */
export const CLIENT_AUTH_TYPES = [
  "NoClientCert",
  "RequestClientCert",
  "RequireAnyClientCert",
  "RequireClientCert", // exporter-toolkit's older spelling of RequireAnyClientCert
  "VerifyClientCertIfGiven",
  "RequireAndVerifyClientCert",
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

const TLS_VERSIONS = { TLS10: "TLSv1", TLS11: "TLSv1.1", TLS12: "TLSv1.2", TLS13: "TLSv1.3" } as const;
type TlsVersionName = keyof typeof TLS_VERSIONS;

/**
 * Go's names of the TLS 1.2 cipher suites and OpenSSL's. TLS 1.3 suites are not configurable in Go
 * (its names are accepted and have no effect), nor here: Node keeps its TLS 1.3 defaults.
 */
export const CIPHER_SUITES: Readonly<Record<string, string | undefined>> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_AES_128_GCM_SHA256: undefined,
  TLS_AES_256_GCM_SHA384: undefined,
  TLS_CHACHA20_POLY1305_SHA256: undefined,
};

const CURVES = { CurveP256: "P-256", CurveP384: "P-384", CurveP521: "P-521", X25519: "X25519" } as const;

/** The response headers exporter-toolkit lets a file set, with the values it accepts (any when empty). */
export const SETTABLE_HEADERS: Readonly<Record<string, readonly string[]>> = {
  "Strict-Transport-Security": [],
  "X-Content-Type-Options": ["nosniff"],
  "X-Frame-Options": ["deny", "sameorigin"],
  "X-XSS-Protection": [],
  "Content-Security-Policy": [],
};

/** A bcrypt hash as htpasswd -B, Python's bcrypt or bcryptjs write it ($2a$, $2b$ or $2y$, cost 4..31). */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

const name = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values);
const tlsVersion = name(Object.keys(TLS_VERSIONS) as [TlsVersionName, ...TlsVersionName[]]);

const tlsSchema = z.strictObject({
  cert: z.string().optional(),
  key: z.string().optional(),
  client_ca: z.string().optional(),
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  client_auth_type: name(CLIENT_AUTH_TYPES).optional(),
  client_ca_file: z.string().optional(),
  client_allowed_sans: z.array(z.string()).nullish(),
  min_version: tlsVersion.optional(),
  max_version: tlsVersion.optional(),
  cipher_suites: z.array(name(Object.keys(CIPHER_SUITES) as [string, ...string[]])).nullish(),
  prefer_server_cipher_suites: z.boolean().optional(),
  curve_preferences: z.array(name(Object.keys(CURVES) as [keyof typeof CURVES])).nullish(),
});

const headersSchema = z.strictObject(
  Object.fromEntries(Object.keys(SETTABLE_HEADERS).map((h) => [h, z.string().optional()])),
);

const webSchema = z.strictObject({
  tls_server_config: tlsSchema.nullish(),
  http_server_config: z
    .strictObject({ http2: z.boolean().optional(), headers: headersSchema.nullish() })
    .nullish(),
  basic_auth_users: z.record(z.string(), z.string()).nullish(),
  rate_limit: z.unknown().optional(),
});

type WebInput = z.infer<typeof webSchema>;
type TlsInput = z.infer<typeof tlsSchema>;

export interface TlsSettings {
  /** What tls.createSecureContext (and server.setSecureContext) take: PEM read from the files. */
  context: SecureContextOptions;
  clientAuth: ClientAuthType;
  /** client_allowed_sans: a client certificate must carry one of these names (absent: any). */
  allowedSans?: readonly string[];
}

export interface WebConfig {
  /** The file as given on the command line. */
  file: string;
  /** Absent: plain HTTP. */
  tls?: TlsSettings;
  /** User name -> bcrypt hash; empty: no basic authentication from this file. */
  users: ReadonlyMap<string, string>;
  /** Extra response headers (http_server_config.headers), on every answer. */
  headers: Readonly<Record<string, string>>;
}

/** Keys of the format that netprobify refuses, with the reason shown to the user. */
const UNSUPPORTED: readonly [KeyPath, string][] = [
  [
    ["rate_limit"],
    "not supported by netprobify: its listener already bounds connections and request sizes (docs/http.md#limits)",
  ],
];

/**
 * Reads and checks a web configuration file, and every certificate and key it names. Throws a
 * ConfigError listing every problem with its line (exit 65 at start; a reload keeps the running one).
 */
export async function loadWebConfig(file: string): Promise<WebConfig> {
  const source = await readConfigSource(file);
  const diagnostics: Diagnostic[] = [];
  const bad = (path: KeyPath, message: string, rule = "web-config", key = false) =>
    diagnostics.push({
      severity: "error",
      path: [...path],
      message,
      rule,
      pos: key ? source.locateKey(path) : source.locate(path),
    });
  let data = source.data;
  for (const d of source.diagnostics) {
    // An empty file is a valid web configuration: plain HTTP, no users (as in exporter-toolkit).
    if (d.rule === "empty-file") data = {};
    else if (d.rule === "not-a-map")
      diagnostics.push({ ...d, message: "expected a map of web configuration keys at the top level" });
    else diagnostics.push(d);
  }
  if (diagnostics.length > 0) throw new ConfigError(file, diagnostics);
  const parsed = webSchema.safeParse(data ?? {});
  if (!parsed.success) {
    throw new ConfigError(file, issuesToDiagnostics(parsed.error.issues, webSchema, data, [], source));
  }
  const input = parsed.data;
  for (const [path, why] of UNSUPPORTED) if (present(input, path)) bad(path, why, "web-unsupported", true);

  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(input.basic_auth_users ?? {})) {
    if (user.includes(":"))
      bad(
        ["basic_auth_users", user],
        "a user name cannot contain ':' in HTTP basic authentication",
        "web-config",
        true,
      );
    else if (!BCRYPT.test(hash))
      bad(
        ["basic_auth_users", user],
        "expected a bcrypt hash ($2y$10$ followed by 53 characters, e.g. from `htpasswd -nBC 10 '' | tr -d ':\\n'`)",
      );
    else users.set(user, hash);
  }

  const headers: Record<string, string> = {};
  for (const [h, v] of Object.entries(input.http_server_config?.headers ?? {})) {
    if (v === undefined || v === "") continue;
    const allowed = SETTABLE_HEADERS[h] ?? [];
    if (allowed.length > 0 && !allowed.includes(v))
      bad(
        ["http_server_config", "headers", h],
        `expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`,
      );
    else if (!sendable(h, v))
      // Accepted, it would make every answer fail (node refuses to write it): no scrape, no health.
      bad(
        ["http_server_config", "headers", h],
        `cannot be sent in an HTTP header: ${JSON.stringify(v)} holds a line break, a control character or a character beyond Latin-1`,
      );
    else headers[h] = v;
  }

  const tls = input.tls_server_config ? await tlsSettings(input.tls_server_config, file, bad) : undefined;
  if (diagnostics.length > 0) throw new ConfigError(file, diagnostics);
  return { file, ...(tls ? { tls } : {}), users, headers };
}

/** Whether node:http can write the header (no CR, LF, NUL or other control, nothing beyond U+00FF). */
function sendable(name: string, value: string): boolean {
  try {
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

function present(input: WebInput, path: KeyPath): boolean {
  let cur: unknown = input;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, seg)) return false;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur !== undefined && cur !== null;
}

type Bad = (path: KeyPath, message: string, rule?: string, key?: boolean) => void;

/** Whether a tls_server_config asks for TLS at all (exporter-toolkit's rule: any of these set). */
function tlsEnabled(t: TlsInput): boolean {
  return Boolean(
    t.cert_file || t.cert || t.key_file || t.key || t.client_ca_file || t.client_ca || t.client_auth_type,
  );
}

async function tlsSettings(t: TlsInput, file: string, bad: Bad): Promise<TlsSettings | undefined> {
  if (!tlsEnabled(t)) return undefined;
  const P = "tls_server_config";
  const dir = dirname(file);
  // One PEM from `<name>_file` (relative to the web configuration's folder) or inline `<name>`.
  const pem = async (
    inline: "cert" | "key" | "client_ca",
    required: boolean,
  ): Promise<string | undefined> => {
    const fileKey = `${inline}_file` as const;
    const path = t[fileKey];
    const text = t[inline];
    if (path && text) {
      bad([P, inline], `give ${inline} or ${fileKey}, not both`, "web-config", true);
      return undefined;
    }
    if (text) return text;
    if (!path) {
      if (required) bad([P], `TLS needs ${fileKey} (or ${inline} inline)`, "web-config", true);
      return undefined;
    }
    const full = resolvePath(dir, path);
    try {
      return await readFile(full, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      bad(
        [P, fileKey],
        `cannot read ${full}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`,
      );
      return undefined;
    }
  };
  const cert = await pem("cert", true);
  const key = await pem("key", true);
  const ca = await pem("client_ca", false);
  const clientAuth: ClientAuthType = t.client_auth_type ?? "NoClientCert";
  const caKey = t.client_ca_file ? "client_ca_file" : "client_ca";
  if (ca !== undefined && clientAuth === "NoClientCert")
    bad(
      [P, caKey],
      "a client CA is set but client_auth_type is NoClientCert: set RequireAndVerifyClientCert",
    );
  if (
    ca === undefined &&
    (clientAuth === "RequireAndVerifyClientCert" || clientAuth === "VerifyClientCertIfGiven")
  )
    bad(
      [P, "client_auth_type"],
      `${clientAuth} needs client_ca_file: the CA that signs the clients' certificates`,
    );
  if (ca !== undefined && !ca.includes("-----BEGIN CERTIFICATE-----"))
    bad([P, caKey], "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  const sans = t.client_allowed_sans ?? undefined;
  if (sans && clientAuth === "NoClientCert")
    bad(
      [P, "client_allowed_sans"],
      "needs a client_auth_type that asks for a certificate: set RequireAndVerifyClientCert",
    );
  const min = t.min_version ?? "TLS12";
  const max = t.max_version ?? "TLS13";
  if (min > max) bad([P, "min_version"], `min_version ${min} is above max_version ${max}`);
  if (cert === undefined || key === undefined) return undefined;

  const ciphers = (t.cipher_suites ?? []).map((c) => CIPHER_SUITES[c]).filter((c) => c !== undefined);
  const context: SecureContextOptions = {
    cert,
    key,
    ...(ca !== undefined ? { ca } : {}),
    minVersion: TLS_VERSIONS[min],
    maxVersion: TLS_VERSIONS[max],
    ...(ciphers.length > 0 ? { ciphers: ciphers.join(":") } : {}),
    honorCipherOrder: t.prefer_server_cipher_suites ?? true,
    ...(t.curve_preferences?.length
      ? { ecdhCurve: t.curve_preferences.map((c) => CURVES[c]).join(":") }
      : {}),
  };
  try {
    createSecureContext(context); // a certificate that is not PEM, a key that does not match it
  } catch (err) {
    bad(
      [P, t.cert_file ? "cert_file" : "cert"],
      `the certificate and key cannot be used: ${(err as Error).message}`,
    );
    return undefined;
  }
  return { context, clientAuth, ...(sans ? { allowedSans: sans } : {}) };
}
