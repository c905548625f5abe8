// A rate-limited target is no faulty ECMP member (docs/paths.md, Limits): the real daemon probes a lab
// host that limits its ICMP errors as Linux does (a burst of 6 per peer, refilled between iterations),
// so each UDPunreachable burst of 16 probes over 16 source ports gets 6 port unreachables and loses the
// last 10. With the flows' order turned every iteration (src/engine/rotation.ts) those 10 are other
// flows each time: no flow is flagged and no trace incident opens for it over 100 iterations, IPv4
// and IPv6, while two source ports dropped on the way to another target (a faulty member) are flagged
// and open one. Needs root (lab, raw sockets).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setSysctls } from "../../src/lab/exec.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { BIN } from "../support/paths.js";
import { pathsDoc } from "./lib/fabric-daemon.js";
import { until, value } from "./lib/scrape.js";

const PORT = 19173;
const PORT_A = 30000;
const LOSSY = [30003, 30011];
const ITERATIONS = 100;
const P = (d: string) => `probe_name="lab",destination="${d}",group="g"`;

describe("a rate-limited target opens no incident, a faulty member still does (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let daemon: ChildProcess | undefined;

  before(async () => {
    lab = await createLab({ targets: [{ name: "r" }, { name: "a" }] });
    // Linux's per-peer limit on the target's ICMP errors: 6 at once, one more every 20 ms (IPv6
    // scales it by the route's prefix); the global limit stays lifted.
    await setSysctls(lab.target("r").ns, { "net.ipv4.icmp_ratelimit": 20, "net.ipv6.icmp.ratelimit": 20 });
    dir = mkdtempSync(join(tmpdir(), "npf-ratelimit-"));
  });

  after(async () => {
    daemon?.kill("SIGKILL");
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("no flow of the rate-limited target flagged in 100 iterations; the lossy ports of the other flagged (needs root)", async () => {
    await lab.setLoss("a", 100, "to", LOSSY);
    const file = join(dir, "netprobify.yaml");
    const r = lab.target("r");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 0, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0}
groups:
  g: {src_port_a: ${PORT_A}, src_port_z: ${PORT_A + 15}}
targets:
  r4: {type: UDPunreachable, destination: "${r.v4}", dst_port: 33434, nb_packets: 16, timeout: 0.2}
  r6: {type: UDPunreachable, destination: "${r.v6}", dst_port: 33434, nb_packets: 16, timeout: 0.2}
  a: {type: TCPsyn, destination: "${lab.target("a").v4}", dst_port: 443, nb_packets: 16, timeout: 0.2}
`,
    );
    daemon = spawn(process.execPath, [BIN, file], { stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    const keep = (d: unknown) => {
      log += String(d);
    };
    daemon.stdout!.on("data", keep);
    daemon.stderr!.on("data", keep);
    // Every scrape until the end: the worst the rate-limited targets ever showed.
    const seen = { r4: 0, r6: 0, aFlagged: 0, lossR4: [] as number[] };
    const body = await until(
      `${ITERATIONS} iterations`,
      (x) => {
        seen.r4 = Math.max(seen.r4, value(x, `netprobify_path_anomaly{${P("r4")}}`) ?? 0);
        seen.r6 = Math.max(seen.r6, value(x, `netprobify_path_anomaly{${P("r6")}}`) ?? 0);
        seen.aFlagged = Math.max(seen.aFlagged, value(x, `netprobify_path_anomaly{${P("a")}}`) ?? 0);
        const loss = value(
          x,
          `udp_unreachable_loss_ratio{probe_name="lab",destination="r4",address_family="ipv4",state="None",group="g"}`,
        );
        if (loss !== undefined) seen.lossR4.push(loss);
        return (value(x, `netprobify_iterations_total{probe_name="lab"}`) ?? 0) >= ITERATIONS;
      },
      {
        port: PORT,
        ms: 120_000,
        relevant: /netprobify_path_(anomaly|incidents)|iterations|loss_ratio/,
        context: () => log,
      },
    );
    // Every incident the daemon opened, from its log (one line each, with the target's name).
    const opened = log
      .split("\n")
      .filter((l) => l.includes("path incident opened"))
      .map((l) => /"destination":"([^"]+)"/.exec(l)?.[1] ?? l);
    const open = (await pathsDoc(PORT)).incidents.map((i) => i.destination);
    // The rate limit took its share: most iterations lost 10 of 16 (some a few more or fewer).
    const median = seen.lossR4.sort((x, y) => x - y)[seen.lossR4.length >> 1]!;
    assert.ok(median > 0.4 && median < 0.8, `r4's loss ratio, median ${median}`);
    assert.equal(seen.r4, 0, "no flow of r4 ever flagged");
    assert.equal(seen.r6, 0, "no flow of r6 ever flagged");
    assert.equal(seen.aFlagged, 2, "a's two dropped source ports flagged");
    assert.equal(value(body, `netprobify_path_anomaly{${P("a")}}`), 2);
    assert.deepEqual([...new Set(opened)], ["a"], "incidents opened: a's only");
    assert.ok(!open.includes("r4") && !open.includes("r6"), `open incidents: ${open}`);
    assert.ok((value(body, `netprobify_path_trace_probes_sent_total{probe_name="lab"}`) ?? 0) > 0);
  });
});
