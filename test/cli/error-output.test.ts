// Every way the netprobify command prints an error names the error's code exactly once: the
// configuration report, usage errors, typed errors from the raw sockets (run --once and the daemon),
// the metrics listener and the environment, and the log lines of a running daemon. Real processes.
// The ones that open raw sockets need root; nothing is sent (they fail before probing), and the one
// target is loopback.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Daemon } from "../../src/daemon/daemon.js";
import { errorFields } from "../../src/daemon/logger.js";
import { Engine } from "../../src/engine/engine.js";
import { engineOptions } from "../../src/engine/from-config.js";
import { Code, NetprobifyError } from "../../src/errors.js";
import { FakeBinding } from "../../src/native/fake.js";
import { RawSockets } from "../../src/native/rawsock.js";
import { capturedLogger } from "../support/log-capture.js";
import { BIN, FIXTURES } from "../support/paths.js";

const dir = mkdtempSync(join(tmpdir(), "npf-err-out-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(port: number): string {
  const file = join(dir, `p${port}.yaml`);
  writeFileSync(
    file,
    `global: {probe_name: lab, interval: 30, nb_proc: 1, logging_level: INFO, prometheus_port: ${port}, dns_update_interval: 0}
groups: {standard: {src_port_a: 64100, src_port_z: 64109}}
targets:
  self: {type: TCPsyn, destination: "127.0.0.1", dst_port: 9, nb_packets: 1}
`,
  );
  return file;
}

/** Runs the command (optionally under setpriv), returns exit code and stderr. */
function run(args: string[], opts: { env?: NodeJS.ProcessEnv; setpriv?: string[] } = {}) {
  const cmd = opts.setpriv ? "setpriv" : process.execPath;
  const argv = opts.setpriv ? [...opts.setpriv, process.execPath, BIN, ...args] : [BIN, ...args];
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: 30_000, env: opts.env ?? process.env });
  return { code: r.status, err: r.stderr };
}

function assertCodeOnce(err: string, code: string) {
  const all = err.match(/NPF_[A-Z_]+/g) ?? [];
  assert.deepEqual(all, [code], `exactly one code, ${code}, in:\n${err}`);
  assert.match(err, new RegExp(`\\[${code}\\]`));
}

const NO_NET_RAW = ["--inh-caps=-net_raw", "--bounding-set=-net_raw"];

describe("an error's code is printed once", () => {
  test("configuration refused (check and the daemon), usage, no configuration found", () => {
    const bad = `${FIXTURES}config/invalid/empty-file.yaml`;
    assertCodeOnce(run(["check", bad]).err, Code.NPF_CONFIG_INVALID);
    assertCodeOnce(run([bad]).err, Code.NPF_CONFIG_INVALID);
    assertCodeOnce(run(["--nope"]).err, Code.NPF_USAGE);
    assertCodeOnce(run(["chekc"]).err, Code.NPF_USAGE);
    const r = spawnSync(process.execPath, [BIN, "check"], { encoding: "utf8", cwd: dir });
    assertCodeOnce(r.stderr, Code.NPF_CONFIG_NOT_FOUND);
  });

  test("without CAP_NET_RAW: run --once and the daemon exit 77, NPF_NO_CAP_NET_RAW once (needs root)", () => {
    const file = config(19131);
    for (const args of [["run", "--once", file], [file]]) {
      const r = run(args, { setpriv: NO_NET_RAW });
      assert.equal(r.code, 77, r.err);
      assert.match(r.err, /setcap cap_net_raw\+ep/);
      assertCodeOnce(r.err, Code.NPF_NO_CAP_NET_RAW);
    }
  });

  describe("the daemon's start-up refusals (needs root)", () => {
    let holder: Server;
    before(async () => {
      holder = createServer();
      await new Promise<void>((resolve) => holder.listen(19132, "0.0.0.0", resolve));
    });
    after(() => holder.close());

    test("metrics port in use: exit 69, NPF_PORT_IN_USE once (needs root)", () => {
      const r = run([config(19132)]);
      assert.equal(r.code, 69, r.err);
      assertCodeOnce(r.err, Code.NPF_PORT_IN_USE);
    });

    test("PROM_USER with a colon: exit 65, NPF_PROM_USER_INVALID once (needs root)", () => {
      const r = run([config(19133)], { env: { ...process.env, PROM_USER: "a:b", PROM_PASSWORD: "x" } });
      assert.equal(r.code, 65, r.err);
      assertCodeOnce(r.err, Code.NPF_PROM_USER_INVALID);
    });
  });

  test("a reload whose sockets cannot be opened logs the error with its code once", async () => {
    const file = join(dir, "reload.yaml");
    const yaml = (portA: number) =>
      `global: {probe_name: lab, interval: 3600, nb_proc: 1, logging_level: INFO, prometheus_port: 9100, dns_update_interval: 0}
groups: {g: {src_ipv4: 198.18.0.2, src_port_a: ${portA}, src_port_z: 64200}}
targets:
  a: {type: TCPsyn, destination: 198.18.1.1, dst_port: 80}
`;
    writeFileSync(file, yaml(64100));
    const { log, lines } = capturedLogger("INFO");
    const fake = new FakeBinding();
    const d = new Daemon({
      file,
      log,
      metrics: {
        applyConfig() {},
        applyPrepared() {},
        recordIteration() {},
        setReloadConfFailed() {},
        hostResolved: () => true,
      },
      openEngine: (c) => new Engine({ ...engineOptions(c), sockets: new RawSockets(fake) }),
    });
    await d.init();
    try {
      fake.hasCapNetRaw = false; // as after --user dropped root
      writeFileSync(file, yaml(64000)); // a wider port range: the engine's sockets are reopened
      assert.equal(await d.reload(), false);
      const line = lines.find((l) => l.includes("configuration change refused"));
      assert.ok(line, lines.join(""));
      assertCodeOnce(line, Code.NPF_NO_CAP_NET_RAW);
    } finally {
      await d.stop();
    }
  });

  test("a logged error carries its code as a field, its message without it", () => {
    const f = errorFields(new NetprobifyError(Code.NPF_SOCKET, "sendmmsg: ENOBUFS"));
    assert.equal(f.code, "NPF_SOCKET");
    assert.equal(f.message, "sendmmsg: ENOBUFS");
    assert.equal(errorFields(new Error("plain")).code, undefined);
  });
});
