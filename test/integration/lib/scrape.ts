// Reading a running daemon's /metrics in the lab tests: one scrape, one series' value, and polling
// until a condition holds (failing with the relevant lines of the last scrape).
import assert from "node:assert/strict";

export async function scrape(port: number, authorization?: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: authorization ? { authorization } : {},
  });
  return r.text();
}

/** The value of one series, given as `name{labels}` exactly as exported; undefined when absent. */
export function value(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export interface UntilOptions {
  port: number;
  authorization?: string;
  ms?: number;
  /** Lines of the last scrape shown on failure. */
  relevant?: RegExp;
  /** More context for a failure (e.g. the daemon's log). */
  context?: () => string;
}

/** Polls the daemon until `pred` holds on a scrape (or fails after `ms`, default 8 s). */
export async function until(what: string, pred: (body: string) => boolean, o: UntilOptions): Promise<string> {
  const ms = o.ms ?? 8000;
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      last = await scrape(o.port, o.authorization);
      if (pred(last)) return last;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const lines = last.split("\n").filter((l) => !l.startsWith("#") && (o.relevant?.test(l) ?? true));
  const extra = o.context ? `\n${o.context()}` : "";
  assert.fail(`${what}: not within ${ms} ms; last scrape:\n${lines.join("\n")}${extra}`);
}
