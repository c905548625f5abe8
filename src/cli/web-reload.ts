// Reloading --web.config.file with the daemon's configuration (SIGHUP, POST /-/reload). A refused
// web configuration changes nothing: the running certificates, users and headers stay, as a refused
// netprobify.yaml keeps the running targets; the metrics hear it as the "web" reload source, beside
// the daemon's own, and app_reload_conf_failed_status says 1 while either is refused.
import { formatDiagnostic } from "../config/format.js";
import type { Daemon } from "../daemon/daemon.js";
import type { Logger } from "../daemon/logger.js";
import { ConfigError, NetprobifyError } from "../errors.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ReloadOutcome, RunningServer } from "../server/http.js";
import { loadWebConfig } from "../server/web-config.js";

/** How long POST /-/reload waits for the daemon to apply its file before answering 202. */
export const RELOAD_WAIT_MS = 10_000;

export class Reloads {
  constructor(
    private readonly metrics: Pick<Metrics, "setReloadConfFailed" | "publish">,
    private readonly log: Logger,
    private readonly webFile: string | undefined,
  ) {}

  /** Reads the web configuration again and applies it; the problems, or undefined when applied. */
  async reloadWeb(server: Pick<RunningServer, "applyWeb">): Promise<string[] | undefined> {
    if (this.webFile === undefined) return undefined;
    let problems: string[] | undefined;
    try {
      server.applyWeb(await loadWebConfig(this.webFile));
      this.log.info({ file: this.webFile }, "web configuration reloaded");
    } catch (err) {
      if (err instanceof ConfigError) problems = err.diagnostics.map((d) => formatDiagnostic(err.file, d));
      else if (err instanceof NetprobifyError) problems = [`${err.message} [${err.code}]`];
      else problems = [`${this.webFile}: ${(err as Error)?.message ?? String(err)}`];
      for (const p of problems) this.log.error(p);
      this.log.error("web configuration reload refused: the running one stays in force");
    }
    this.metrics.setReloadConfFailed(problems !== undefined, "web");
    this.metrics.publish();
    return problems;
  }

  /** POST /-/reload: both files, answered with the outcome (202 if the daemon is still busy). */
  async reloadBoth(
    server: Pick<RunningServer, "applyWeb">,
    daemon: Pick<Daemon, "reloadAndWait">,
  ): Promise<ReloadOutcome> {
    const web = await this.reloadWeb(server);
    let timer: NodeJS.Timeout | undefined;
    const daemonOk = await Promise.race([
      daemon.reloadAndWait(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), RELOAD_WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    const lines: string[] = [];
    if (web) lines.push("web configuration refused, the running one stays:", ...web);
    if (daemonOk === false) lines.push("configuration refused, the running one stays (details in the log)");
    if (daemonOk === undefined)
      lines.push("configuration reload requested: it is applied when the current iteration ends");
    if (lines.length === 0) lines.push("configuration reloaded");
    const ok = web === undefined && daemonOk !== false;
    return { ok, status: daemonOk === undefined && ok ? 202 : undefined, message: lines.join("\n") };
  }
}
