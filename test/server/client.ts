// A small HTTP client for the server tests: real requests over loopback with node:http, one fresh
// connection each unless an agent is given, so a test controls exactly which headers go out.

import { readFileSync } from "node:fs";
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage } from "node:http";
import { type Agent, request } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  agent?: Agent | false;
}

export function get(host: string, port: number, path: string, o: RequestOptions = {}): Promise<Reply> {
  return exchange((answer) =>
    request(
      { host, port, path, method: o.method ?? "GET", headers: o.headers ?? {}, agent: o.agent ?? false },
      answer,
    ),
  );
}

/** Sends the request `open` makes (ending it) and resolves with the whole reply. */
function exchange(open: (answer: (res: IncomingMessage) => void) => ClientRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = open((res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}

/**
 * Writes raw bytes on a fresh TCP connection and collects whatever comes back until the server
 * closes it; resolves with the bytes and how long the server took to close (ms).
 */
export function raw(host: string, port: number, data: string): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const s = connect({ host, port }, () => s.write(data));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", reject);
    s.on("close", () => resolve({ text: Buffer.concat(chunks).toString(), ms: performance.now() - started }));
  });
}

/** TLS material of a client (PEM file paths), and what to send. */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
  headers?: Record<string, string>;
  method?: string;
  host?: string;
}

/** One request on a fresh TLS connection; rejects when the handshake or the connection fails. */
export function tlsGet(port: number, path: string, o: ClientTls): Promise<Reply> {
  return exchange((answer) =>
    httpsRequest(
      {
        host: o.host ?? "127.0.0.1",
        port,
        path,
        method: o.method ?? "GET",
        agent: false,
        headers: o.headers ?? {},
        ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
        ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
        ...(o.key ? { key: readFileSync(o.key) } : {}),
      },
      answer,
    ),
  );
}
