// A tcpdump capture of one direction only (`-Q in`), for the RTT accuracy investigation. A capture
// tap on the sending side takes its timestamp before the kernel copies the packet into tcpdump's
// ring and wakes it, and only then does the driver take the TX timestamp the engine reads: the
// referee's own work lands between the two clocks. Captured on the receiving side of each veth, both
// the referee and the engine use the timestamp the kernel takes when the packet enters the peer
// (netif_rx), so what remains is the engine's own error. lab.capture() captures both directions,
// hence this small variant (same tcpdump flags, plus the direction), tracked by the lab's process set
// so destroy() kills it whatever happens.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopChild, waitForOutput } from "../../src/lab/exec.js";
import { type Lab, type PcapRecord, parsePcap } from "../../src/lab/lab.js";

export interface DirectedCapture {
  /** Stops tcpdump (after `settleMs` for packets still on their way) and returns its records. */
  stop(settleMs?: number): Promise<PcapRecord[]>;
  /** After stop(): packets tcpdump says the kernel dropped (ring full), i.e. records it may miss. */
  readonly kernelDrops: number;
}

/**
 * Starts `tcpdump -Q in` on `iface` in `ns` (undefined = the test namespace). `snapLen` matters at
 * high rates: in immediate mode libpcap sizes its ring frames for the snap length, so the default
 * (262,144 bytes) leaves a 64 MiB ring only ~250 frames and the capture drops packets whenever
 * tcpdump falls behind; 192 bytes holds the deepest header stack netprobify sends or receives
 * (Ethernet + IPv6 + ICMPv6 + quoted IPv6 + UDP + tag = 114 bytes) and gives ~200,000 frames.
 */
export async function captureInbound(
  lab: Lab,
  ns: string | undefined,
  iface: string,
  snapLen = 262144,
): Promise<DirectedCapture> {
  const dir = mkdtempSync(join(tmpdir(), "netprobify-bench-pcap-"));
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
  let stopped: Promise<PcapRecord[]> | undefined;
  return {
    get kernelDrops() {
      return Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? 0);
    },
    stop(settleMs = 50) {
      stopped ??= (async () => {
        if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
        await stopChild(child, "SIGINT");
        try {
          return parsePcap(readFileSync(file)).records;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}

/** Merges captures of one clock into one time-ordered list (probes then precede their answers). */
export function mergeByTime(lists: readonly (readonly PcapRecord[])[]): PcapRecord[] {
  return lists.flat().sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
}
