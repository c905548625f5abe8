// A real Prometheus (Debian's package) in the lab, for the tests of the shipped rules, dashboard and
// sharding: it scrapes daemons on loopback every second, evaluates rule files every second, and is
// read through its HTTP API. Started with the lab's process set, so the lab's teardown ends it.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { Lab } from "../../../src/lab/lab.js";
import { BIN } from "../../support/paths.js";

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Alert {
  labels: Record<string, string>;
  state: string;
}

export interface PromOptions {
  port: number;
  /** host:port of every daemon to scrape (job "netprobify"). */
  targets: string[];
  ruleFiles: string[];
  basicAuth?: { username: string; password: string };
}

export class Prometheus {
  constructor(
    readonly port: number,
    readonly proc: ChildProcess,
  ) {}

  private async api<T>(path: string): Promise<T> {
    const r = await fetch(`http://127.0.0.1:${this.port}/api/v1/${path}`);
    const body = (await r.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error}`);
    return body.data;
  }

  /** An instant query; throws on a PromQL error (a bad query is a failure, not "no data"). */
  async query(expr: string): Promise<Sample[]> {
    const d = await this.api<{ result: Sample[] }>(`query?query=${encodeURIComponent(expr)}`);
    return d.result;
  }

  /** Values of a label over the series matching `match`. */
  labelValues(label: string, match: string): Promise<string[]> {
    return this.api<string[]>(`label/${label}/values?match[]=${encodeURIComponent(match)}`);
  }

  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>("alerts")).alerts;
  }

  /** "alertname/destination" of every firing alert, sorted. */
  async firing(): Promise<string[]> {
    return (await this.alerts())
      .filter((a) => a.state === "firing")
      .map((a) => `${a.labels.alertname}/${a.labels.destination ?? "-"}`)
      .sort();
  }

  /** Polls the firing alerts until `alert` ("alertname/destination") is among them; returns the last list. */
  async untilFiring(alert: string, ms: number): Promise<string[]> {
    let last: string[] = [];
    await waitFor(ms, async () => {
      last = await this.firing();
      return last.includes(alert);
    });
    return last;
  }
}

/** Starts Prometheus with its data in `dir`; resolves once its API answers. */
export async function startPrometheus(lab: Lab, dir: string, o: PromOptions): Promise<Prometheus> {
  const auth = o.basicAuth
    ? `\n    basic_auth: {username: ${o.basicAuth.username}, password: ${o.basicAuth.password}}`
    : "";
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    `global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ${JSON.stringify(o.ruleFiles)}
scrape_configs:
  - job_name: netprobify${auth}
    static_configs: [{targets: ${JSON.stringify(o.targets)}}]
`,
  );
  const proc = lab.spawn(undefined, "prometheus", [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${o.port}`,
    "--log.level=warn",
  ]);
  const prom = new Prometheus(o.port, proc);
  if (!(await waitFor(30_000, async () => (await prom.query("vector(1)")).length === 1)))
    throw new Error("Prometheus did not answer within 30 s");
  return prom;
}

/**
 * The shipped rule file `src`, made to act within a test's seconds: every group evaluated each
 * second and no `for:` (the expressions are unchanged; their `for:` is covered by the promtool unit
 * tests). Written to `dest`.
 */
export function rulesWithoutFor(src: string, dest: string): string {
  const doc = parse(readFileSync(src, "utf8")) as {
    groups: { interval?: string; rules: { for?: string }[] }[];
  };
  for (const g of doc.groups) {
    g.interval = "1s";
    for (const r of g.rules) delete r.for;
  }
  writeFileSync(dest, stringify(doc));
  return dest;
}

/** A daemon on `config`, its stderr kept for failure messages. */
export function startDaemon(
  config: string,
  env: Record<string, string> = {},
): { proc: ChildProcess; log: () => string } {
  const proc = spawn(process.execPath, [BIN, config], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (b) => {
    err = (err + String(b)).slice(-20_000);
  });
  return { proc, log: () => err };
}

/** Polls `pred` every 250 ms until it holds; false after `ms` (errors count as not yet). */
export async function waitFor(ms: number, pred: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (await pred()) return true;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}
