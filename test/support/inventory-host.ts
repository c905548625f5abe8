// The inventory host (src/inventory/host.ts) as the tests of misbehaving modules run it, in real
// child processes: fixture modules laid out as the daemon finds them (<base>/dynamic_inventories
// beside <base>/netprobify.yaml), what the host logs, publishes and reports failing kept in arrays;
// and a stand-in daemon process running a host, to see what becomes of modules when it is killed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { InventoryHost, type InventoryHostOptions } from "../../src/inventory/host.js";
import { FIXTURES } from "./paths.js";

export type Log = [level: string, msg: string, fields: Record<string, unknown>];

export interface HostRun {
  host: InventoryHost;
  /** The modules' directory. */
  dir: string;
  logs: Log[];
  published: [string, unknown][];
  failures: [string, string][];
}

/**
 * Lays out <base>: `modules` (paths under test/fixtures/inventories/, e.g. "hostile/hoard.mjs")
 * copied into <base>/dynamic_inventories, `files` written into <base>; the host's directories.
 */
export function moduleTree(
  base: string,
  modules: readonly string[],
  files: Record<string, string> = {},
): { dir: string; configFile: string } {
  const dir = join(base, "dynamic_inventories");
  mkdirSync(dir, { recursive: true });
  for (const m of modules) copyFileSync(`${FIXTURES}inventories/${m}`, join(dir, basename(m)));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(base, name), text);
  return { dir, configFile: join(base, "netprobify.yaml") };
}

/** A started host running `modules` (see moduleTree), fast backoff, stop and sampling for tests. */
export function startHost(
  base: string,
  modules: readonly string[],
  o: { files?: Record<string, string>; host?: Partial<InventoryHostOptions> } = {},
): HostRun {
  const { dir, configFile } = moduleTree(base, modules, o.files);
  const r: HostRun = {
    host: undefined as unknown as InventoryHost,
    dir,
    logs: [],
    published: [],
    failures: [],
  };
  r.host = new InventoryHost({
    dir,
    configFile,
    loggingLevel: "INFO",
    log: (level, msg, fields) => r.logs.push([level, msg, fields]),
    onPublish: (m, t) => r.published.push([m, t]),
    onFailure: (m, reason) => r.failures.push([m, reason]),
    backoffMs: 100,
    stopGraceMs: 300,
    sampleMs: 200,
    ...o.host,
  });
  assert.deepEqual(
    r.host.start(),
    modules.map((m) => basename(m, extname(m))),
  );
  return r;
}

/** The error lines of the host saying a module failed (their fields carry the reason). */
export const failedLogs = (r: HostRun): Log[] =>
  r.logs.filter(([l, m]) => l === "error" && m.startsWith("dynamic inventory failed"));

/**
 * A process standing for the daemon: a host running the one module in `dir` (configuration
 * `configFile`); `modulePid` resolves with the module's pid once it has published.
 */
export function standInDaemon(o: { dir: string; configFile: string; python?: string }): {
  child: ChildProcess;
  modulePid: Promise<number>;
} {
  const host = new URL("../../src/inventory/host.js", import.meta.url).href;
  const options = `dir: ${JSON.stringify(o.dir)}, configFile: ${JSON.stringify(o.configFile)}, loggingLevel: "INFO"${
    o.python === undefined ? "" : `, python: ${JSON.stringify(o.python)}`
  }`;
  const script = `import { InventoryHost } from ${JSON.stringify(host)};
    let pid;
    new InventoryHost({ ${options},
      log: (l, m, f) => { if (m === "dynamic inventory process started") pid = f.pid; },
      onPublish: () => console.log(pid) }).start();
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const modulePid = new Promise<number>((res) =>
    child.stdout!.once("data", (b) => res(Number(String(b).trim()))),
  );
  return { child, modulePid };
}
