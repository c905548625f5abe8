// The built-in `http` inventory: polls a URL returning the target list as JSON, every `interval`
// seconds. Each poll has a `timeout` covering connection, headers and body; it sends
// If-None-Match with the last good list's ETag, so an unchanged list costs the server a 304. A bearer
// token or basic credentials are read from the configuration or from files at every poll (so a
// rotated secret is picked up without a reload) and never logged. Anything but a 200 with a valid
// list or a 304 (connection error, timeout, 5xx, bad JSON) is reported as a failure and the last
// good list stays in force.
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { HttpInventoryInput } from "../../config/schema.js";
import { type BuiltinContext, parseList, sleep } from "./list.js";

/**
 * Largest body accepted: 16 MiB. A longer list could not be published anyway (a published list is
 * capped at 8 MiB and 50,000 entries, gate.ts), and parsing it would take the inventory's process
 * towards its memory limit (dynamic_inventories_memory_mb, 256 MiB by default).
 */
export const MAX_BODY = 16 * 2 ** 20;

function secret(value: string | undefined, file: string | undefined): string | undefined {
  return value ?? (file === undefined ? undefined : readFileSync(file, "utf8").replace(/\r?\n$/, ""));
}

function headersFor(o: HttpInventoryInput, etag: string | undefined): Record<string, string> {
  const h: Record<string, string> = { accept: "application/json", ...o.headers };
  if (etag) h["if-none-match"] = etag;
  const token = secret(o.bearer_token, o.bearer_token_file);
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  if (o.basic_auth) {
    const password = secret(o.basic_auth.password, o.basic_auth.password_file) ?? "";
    h.authorization = `Basic ${Buffer.from(`${o.basic_auth.username}:${password}`).toString("base64")}`;
  }
  return h;
}

export interface PollResult {
  status: number;
  etag?: string;
  body: string;
}

/** One GET with an overall deadline; rejects on network errors, timeout or an oversized body. */
export function get(
  o: HttpInventoryInput,
  etag: string | undefined,
  signal: AbortSignal,
): Promise<PollResult> {
  const url = new URL(o.url);
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  const ca = o.ca_file === undefined ? undefined : readFileSync(o.ca_file);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "GET", headers: headersFor(o, etag), ca, signal },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error(`body larger than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            etag: typeof res.headers.etag === "string" ? res.headers.etag : undefined,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no complete answer within ${o.timeout} s`)),
      o.timeout * 1000,
    );
    req.on("close", () => clearTimeout(timer));
    req.on("error", reject);
    req.end();
  });
}

export async function start(ctx: BuiltinContext<HttpInventoryInput>): Promise<void> {
  const o = ctx.options;
  let good: { etag?: string; list: unknown[] } | undefined;
  while (!ctx.signal.aborted) {
    const started = Date.now();
    try {
      const r = await get(o, good?.etag, ctx.signal);
      if (r.status === 304 && good) {
        ctx.log.debug("inventory unchanged (304)", { url: o.url });
        ctx.publish(good.list); // same list: confirms it is current (the host ignores repeats)
      } else if (r.status === 200) {
        const list = parseList(r.body, "json");
        good = { etag: r.etag, list };
        ctx.publish(list);
      } else {
        throw new Error(`HTTP ${r.status}${r.body ? `: ${r.body.slice(0, 200).trim()}` : ""}`);
      }
    } catch (err) {
      if (ctx.signal.aborted) break;
      ctx.reportFailure(`${o.url}: ${(err as Error).message}; the last good list stays`);
    }
    await sleep(Math.max(0, o.interval * 1000 - (Date.now() - started)), ctx.signal);
  }
}
