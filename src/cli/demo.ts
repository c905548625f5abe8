// `netprobify demo`: a small network built on this machine and probed by the real daemon (Daemon,
// Metrics, the HTTP server), shown live, no configuration needed. It runs in two stages. On the host
// it checks that namespaces can be made, starts the /metrics relay (demo-relay.ts) and re-executes
// itself inside the lab's wall (src/lab/enter.sh: fresh network, mount and PID namespaces, no route
// out), under `setpriv --pdeathsig KILL` so that even a SIGKILL of this process takes the whole
// namespace down with it. Inside, the lab checks isolation before the first packet, builds the
// scenario (demo-scenario.ts), runs the daemon on it and changes the faults on schedule.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Daemon } from "../daemon/daemon.js";
import { LogSink } from "../daemon/log-sink.js";
import { createLogger } from "../daemon/logger.js";
import { Code, ExitCode, NetprobifyError, UsageError } from "../errors.js";
import { LabError } from "../lab/exec.js";
import { assertIsolated, createLab, type Lab } from "../lab/lab.js";
import { enterScript, repoRoot } from "../lab/native.js";
import { Metrics } from "../metrics/metrics.js";
import { startServer } from "../server/http.js";
import { landingPage } from "../server/landing.js";
import { answerApi, WebState } from "../web/api.js";
import { ledgerPaths } from "../web/flows.js";
import { hostRelay, labRelay } from "./demo-relay.js";
import {
  demoConfig,
  EPISODE,
  hintAt,
  INTERVAL_S,
  injected,
  LAB_SPEC,
  LOSSY_TOR_PCT,
  type Phase,
  phaseAt,
  TARGETS,
} from "./demo-scenario.js";
import { DemoStats } from "./demo-stats.js";
import { createLiveView } from "./live-view.js";
import { VERSION } from "./version.js";

/** Where the command writes (main.ts's Io). */
interface Io {
  out(line: string): void;
  err(line: string): void;
}

export interface DemoOptions {
  /** Stop after this many seconds (exit 0); undefined = until q, Ctrl-C or SIGTERM. */
  forS?: number;
  json: boolean;
  writeConfig?: string;
}

/** The host port tried first for the /metrics relay (any free port if taken). */
export const DEMO_METRICS_PORT = 9109;
/** The daemon's listener inside the namespace (its loopback is private). */
const INNER_PORT = 9100;

export function runDemo(opts: DemoOptions, io: Io): Promise<number> {
  return process.env.NETPROBIFY_DEMO_STAGE === "inside" ? inside(opts, io) : outside(opts, io);
}

function cannotIsolate(detail: string): NetprobifyError {
  return new NetprobifyError(
    Code.NPF_DEMO_NO_NAMESPACES,
    `the demo builds its network in namespaces, and this machine refuses them (${detail}). Run it as root: \`sudo npx netprobify demo\` (in a container: one started with --privileged, or a VM); or, as a normal user, allow unprivileged user namespaces: \`sudo sysctl -w user.max_user_namespaces=15000\` (Ubuntu 24.04 and later: also \`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0\`)`,
  );
}

/** What must work before anything is built: the kernel tools, and namespaces for this user. */
function preflight(): void {
  for (const [tool, pkg] of [
    ["ip", "iproute2"],
    ["nft", "nftables"],
    ["unshare", "util-linux"],
    ["setpriv", "util-linux"],
  ] as const) {
    const r = spawnSync(tool, ["--version"], { stdio: "ignore" });
    if (r.error)
      throw new NetprobifyError(
        Code.NPF_DEMO_MISSING_TOOL,
        `the demo needs \`${tool}\` (Debian/Ubuntu package ${pkg}): install it and run again`,
      );
  }
  const user = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];
  const r = spawnSync("unshare", [...user, "--net", "--mount", "--pid", "--fork", "true"], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw cannotIsolate(r.stderr.trim() || `unshare exit ${r.status}`);
}

function innerArgs(opts: DemoOptions): string[] {
  const a = ["demo"];
  if (opts.forS !== undefined) a.push("--for", String(opts.forS));
  if (opts.json) a.push("--json");
  if (opts.writeConfig !== undefined) a.push("--write-config", resolve(opts.writeConfig));
  return a;
}

async function outside(opts: DemoOptions, io: Io): Promise<number> {
  preflight();
  const dir = mkdtempSync(join(tmpdir(), "netprobify-demo-"));
  const sock = join(dir, "metrics.sock");
  const relay = await hostRelay(DEMO_METRICS_PORT, sock);
  const url = `http://127.0.0.1:${relay.port}/metrics`;
  const child = spawn(
    "setpriv",
    [
      "--pdeathsig",
      "KILL",
      "sh",
      enterScript(),
      process.execPath,
      join(repoRoot(), "bin/netprobify.js"),
      ...innerArgs(opts),
    ],
    {
      stdio: "inherit",
      env: {
        ...process.env,
        NETPROBIFY_DEMO_STAGE: "inside",
        NETPROBIFY_DEMO_SOCKET: sock,
        NETPROBIFY_DEMO_URL: url,
      },
    },
  );
  // Ctrl-C reaches the whole terminal process group: the inside stage stops itself, we wait for it.
  const onInt = () => undefined;
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onTerm = forward("SIGTERM");
  const onHup = forward("SIGHUP");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
      child.once("error", rej);
      child.once("exit", (c, s) => res([c, s]));
    });
    if (code === null) {
      io.err(`netprobify: the demo was killed by ${signal}`);
      return ExitCode.SOFTWARE;
    }
    return code;
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    process.off("SIGHUP", onHup);
    relay.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Applies the fault schedule's changes to the lab, one change at a time. */
class Faults {
  private phase: Phase = { episode: false, unreachable: false };
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly lab: Lab) {}

  get now(): Phase {
    return this.phase;
  }

  apply(next: Phase): Promise<void> {
    const prev = this.phase;
    this.phase = next;
    const step = this.chain.then(async () => {
      if (next.episode !== prev.episode) await this.lab.setLoss("dc3", next.episode ? EPISODE.pct : 0);
      if (next.unreachable !== prev.unreachable) {
        const router = this.lab.router!;
        const gone = this.lab.target("gone");
        const verb = next.unreachable ? "add" : "del";
        await this.lab.exec(router.ns, "ip", ["route", verb, "unreachable", `${gone.v4}/32`]);
        await this.lab.exec(router.ns, "ip", ["-6", "route", verb, "unreachable", `${gone.v6}/128`]);
      }
    });
    this.chain = step.catch(() => undefined);
    return step;
  }
}

async function inside(opts: DemoOptions, io: Io): Promise<number> {
  const sock = process.env.NETPROBIFY_DEMO_SOCKET;
  if (!sock) throw new UsageError("NETPROBIFY_DEMO_SOCKET is not set");
  // From the start: a signal while the network is being built stops the demo cleanly once it is.
  let finish: () => void = () => undefined;
  let stopped = false;
  const finished = new Promise<void>((r) => {
    finish = () => {
      stopped = true;
      r();
    };
  });
  const handlers = ["SIGINT", "SIGTERM", "SIGHUP"].map((s) => {
    const h = () => finish();
    process.on(s, h);
    return [s, h] as const;
  });
  let lab: Lab;
  try {
    // Before anything is built or sent: this must be a sealed namespace with no route out.
    await assertIsolated();
    lab = await createLab(LAB_SPEC);
    await lab.setLoss("torlossy", LOSSY_TOR_PCT);
  } catch (e) {
    for (const [s, h] of handlers) process.off(s, h);
    if (e instanceof LabError)
      throw new NetprobifyError(Code.NPF_DEMO_LAB, `building the demo network failed: ${e.message}`);
    throw e;
  }
  const file = join(dirname(sock), "netprobify.yaml");
  const text = demoConfig(lab, INNER_PORT);
  writeFileSync(file, text);
  if (opts.writeConfig) writeFileSync(opts.writeConfig, text);

  const sink = new LogSink({ fd: 2 });
  const log = createLogger("ERROR", { destination: sink, pretty: true });
  const metrics = new Metrics({ version: VERSION });
  const stats = new DemoStats(TARGETS);
  const faults = new Faults(lab);
  const inj = (t: (typeof TARGETS)[number]) => injected(t, faults.now);
  const url = process.env.NETPROBIFY_DEMO_URL;
  const view = createLiveView(opts.json ? { out: process.stderr } : {});
  let t0 = performance.now();
  let cpu = process.cpuUsage();
  let wall = t0;
  let cpuPercent = 0;
  // The status page's history hears what the metrics hear (as the daemon's does: daemon-reports.ts).
  const web = new WebState(VERSION);
  const apply = metrics.applyConfig.bind(metrics);
  metrics.applyConfig = (config) => {
    const out = apply(config);
    web.applyConfig(config);
    return out;
  };
  const record = metrics.recordIteration.bind(metrics);
  metrics.recordIteration = (config, result) => {
    const out = record(config, result);
    web.recordIteration(config, result);
    const now = performance.now();
    stats.add(result, (now - t0) / 1000);
    const used = process.cpuUsage(cpu);
    cpuPercent = (100 * (used.user + used.system)) / 1000 / Math.max(1, now - wall);
    cpu = process.cpuUsage();
    wall = now;
    view.update(
      {
        elapsedS: (now - t0) / 1000,
        iterations: stats.iterations,
        probesPerSecond: stats.probesLastIteration / INTERVAL_S,
        cpuPercent,
        ...(url ? { metricsUrl: `curl -s ${url}` } : {}),
        hint: hintAt((now - t0) / 1000),
      },
      stats.viewRows(inj),
    );
    return out;
  };

  const daemon = new Daemon({ file, log, metrics });
  web.paths = ledgerPaths(daemon.ledger);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let relay: Awaited<ReturnType<typeof labRelay>> | undefined;
  const timers: NodeJS.Timeout[] = [];
  try {
    await daemon.init();
    server = await startServer({
      address: "127.0.0.1",
      port: INNER_PORT,
      metrics: () => metrics.snapshot(),
      health: () => ({ ok: true, detail: { iterations: daemon.iterations, probe_name: "demo" } }),
      landing: landingPage(VERSION, "demo"),
      api: (path, query) => answerApi(web, path, query),
    });
    relay = await labRelay(sock, server.port);
    if (url) {
      io.err(`netprobify demo: metrics from your shell: curl ${url}`);
      io.err(`netprobify demo: status page in your browser: ${url.replace(/metrics$/, "")}`);
    }
    view.onQuit(() => finish());
    t0 = performance.now();
    wall = t0;
    cpu = process.cpuUsage();
    if (!stopped) daemon.start();
    const tick = () =>
      faults.apply(phaseAt((performance.now() - t0) / 1000)).catch((e: unknown) => {
        // A fault that cannot be switched is shown, not fatal: the demo goes on measuring.
        log.error({ err: (e as Error).message }, "demo fault schedule");
      });
    timers.push(setInterval(tick, 250));
    if (opts.forS !== undefined) timers.push(setTimeout(finish, opts.forS * 1000));
    await finished;
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const [s, h] of handlers) process.off(s, h);
    view.close();
    await daemon.stop();
    await server?.close();
    await daemon.done;
    relay?.close();
    await faults.apply(faults.now).catch(() => undefined);
    await lab.destroy();
    sink.flushSync();
  }
  if (opts.json) {
    io.out(
      JSON.stringify(
        {
          durationS: (performance.now() - t0) / 1000,
          iterations: stats.iterations,
          intervalS: INTERVAL_S,
          // The schedule, not the phase the run happened to end in.
          targets: stats.summary((t) => injected(t)),
        },
        null,
        2,
      ),
    );
  }
  return ExitCode.OK;
}
