// The referee of `npm run bench` (bench/suite.ts): tcpdump `-Q in` (each direction captured where it
// enters a namespace, see capture.ts and docs/performance.md) with a small snap length, and the
// kernel's own count of packets it dropped. The small snap length matters at 100,000 probes: in
// immediate mode libpcap uses fixed-size ring frames sized for the snap length, so the default
// (262,144 bytes) leaves a 64 MiB ring only ~250 frames and the capture drops packets whenever tcpdump
// falls behind; 192 bytes holds the deepest header stack probed (Ethernet + IPv6 + ICMPv6 + quoted
// IPv6 + UDP + tag = 114 bytes) and gives the ring ~200,000 frames.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopChild, waitForOutput } from "../../test/lab/exec.js";
import { type Lab, type PcapRecord, parsePcap } from "../../test/lab/lab.js";

export interface CaptureResult {
  records: PcapRecord[];
  /** Packets tcpdump reports the kernel dropped (ring full): a capture that may miss some. */
  dropped: number;
}

export interface SmallCapture {
  stop(settleMs?: number): Promise<CaptureResult>;
}

export async function captureIn(
  lab: Lab,
  ns: string | undefined,
  iface: string,
  snapLen = 192,
): Promise<SmallCapture> {
  const dir = mkdtempSync(join(tmpdir(), "netprobify-bench-suite-pcap-"));
  const file = join(dir, "in.pcap");
  const child = lab.spawn(ns, "tcpdump", [
    "-i",
    iface,
    "-Q",
    "in",
    "-n",
    "-U",
    "--immediate-mode",
    "-B",
    "65536",
    "-s",
    String(snapLen),
    "--time-stamp-precision=nano",
    "-Z",
    "root",
    "-w",
    file,
  ]);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  try {
    await waitForOutput(child, `tcpdump -Q in on ${iface}`, /listening on/, 10_000, "stderr");
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped: Promise<CaptureResult> | undefined;
  return {
    stop(settleMs = 100) {
      stopped ??= (async () => {
        if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
        await stopChild(child, "SIGINT");
        try {
          const dropped = Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? 0);
          return { records: parsePcap(readFileSync(file)).records, dropped };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}
