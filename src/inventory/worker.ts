// Runs one dynamic-inventory module inside its own worker thread, so that nothing it does (throwing,
// rejecting, looping forever, crashing) can stop probing on the main thread. It calls the module's
// start() with the plugin contract (docs/inventories.md) and forwards what it publishes and logs.

import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import { parse as parseYaml } from "yaml";

interface Data {
  name: string;
  /** The module: a file in the inventories directory, or a built-in's (./builtin/*.js). */
  file: string;
  loggingLevel: string;
  configPath: string;
  /** A built-in inventory's section of netprobify.yaml; undefined for directory modules. */
  options?: unknown;
}

const { name, file, loggingLevel, configPath, options } = workerData as Data;
const port = parentPort!;
const controller = new AbortController();
port.on("message", (m: { type: string }) => {
  if (m.type === "abort") controller.abort();
});

const send = (level: string) => (msg: unknown, fields?: Record<string, unknown>) =>
  port.postMessage({ type: "log", level, msg: String(msg), fields: fields ?? {} });

const mod = (await import(file.startsWith("file:") ? file : pathToFileURL(file).href)) as {
  start?: (ctx: unknown) => unknown;
};
if (typeof mod.start !== "function") throw new Error(`${file} exports no start() function`);
await mod.start({
  name,
  loggingLevel,
  configPath,
  options,
  publish(targets: unknown) {
    // Structured clone: only plain data crosses; a function or a cycle would throw here, in the module.
    port.postMessage({ type: "publish", targets: JSON.parse(JSON.stringify(targets ?? null)) });
  },
  async loadConfig() {
    // The module's own <name>.yaml, parsed as netprobify parses its own file (YAML 1.1); undefined
    // when there is none. Modules outside netprobify's tree cannot import its dependencies: this helps.
    let text: string;
    try {
      text = await readFile(configPath, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return parseYaml(text, { version: "1.1", merge: true });
  },
  reportFailure(message: unknown) {
    port.postMessage({ type: "failure", msg: String(message) });
  },
  log: { debug: send("debug"), info: send("info"), warn: send("warn"), error: send("error") },
  signal: controller.signal,
});
port.postMessage({ type: "returned" });
