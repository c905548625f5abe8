// The daemon's HTTP listener: Prometheus scrapes /metrics, load balancers and orchestrators ask
// /health, /-/healthy and /-/ready, operators POST /-/reload. Plain node:http (node:https when the
// web configuration asks for TLS), because a handful of routes do not need a framework, and the few
// things that matter here (auth that leaks nothing, binding errors that stop the daemon, a scrape
// failure that does not take the listener down, a prompt shutdown) are easier to see without one.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";
import { ConfigError } from "../errors.js";
import { staticAssets } from "../web/assets.js";
import { type Authorizer, authorizer, type BasicAuth, WWW_AUTHENTICATE } from "./auth.js";
import { BcryptUsers, VerdictCache } from "./bcrypt-users.js";
import { landingPage } from "./landing.js";
import { hostPort, listenError } from "./listen-errors.js";
import { acceptsGzip, type ExpositionFormat, negotiateFormat } from "./negotiate.js";
import { createListener } from "./tls-listener.js";
import type { WebConfig } from "./web-config.js";

export { acceptsGzip };

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, msg: string, fields: Record<string, unknown>) => void;

export interface MetricsPayload {
  contentType: string;
  /** A Buffer is sent as is, never copied: many scrapers can share one rendering. */
  body: string | Buffer;
  /** The same body gzip-compressed, if available: sent to clients that accept gzip. */
  gzip?: Buffer;
}

export interface Health {
  ok: boolean;
  detail: Record<string, unknown>;
}

/** Limits on slow or idle clients, in milliseconds. The defaults suit Prometheus scrapes. */
export interface ServerTimeouts {
  /** Time a client has to send the request headers (default 10,000). */
  headersMs?: number;
  /** Time a client has to send the whole request (default 15,000). */
  requestMs?: number;
  /** How long an idle keep-alive connection stays open between requests (default 5,000). */
  keepAliveMs?: number;
  /** A connection with no traffic in either direction for this long is closed (default 60,000). */
  idleMs?: number;
  /** On close(), how long requests in progress may take to finish before their sockets are cut (default 1,000). */
  closeGraceMs?: number;
  /**
   * Time a client has to read a whole answer once it is written (default 30,000): a scraper that
   * reads too slowly is cut, so it cannot hold an old exposition in memory for long.
   */
  responseMs?: number;
}

/** Limits on what clients can make the server hold. */
export interface ServerLimits {
  /**
   * Open connections at most (default 64). Beyond it a new connection is answered
   * `503 Service Unavailable` with `Retry-After` and closed at once, before its request is read.
   */
  maxConnections?: number;
  /** Most bytes of request line and headers (default 8,192; node answers 431 beyond). */
  maxHeaderBytes?: number;
  /** Requests served on one connection before it is closed (default 1,000; the client reconnects). */
  maxRequestsPerConnection?: number;
}

export interface ServerOptions {
  /** Address to bind: an IP literal such as 0.0.0.0 (the default), 127.0.0.1, :: or ::1. */
  address?: string;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /**
   * The exposition in the format the scraper negotiated (Accept), with its content type; may throw
   * or reject (answered with 500).
   */
  metrics: (format: ExpositionFormat) => Promise<MetricsPayload>;
  health: () => Health;
  /** Credentials required on every route but /health; see authFromEnv. */
  auth?: BasicAuth;
  /** The --web.config.file: TLS, bcrypt users (with `auth`, either is accepted), response headers. */
  web?: WebConfig;
  /** Whether the daemon is ready (/-/ready): its first iteration has finished. Default: always. */
  ready?: () => boolean;
  /** What POST /-/reload does (as SIGHUP); without it the route is 404. */
  reload?: () => Promise<ReloadOutcome>;
  /** The /paths document (trace-on-loss: per-flow hop lists and verdicts, docs/http.md); without it 404. */
  paths?: () => unknown;
  /**
   * The JSON API under /api/v1/ (src/web/api.ts): the answer to a GET of `path` with `query`, or
   * undefined for a path it does not know (404). Without it, /api/v1/ is 404.
   */
  api?: (path: string, query: URLSearchParams) => { status: number; body: string } | undefined;
  /** The HTML page at `/` (default: the landing page without version). */
  landing?: string;
  log?: LogFn;
  timeouts?: ServerTimeouts;
  limits?: ServerLimits;
}

export interface RunningServer {
  /** The bound port (the real one when 0 was asked for). */
  port: number;
  /** The bound address as the kernel reports it. */
  address: string;
  /** Stops listening, closes idle keep-alive connections at once and busy ones after the grace time. */
  close(): Promise<void>;
  /** Connections refused (503) because maxConnections were open. */
  readonly refused: number;
  /** Connections open now. */
  readonly connections: number;
  /** Whether the listener speaks TLS (decided at start by the web configuration). */
  readonly tls: boolean;
  /**
   * Makes a reloaded web configuration the running one, for new connections and requests: users,
   * headers, certificates, client authentication. Throws a ConfigError (rule web-restart), changing
   * nothing, when it would switch TLS on or off (that takes a restart).
   */
  applyWeb(web: WebConfig | undefined): void;
}

/** The answer of POST /-/reload: `status` if given, else 200 with the message when ok, 500 otherwise. */
export interface ReloadOutcome {
  ok: boolean;
  message: string;
  status?: number;
}

export const DEFAULT_ADDRESS = "0.0.0.0";

const TEXT = "text/plain; charset=utf-8";
const HTML = "text/html; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";
const gzipAsync = promisify(gzipCallback);

/** The methods each route answers (anything else: 405 with Allow). */
const READ = "GET, HEAD";
const ROUTES: Readonly<Record<string, string>> = {
  "/": READ,
  "/metrics": READ,
  "/-/healthy": READ,
  "/-/ready": READ,
  "/-/reload": "POST, PUT",
  "/paths": READ,
};

const REFUSED_BODY = "too many connections; retry later\n";
const REFUSED = `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: ${TEXT}\r\nContent-Length: ${REFUSED_BODY.length}\r\n\r\n${REFUSED_BODY}`;

/**
 * Binds the listener and resolves once it accepts connections. Rejects with a NetprobifyError
 * (NPF_PORT_IN_USE, NPF_PORT_ACCESS_DENIED, NPF_ADDRESS_NOT_AVAILABLE or NPF_LISTEN_FAILED) when it
 * cannot bind: the caller should exit rather than probe with nobody able to see the results.
 */
export function startServer(opts: ServerOptions): Promise<RunningServer> {
  const address = opts.address ?? DEFAULT_ADDRESS;
  const log: LogFn = opts.log ?? (() => {});
  const t = opts.timeouts ?? {};
  const headersMs = t.headersMs ?? 10_000;
  const requestMs = Math.max(t.requestMs ?? 15_000, headersMs);
  const keepAliveMs = t.keepAliveMs ?? 5_000;
  const idleMs = t.idleMs ?? 60_000;
  const closeGraceMs = t.closeGraceMs ?? 1_000;
  const responseMs = t.responseMs ?? 30_000;
  const l = opts.limits ?? {};
  const maxConnections = l.maxConnections ?? 64;
  const tls = opts.web?.tls !== undefined;
  // Verdicts on bcrypt passwords outlive reloads: their keys include the hash, so a change of
  // password is never answered from memory.
  const verdicts = new VerdictCache();
  let web: WebConfig | undefined;
  let authorized: Authorizer | undefined;
  const landing = opts.landing ?? landingPage("");
  let closing = false;
  let open = 0;
  let refused = 0;
  const refusedSockets = new WeakSet<Socket>();

  const httpOptions = {
    maxHeaderSize: l.maxHeaderBytes ?? 8192,
    headersTimeout: headersMs,
    requestTimeout: requestMs,
    keepAliveTimeout: keepAliveMs,
    // How often node checks the two timeouts above; its default (30 s) would let a slow client
    // hold a connection far longer than they say.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersMs / 2))),
  };
  const listener = createListener(httpOptions, opts.web?.tls, headersMs, log);
  const server = listener.server;
  applyWeb(opts.web);
  server.setTimeout(idleMs);
  server.maxRequestsPerSocket = l.maxRequestsPerConnection ?? 1_000;

  // The connection cap. This listener runs after node's own (which attached the HTTP parser): a
  // refused socket is marked, answered 503 and ended, and its request, if one arrives, is ignored.
  server.on("connection", (socket: Socket) => {
    if (open >= maxConnections) {
      refused++;
      refusedSockets.add(socket);
      // Over TLS a plain answer would be noise to the client; it is cut before the handshake's cost.
      if (tls) socket.destroy();
      else socket.end(REFUSED);
      const kill = setTimeout(() => socket.destroy(), 1_000);
      kill.unref();
      socket.once("close", () => {
        clearTimeout(kill);
        refusedSockets.delete(socket);
      });
      socket.on("error", () => {});
      if (refused === 1 || refused % 1000 === 0)
        log("warn", "http connection cap reached: new connections get 503", { maxConnections, refused });
      return;
    }
    open++;
    socket.once("close", () => open--);
  });

  const send = (
    res: ServerResponse,
    status: number,
    contentType: string,
    body: string | Buffer,
    extra = {},
  ) => {
    const headers: Record<string, string | number> = {
      "Content-Type": contentType,
      "Content-Length": Buffer.byteLength(body),
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      ...web?.headers,
      ...extra,
    };
    if (closing) headers.Connection = "close";
    res.writeHead(status, headers);
    res.end(body); // node drops the body of an answer to HEAD and keeps Content-Length
    if (!res.writableFinished) {
      // A reader too slow for the whole answer is cut: it cannot hold the body for long.
      const cut = setTimeout(() => res.destroy(), responseMs);
      cut.unref();
      res.once("close", () => clearTimeout(cut));
    }
    return status;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const path = pathOf(req.url);
    if (path === undefined) return send(res, 400, TEXT, "bad request target\n");
    const isRead = req.method === "GET" || req.method === "HEAD";
    const allow = { Allow: READ };
    const check = authorized;
    const authOk = check === undefined || (await check(req.headers.authorization));

    if (path === "/health") {
      // Open to everyone: orchestrators probe without credentials. The status code is the answer;
      // the detail is shown only to those who may see /metrics.
      if (!isRead) return send(res, 405, TEXT, "method not allowed\n", allow);
      let health: Health;
      try {
        health = opts.health();
      } catch (err) {
        log("error", "health callback failed", { err: errorFields(err) });
        return send(
          res,
          503,
          "application/json; charset=utf-8",
          '{"ok":false,"error":"health check failed"}\n',
        );
      }
      const body = authOk ? { ok: health.ok, detail: health.detail } : { ok: health.ok };
      return send(res, health.ok ? 200 : 503, "application/json; charset=utf-8", `${safeJson(body, log)}\n`);
    }

    // Every other route needs the credentials, /-/healthy and /-/ready included, as exporter-toolkit does.
    if (!authOk) {
      return send(res, 401, TEXT, "authentication required\n", { "WWW-Authenticate": WWW_AUTHENTICATE });
    }
    if (path.startsWith("/api/v1/") && opts.api) return serveApi(req, res, path);
    const methods = ROUTES[path];
    // The status page's static files (src/web/assets.ts), gzip when accepted.
    // (Read only for /static/ paths: a missing file can then never cost /metrics anything.)
    const asset = path.startsWith("/static/") ? staticAssets().get(path) : undefined;
    if (asset) {
      if (!isRead) return send(res, 405, TEXT, "method not allowed\n", allow);
      const vary = { Vary: "Accept-Encoding" };
      return acceptsGzip(req.headers["accept-encoding"])
        ? send(res, 200, asset.contentType, asset.gzip, { "Content-Encoding": "gzip", ...vary })
        : send(res, 200, asset.contentType, asset.body, vary);
    }
    if (methods === undefined || (path === "/-/reload" && !opts.reload) || (path === "/paths" && !opts.paths))
      return send(res, 404, TEXT, "not found; see /\n");
    if (!methods.split(", ").includes(req.method ?? ""))
      return send(res, 405, TEXT, "method not allowed\n", { Allow: methods });
    if (path === "/") return send(res, 200, HTML, landing);
    if (path === "/-/healthy") return send(res, 200, TEXT, "netprobify is healthy.\n");
    if (path === "/-/ready")
      return (opts.ready?.() ?? true)
        ? send(res, 200, TEXT, "netprobify is ready.\n")
        : send(res, 503, TEXT, "netprobify is not ready: the first iteration has not finished.\n");
    if (path === "/paths") {
      let doc: string;
      try {
        doc = JSON.stringify(opts.paths!());
      } catch (err) {
        log("error", "paths document failed", { err: errorFields(err) });
        return send(res, 500, TEXT, "paths document failed; see the netprobify log\n");
      }
      return send(res, 200, "application/json; charset=utf-8", `${doc}\n`);
    }
    if (path === "/-/reload") {
      let outcome: ReloadOutcome;
      try {
        outcome = await opts.reload!();
      } catch (err) {
        log("error", "reload callback failed", { err: errorFields(err) });
        outcome = { ok: false, message: "reload failed; see the netprobify log" };
      }
      return send(res, outcome.status ?? (outcome.ok ? 200 : 500), TEXT, `${outcome.message}\n`);
    }

    let payload: MetricsPayload;
    const format = negotiateFormat(req.headers.accept);
    try {
      payload = await opts.metrics(format);
    } catch (err) {
      log("error", "metrics collection failed", { err: errorFields(err) });
      return send(res, 500, TEXT, "metrics collection failed; see the netprobify log\n");
    }
    const vary = "Accept, Accept-Encoding";
    const gzip = payload.gzip !== undefined && acceptsGzip(req.headers["accept-encoding"]);
    log("debug", "metrics served", { format, gzip });
    if (gzip && payload.gzip)
      return send(res, 200, payload.contentType, payload.gzip, { "Content-Encoding": "gzip", Vary: vary });
    return send(res, 200, payload.contentType, payload.body, { Vary: vary });
  };

  /** A JSON API answer, gzip-compressed (off the event loop) when the client accepts it. */
  const serveApi = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<number> => {
    if (req.method !== "GET" && req.method !== "HEAD")
      return send(res, 405, TEXT, "method not allowed\n", { Allow: READ });
    const query = new URL(req.url ?? "/", "http://netprobify.invalid").searchParams;
    const answer = opts.api!(path, query);
    if (answer === undefined) return send(res, 404, TEXT, "not found; see /\n");
    const vary = { Vary: "Accept-Encoding" };
    if (answer.body.length >= 1024 && acceptsGzip(req.headers["accept-encoding"])) {
      const body = await gzipAsync(answer.body, { level: 1 });
      return send(res, answer.status, JSON_TYPE, body, { "Content-Encoding": "gzip", ...vary });
    }
    return send(res, answer.status, JSON_TYPE, answer.body, vary);
  };

  server.on("request", (req, res) => {
    if (refusedSockets.has(req.socket)) return; // already answered 503, closing
    // A client that vanished mid-answer makes the socket emit errors; the answer is simply dropped.
    res.on("error", () => {});
    const started = process.hrtime.bigint();
    handle(req, res).then(
      (status) => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        log("debug", "http request", { method: req.method, url: req.url, status, ms });
      },
      (err) => {
        // A bug in this file, not a client's fault: answer 500 if still possible, keep serving.
        log("error", "http handler failed", { method: req.method, url: req.url, err: errorFields(err) });
        try {
          if (!res.headersSent) send(res, 500, TEXT, "internal error\n");
          else res.destroy();
        } catch {
          // The answer cannot be written at all (e.g. a header node refuses): the client gets a
          // closed connection, and the process no unhandled rejection (a storm of those is fatal).
          res.destroy();
        }
      },
    );
  });
  // Bytes that are not HTTP: node answers 400 by default only when nobody listens; do the same, quietly.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    log("debug", "http client error", { code: err.code, msg: err.message });
    if (socket.writable && !socket.destroyed) {
      const status =
        err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "408 Request Timeout"
          : err.code === "HPE_HEADER_OVERFLOW"
            ? "431 Request Header Fields Too Large"
            : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });

  return new Promise((resolve, reject) => {
    const onListenError = (err: unknown) => {
      server.close();
      reject(listenError(err, address, opts.port));
    };
    server.once("error", onListenError);
    try {
      server.listen({ host: address, port: opts.port }, () => {
        server.off("error", onListenError);
        server.on("error", (err) => log("error", "http server error", { err: errorFields(err) }));
        const bound = server.address() as AddressInfo;
        const scheme = tls ? "https" : "http";
        log("info", "serving metrics", { url: `${scheme}://${hostPort(bound.address, bound.port)}/metrics` });
        resolve({
          port: bound.port,
          address: bound.address,
          close: makeClose(),
          get refused() {
            return refused;
          },
          get connections() {
            return open;
          },
          tls,
          applyWeb,
        });
      });
    } catch (err) {
      // A port out of range is thrown synchronously (ERR_SOCKET_BAD_PORT).
      reject(listenError(err, address, opts.port));
    }
  });

  function applyWeb(next: WebConfig | undefined): void {
    if ((next?.tls !== undefined) !== tls)
      throw new ConfigError(next?.file ?? "the web configuration", [
        {
          severity: "error",
          path: ["tls_server_config"],
          message: `switching TLS ${tls ? "off" : "on"} takes a restart; the running web configuration stays in force`,
          rule: "web-restart",
        },
      ]);
    if (next?.tls) listener.setTls(next.tls);
    web = next;
    authorized = authorizer(opts.auth, next && new BcryptUsers(next.users, verdicts));
  }

  function makeClose(): () => Promise<void> {
    let done: Promise<void> | undefined;
    return () => {
      done ??= new Promise<void>((resolve) => {
        closing = true;
        // Resolves once every connection is gone; idle keep-alive sockets are closed right away.
        server.close(() => resolve());
        server.closeIdleConnections();
        const force = setTimeout(() => server.closeAllConnections(), closeGraceMs);
        force.unref();
        server.once("close", () => clearTimeout(force));
      });
      return done;
    };
  }
}

/** The path of a request target (origin or absolute form), without the query; undefined if unparsable. */
function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url, "http://netprobify.invalid").pathname;
  } catch {
    return undefined;
  }
}

function safeJson(value: unknown, log: LogFn): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    log("error", "health detail is not serializable", { err: errorFields(err) });
    return JSON.stringify({ ok: (value as { ok: boolean }).ok });
  }
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { value: String(err) };
}
