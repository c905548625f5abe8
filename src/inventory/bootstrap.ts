// Runs one JavaScript dynamic-inventory module in its own child process (started by host.ts through
// sandbox.ts, under a kernel memory limit), so that nothing it does (throwing, hoarding memory,
// looping forever, exiting) can stop probing. It calls the module's start() with the plugin
// contract (docs/inventories.md) and speaks newline-delimited JSON with the daemon on fd 3:
// in: {type: "init", name, file, loggingLevel, configPath, options} then {type: "stop"};
// out: {type: "publish", targets}, {type: "failure", msg}, {type: "log", level, msg, fields},
// {type: "returned"}, {type: "fatal", msg} (then exit 1).
import { readFile } from "node:fs/promises";
import { Socket } from "node:net";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";

interface Init {
  type: "init";
  name: string;
  /** The module: a file in the inventories directory, or a built-in's (./builtin/*.js). */
  file: string;
  loggingLevel: string;
  configPath: string;
  /** A built-in inventory's section of netprobify.yaml; undefined for directory modules. */
  options?: unknown;
}

const channel = new Socket({ fd: 3, readable: true, writable: true });
const controller = new AbortController();
const send = (m: unknown) => channel.write(`${JSON.stringify(m)}\n`);

function fatal(err: unknown): void {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  send({ type: "fatal", msg });
  // Let the line leave (it is written at once unless the daemon is not reading), then go.
  channel.end(() => process.exit(1));
  setTimeout(() => process.exit(1), 200);
}
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);

/** Stop: abort the module's signal; a module that does not end by itself is ended after 1 s. */
function stop(): void {
  controller.abort();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", stop);
// The daemon is gone (its end of the channel closed): so is the module.
channel.on("end", () => process.exit(0));
channel.on("error", () => process.exit(0));

const init = await new Promise<Init>((resolve) => {
  let text = "";
  const onData = (b: Buffer) => {
    text += b.toString("utf8");
    const nl = text.indexOf("\n");
    if (nl === -1) return;
    channel.off("data", onData);
    const rest = text.slice(nl + 1);
    channel.on("data", (more: Buffer) => commands(more.toString("utf8")));
    if (rest) commands(rest);
    resolve(JSON.parse(text.slice(0, nl)) as Init);
  };
  channel.on("data", onData);
});

function commands(text: string): void {
  if (text.includes('"stop"')) stop();
}

const log = (level: string) => (msg: unknown, fields?: Record<string, unknown>) =>
  send({ type: "log", level, msg: String(msg), fields: fields ?? {} });

const { name, file, loggingLevel, configPath, options } = init;
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
    // Only plain data crosses: a function or a cycle throws here, in the module.
    send({ type: "publish", targets: targets ?? null });
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
    send({ type: "failure", msg: String(message) });
  },
  log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  signal: controller.signal,
});
send({ type: "returned" });
// From here the channel must not keep the process alive: a module that returned and holds nothing
// else ends its process (reported as "returned"), as a worker thread's would. Until start() settles,
// it does: a module waiting on its signal is waiting on this channel.
channel.unref();
