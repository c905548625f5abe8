// A real Prometheus (Debian's package) scrapes the daemon in the lab over mutual TLS with a bcrypt
// basic-auth user from --web.config.file (certificates made by openssl for this run), negotiating
// OpenMetrics as it does by default; the same Prometheus is refused without credentials and without
// a client certificate. A bad web configuration sent with SIGHUP keeps the running one (scrapes go
// on) and raises app_reload_conf_failed_status; POST /-/reload with the fixed file lowers it. Needs
// root (lab, raw sockets), prometheus and openssl (.ci/run installs them).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { basic, tlsGet } from "../server/client.js";
import { makeCerts, type TestCerts } from "../support/certs.js";
import { BIN } from "../support/paths.js";

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

describe("a real Prometheus scrapes the daemon over mutual TLS with a bcrypt user (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let certs: TestCerts;
  const procs: ChildProcess[] = [];
  before(async () => {
    lab = await createLab({ targets: [{ name: "clean", tcpPorts: [443] }] });
    dir = mkdtempSync(join(tmpdir(), "npf-prom-tls-"));
    certs = makeCerts();
  });
  after(async () => {
    for (const p of procs) p.kill("SIGKILL");
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  test("scraped over TLS with OpenMetrics; refused without password or certificate; reloads", async () => {
    const daemonPort = 19181;
    const promPort = 19193;
    const config = join(dir, "netprobify.yaml");
    writeFileSync(
      config,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: DEBUG, prometheus_port: ${daemonPort}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  standard: {src_port_a: 64000, src_port_z: 64019}
targets:
  clean: {type: TCPsyn, destination: "${lab.target("clean").v4}", dst_port: 443, nb_packets: 5, timeout: 0.5}
`,
    );
    const webYml = join(dir, "web.yml");
    const good = `tls_server_config:
  cert_file: ${certs.serverCert}
  key_file: ${certs.serverKey}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ${certs.caCert}
basic_auth_users:
  prometheus: "${bcrypt.hashSync("s3cret", 10)}"
`;
    writeFileSync(webYml, good);
    const tls = (cert: boolean) =>
      `{ca_file: ${certs.caCert}${cert ? `, cert_file: ${certs.clientCert}, key_file: ${certs.clientKey}` : ""}}`;
    const job = (name: string, cert: boolean, auth: boolean) => `  - job_name: ${name}
    scheme: https
    tls_config: ${tls(cert)}
${auth ? "    basic_auth: {username: prometheus, password: s3cret}\n" : ""}    static_configs: [{targets: ["127.0.0.1:${daemonPort}"]}]
`;
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
${job("netprobify", true, true)}${job("nopassword", true, false)}${job("nocert", false, true)}`,
    );

    const daemon = spawn(process.execPath, [BIN, "--web.config.file", webYml, config], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    procs.push(daemon);
    let daemonErr = "";
    daemon.stderr!.on("data", (b) => {
      daemonErr += String(b);
    });
    const prom = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn",
      ],
      { stdio: "ignore" },
    );
    procs.push(prom);

    const query = async (q: string): Promise<Series[]> => {
      const r = (await (
        await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`)
      ).json()) as { data: { result: Series[] } };
      return r.data.result;
    };
    /** Polls `q` until `ok` holds for its result (Prometheus scrapes every second), or 30 s. */
    const until = async (q: string, ok: (r: Series[]) => boolean): Promise<Series[]> => {
      const deadline = Date.now() + 30_000;
      let last: Series[] = [];
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          last = await query(q);
          if (ok(last)) return last;
        } catch {
          // Prometheus not up yet
        }
      }
      return last;
    };
    const upByJob = (r: Series[]) => Object.fromEntries(r.map((s) => [s.metric.job, s.value[1]]));
    const allThree = (r: Series[]) => r.length === 3;

    // Scraped over mutual TLS with the bcrypt user; the other two jobs are refused.
    const up = upByJob(await until("up", (r) => allThree(r) && upByJob(r).netprobify === "1"));
    assert.deepEqual(
      up,
      { netprobify: "1", nopassword: "0", nocert: "0" },
      `daemon stderr: ${daemonErr.slice(-2000)}`,
    );
    const sent = await until(
      'tcpsyn_sent_total{job="netprobify",destination="clean"}',
      (r) => Number(r[0]?.value[1]) >= 5,
    );
    assert.ok(Number(sent[0]?.value[1]) >= 5, "the probes' counters arrived");
    const targets = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json()) as {
      data: { activeTargets: { labels: { job: string }; lastError: string }[] };
    };
    const errorOf = (j: string) =>
      targets.data.activeTargets.find((t) => t.labels.job === j)?.lastError ?? "";
    assert.match(errorOf("nopassword"), /401/);
    assert.match(errorOf("nocert"), /certificate|tls|EOF|reset/i);
    // Prometheus asked for OpenMetrics and got it (its parser read the `# EOF` form).
    assert.match(daemonErr, /"format":"openmetrics"/);
    assert.doesNotMatch(daemonErr, /"format":"text"/);

    // A bad web configuration with SIGHUP: refused, the running one stays, the gauge says so.
    writeFileSync(webYml, `${good}rate_limit: {interval: 1s, burst: 1}\n`);
    daemon.kill("SIGHUP");
    const failed = await until(
      'app_reload_conf_failed_status{job="netprobify"}',
      (r) => r[0]?.value[1] === "1",
    );
    assert.equal(
      failed[0]?.value[1],
      "1",
      "reload failure visible, scraped over the running TLS configuration",
    );
    assert.match(daemonErr, /web\.yml:8:1 rate_limit: not supported by netprobify/);

    // Fixed, and reloaded with POST /-/reload (over TLS, with the certificate and the password).
    writeFileSync(webYml, good);
    const reload = await tlsGet(daemonPort, "/-/reload", {
      method: "POST",
      ca: certs.caCert,
      cert: certs.clientCert,
      key: certs.clientKey,
      headers: { authorization: basic("prometheus", "s3cret") },
    });
    assert.equal(reload.status, 200, reload.body);
    const cleared = await until(
      'app_reload_conf_failed_status{job="netprobify"}',
      (r) => r[0]?.value[1] === "0",
    );
    assert.equal(cleared[0]?.value[1], "0");
    const ready = await tlsGet(daemonPort, "/-/ready", {
      ca: certs.caCert,
      cert: certs.clientCert,
      key: certs.clientKey,
      headers: { authorization: basic("prometheus", "s3cret") },
    });
    assert.equal(ready.status, 200);
    daemon.kill("SIGTERM");
  });
});
