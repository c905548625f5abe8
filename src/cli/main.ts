// The `netprobify` command: argument parsing and dispatch, and the one place where errors become
// messages and exit codes (docs/exit-codes.md). Commands return an exit code; nothing else calls
// process.exit, so tests drive main() with fake output streams.
import { parseArgs } from "node:util";
import { formatDiagnostic } from "../config/format.js";
import { loadConfig } from "../config/load.js";
import { ConfigError, ExitCode, errorText, exitCodeFor, NetprobifyError, UsageError } from "../errors.js";
import { type ConfigChoice, chooseConfig, DEFAULT_CONFIGS, refuseUnknownCommand } from "./config-path.js";
// The commands' own modules are imported when the command runs: `run --once` then loads neither the
// daemon (HTTP server, metrics, web page) nor the demo, 7-12 MB less resident (docs/performance.md).
import type { runDaemon } from "./daemon-run.js";
import type { OnceOptions } from "./once.js";
import { VERSION } from "./version.js";

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export { VERSION };

const HELP = `netprobify ${VERSION}: packet loss and latency prober for Prometheus

Usage:
  netprobify [CONFIG]              run the prober daemon (CONFIG defaults to ./${DEFAULT_CONFIGS[0]},
                                   else ./${DEFAULT_CONFIGS[1]}); SIGHUP reloads, SIGTERM/SIGINT stop
  netprobify run [CONFIG]          same
  netprobify [run] --user NAME [CONFIG]
                                   drop root to NAME once sockets and the metrics port are open
  netprobify [run|check] --web.config.file FILE [CONFIG]
                                   serve the endpoint as FILE says: TLS, mutual TLS, bcrypt basic
                                   auth users, headers (Prometheus exporter-toolkit format, reloaded
                                   with SIGHUP; docs/http.md); check validates it too
  netprobify run --once [--json] [--probe-log FILE] [CONFIG]
                                   probe one iteration and print the results (needs CAP_NET_RAW);
                                   --json: one JSON object; --probe-log: one CSV line per probe
                                   (docs/cli-once.md)
  netprobify check [--json] [CONFIG]
                                   validate CONFIG and print what it will probe
  netprobify demo [--for SECONDS] [--json] [--write-config FILE]
                                   build a small network in sealed namespaces on this machine and
                                   probe it with the daemon, live (root, or unprivileged user
                                   namespaces); --json: a final summary; --write-config: save the
                                   generated configuration (docs/demo.md)
  netprobify help | --help | --version

Exit codes: 0 success, 64 usage error, 65 invalid, unreadable or no configuration,
69 metrics port unavailable, 70 internal error, 74 output file not writable, 77 missing privilege
(docs/exit-codes.md).
`;

export async function main(argv: string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    return report(err, io);
  }
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  const [first, ...rest] = positionals;
  if (values.help || first === "help") {
    io.out(HELP);
    return ExitCode.OK;
  }
  if (values.version) {
    io.out(VERSION);
    return ExitCode.OK;
  }
  if (first === "demo") return demo(rest, values, io);
  if (values.for !== undefined || values["write-config"] !== undefined)
    throw new UsageError("--for and --write-config apply to the demo command only");
  const command = first === "check" || first === "run" ? first : "run";
  const args = first === "check" || first === "run" ? rest : positionals;
  if (args.length > 1) throw new UsageError(`too many arguments: ${args.join(" ")}`);
  if (command !== first && first !== undefined) refuseUnknownCommand(first);
  const webConfigFile = values["web.config.file"];
  if (webConfigFile === "") throw new UsageError("--web.config.file needs a file name");
  if (command === "check") {
    if (values.once || values.user !== undefined || values["probe-log"] !== undefined)
      throw new UsageError("--once, --user and --probe-log apply to the run command only");
    if (webConfigFile !== undefined) {
      const { loadWebConfig } = await import("../server/web-config.js");
      await loadWebConfig(webConfigFile);
      io.err(`${webConfigFile}: valid web configuration`);
    }
    return check(args[0], values.json === true, io);
  }
  if (values.once && webConfigFile !== undefined)
    throw new UsageError("--web.config.file applies to the daemon, not to --once");
  if (!values.once && (values.json || values["probe-log"] !== undefined))
    throw new UsageError("--json and --probe-log apply to check (--json) or run --once only");
  if (values.once && values.user !== undefined)
    throw new UsageError("--user applies to the daemon, not to --once");
  if (values["probe-log"] === "") throw new UsageError("--probe-log needs a file name");
  return run(
    args[0],
    values.once === true,
    io,
    { user: values.user, webConfigFile },
    {
      json: values.json === true,
      probeLog: values["probe-log"],
    },
  );
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "V" },
      json: { type: "boolean" },
      once: { type: "boolean" },
      user: { type: "string" },
      "probe-log": { type: "string" },
      for: { type: "string" },
      "write-config": { type: "string" },
      "web.config.file": { type: "string" },
    },
  });
}

async function demo(args: string[], values: ReturnType<typeof parse>["values"], io: Io): Promise<number> {
  if (args.length > 0) throw new UsageError(`demo takes no arguments: ${args.join(" ")}`);
  if (values["web.config.file"] !== undefined)
    throw new UsageError("--web.config.file applies to the daemon (run), not to the demo");
  if (values.once || values.user !== undefined || values["probe-log"] !== undefined)
    throw new UsageError("--once, --user and --probe-log apply to the run command only");
  let forS: number | undefined;
  if (values.for !== undefined) {
    forS = Number(values.for);
    if (!(Number.isFinite(forS) && forS > 0 && forS <= 31 * 86400))
      throw new UsageError(`--for needs a number of seconds > 0, got ${JSON.stringify(values.for)}`);
  }
  if (values["write-config"] === "") throw new UsageError("--write-config needs a file name");
  const { runDemo } = await import("./demo.js");
  return runDemo(
    {
      json: values.json === true,
      ...(forS !== undefined ? { forS } : {}),
      ...(values["write-config"] !== undefined ? { writeConfig: values["write-config"] } : {}),
    },
    io,
  );
}

async function check(given: string | undefined, json: boolean, io: Io): Promise<number> {
  let choice: ConfigChoice | undefined;
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    choice = chooseConfig(given);
    if (choice.note) io.err(`netprobify: ${choice.note}`);
    config = await loadConfig(choice.file);
  } catch (err) {
    // Scripts get the refusal on stdout too; the readable report still goes to stderr (report()).
    if (json && err instanceof NetprobifyError) io.out(JSON.stringify(refusal(err, choice?.file), null, 2));
    throw err;
  }
  const file = choice.file;
  for (const w of config.warnings) io.err(formatDiagnostic(file, w));
  const { formatSummary, summarize } = await import("./summary.js");
  const summary = summarize(config);
  if (json) io.out(JSON.stringify({ valid: true, file, warnings: config.warnings, summary }, null, 2));
  else
    io.out(
      `${file}: valid${config.warnings.length ? ` (${config.warnings.length} warning${config.warnings.length === 1 ? "" : "s"})` : ""}\n${formatSummary(summary)}`,
    );
  return ExitCode.OK;
}

/** What `check --json` prints for a file it refuses (docs/errors.md). */
function refusal(err: NetprobifyError, file: string | undefined) {
  const diagnostics = err instanceof ConfigError ? err.diagnostics : [];
  return {
    valid: false,
    file: file ?? null,
    code: err.code,
    message: err.message,
    errors: diagnostics.filter((d) => d.severity === "error"),
    warnings: diagnostics.filter((d) => d.severity === "warning"),
  };
}

async function run(
  given: string | undefined,
  once: boolean,
  io: Io,
  daemonOptions: Parameters<typeof runDaemon>[1],
  onceOptions: OnceOptions,
): Promise<number> {
  const { file, note } = chooseConfig(given);
  if (!once) {
    const { runDaemon } = await import("./daemon-run.js");
    return runDaemon(file, { ...daemonOptions, ...(note ? { note } : {}) });
  }
  if (note) io.err(`netprobify: ${note}`);
  const config = await loadConfig(file);
  for (const w of config.warnings) io.err(formatDiagnostic(file, w));
  const { runOnce } = await import("./once.js");
  return runOnce(config, io, onceOptions);
}

function report(err: unknown, io: Io): number {
  if (err instanceof ConfigError) {
    for (const d of err.diagnostics) io.err(formatDiagnostic(err.file, d));
    const errors = err.diagnostics.filter((d) => d.severity === "error").length;
    io.err(
      `netprobify: ${err.file}: ${errors} error${errors === 1 ? "" : "s"}, configuration refused [${err.code}]`,
    );
  } else if (err instanceof UsageError) {
    io.err(`netprobify: ${errorText(err)}\nTry 'netprobify --help'.`);
  } else if (err instanceof NetprobifyError) {
    io.err(`netprobify: ${errorText(err)}`);
  } else {
    io.err(`netprobify: internal error: ${(err as Error)?.stack ?? String(err)}`);
  }
  return exitCodeFor(err);
}
