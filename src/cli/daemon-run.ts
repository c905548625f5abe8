// `netprobify [CONFIG]` / `netprobify run [CONFIG]`: the daemon as deployed. Order matters: the
// configuration is validated (65 if bad), the raw sockets opened (77 without CAP_NET_RAW), the
// metrics endpoint bound (69 if the port is taken: never probe blind), and only then does probing
// start. With --user, root is dropped once sockets and port are held. SIGHUP reloads; SIGTERM/SIGINT
// stop promptly and close everything, exit 0.
import { Daemon } from "../daemon/daemon.js";
import { dropTo, lookupUser } from "../daemon/drop.js";
import { surviveFaults } from "../daemon/faults.js";
import { LogSink } from "../daemon/log-sink.js";
import { createLogger } from "../daemon/logger.js";
import { ExitCode } from "../errors.js";
import { Metrics } from "../metrics/metrics.js";
import { authEnvWarning, authFromEnv } from "../server/auth.js";
import { startServer } from "../server/http.js";
import { landingPage } from "../server/landing.js";
import { loadWebConfig } from "../server/web-config.js";
import { answerApi, WebState } from "../web/api.js";
import { ledgerPaths } from "../web/flows.js";
import { DaemonReports } from "./daemon-reports.js";
import { VERSION } from "./version.js";
import { Reloads } from "./web-reload.js";

export async function runDaemon(
  file: string,
  opts: { user?: string; webConfigFile?: string; note?: string } = {},
): Promise<number> {
  const account = opts.user === undefined ? undefined : lookupUser(opts.user);
  // A bad web configuration is a configuration error (65), found before any socket is opened.
  const web = opts.webConfigFile === undefined ? undefined : await loadWebConfig(opts.webConfigFile);
  // So is an unusable PROM_USER/PROM_PASSWORD (65): refused before the engine opens anything.
  const auth = authFromEnv(process.env);
  // Logging never stops probing: lines that cannot be written are dropped and counted.
  const sink = new LogSink({ fd: 2 });
  const log = createLogger("INFO", { destination: sink, pretty: Boolean(process.stderr.isTTY) });
  // Which file, when the default lookup chose it (./netprobify.yaml, else the original's ./config.yaml).
  if (opts.note) log.info({ file }, opts.note);
  const metrics = new Metrics({ version: VERSION });
  const reloads = new Reloads(metrics, log, opts.webConfigFile);
  // The status page's history and state (src/web) hear what the metrics hear (daemon-reports.ts).
  const webState = new WebState(VERSION);
  const reports = new DaemonReports(metrics, webState, (err) => {
    log.error({ err: String(err) }, "internal error in the status page's history");
    metrics.countInternalError("metrics");
  });
  const daemon = new Daemon({ file, log, metrics: reports });
  webState.paths = ledgerPaths(daemon.ledger, () => daemon.pathsDocument());
  let storm: (() => void) | undefined;
  const removeFaultHandlers = surviveFaults({
    log,
    count: (where) => metrics.countInternalError(where),
    onStorm: () => storm?.(),
  });
  try {
    await daemon.init();
  } catch (err) {
    removeFaultHandlers();
    sink.flushSync();
    throw err;
  }
  const g = daemon.config.global;
  const warning = authEnvWarning(process.env);
  if (warning) log.warn(warning);
  if (auth && web && web.users.size > 0)
    log.warn("PROM_USER/PROM_PASSWORD and basic_auth_users are both set: either credentials are accepted");
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer({
      address: g.prometheus_address,
      port: g.prometheus_port,
      auth,
      ...(web ? { web } : {}),
      // Every scrape gets the exposition rendered after the last change (iteration, reload).
      metrics: (format) => metrics.snapshot(format),
      health: () => ({
        ok: true,
        detail: { iterations: daemon.iterations, probe_name: daemon.config.global.probe_name },
      }),
      ready: () => daemon.iterations > 0,
      paths: () => daemon.pathsDocument(),
      reload: () => reloads.reloadBoth(server, daemon),
      landing: landingPage(VERSION, g.probe_name),
      api: (path, query) => answerApi(webState, path, query),
      log: (level, msg, fields) => log[level](fields, msg),
    });
  } catch (err) {
    await daemon.stop();
    removeFaultHandlers();
    sink.flushSync();
    throw err;
  }
  metrics.setOutsideTotals({
    logLinesDropped: () => sink.dropped,
    httpConnectionsRefused: () => server.refused,
  });
  if (account) {
    dropTo(account);
    log.info({ user: account.name, uid: account.uid }, "privileges dropped: sockets stay open");
  }
  log.info({ address: server.address, port: server.port, version: VERSION }, "netprobify started");
  const modules = daemon.startInventories();
  if (modules.length > 0) log.info({ modules }, "dynamic inventories started");
  daemon.start();
  return new Promise((resolve) => {
    let stopping = false;
    const stop = async (signal: string, code: number = ExitCode.OK) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping");
      await daemon.stop();
      await server.close();
      await daemon.done;
      removeFaultHandlers();
      sink.flushSync();
      resolve(code);
    };
    storm = () => void stop("exception storm", ExitCode.SOFTWARE);
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGHUP", () => {
      log.info("SIGHUP: reloading the configuration");
      void reloads.reloadWeb(server);
      daemon.requestReload();
    });
  });
}
