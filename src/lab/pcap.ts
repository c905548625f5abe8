// Packet capture for lab tests: runs tcpdump with nanosecond timestamps in a namespace and parses
// the pcap file it writes (--immediate-mode: without it libpcap hands packets over in ring blocks up
// to a second late, and a capture stopped sooner ends empty). The wire timestamps are the reference
// netprobify's kernel-timestamped
// RTTs are compared with (to 1 µs), so the parser keeps the full nanosecond value as a bigint.
//
// pcap format (all fields in the writer's byte order, told by the magic):
//   global header, 24 bytes: magic u32 | version major u16 | minor u16 | thiszone i32 | sigfigs u32
//                            | snaplen u32 | linktype u32
//   magic 0xa1b23c4d = nanosecond timestamps, 0xa1b2c3d4 = microsecond timestamps
//   record header, 16 bytes: ts_sec u32 | ts_frac u32 (ns or µs) | incl_len u32 | orig_len u32
//   followed by incl_len bytes of packet data.

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LabError, type ProcessSet, stopChild, waitForOutput } from "./exec.js";

export interface PcapRecord {
  /** Capture time in nanoseconds since the Unix epoch (CLOCK_REALTIME of the capturing kernel). */
  tsNs: bigint;
  /** Captured bytes, starting at the link-layer header (see PcapFile.linkType). */
  data: Buffer;
  /** Length of the packet on the wire (data may be shorter when truncated by the snap length). */
  origLen: number;
}

export interface PcapFile {
  /** LINKTYPE_ETHERNET = 1, LINKTYPE_LINUX_SLL = 113, LINKTYPE_LINUX_SLL2 = 276, LINKTYPE_RAW = 101. */
  linkType: number;
  nanosecond: boolean;
  records: PcapRecord[];
  /** True when the file ended inside a record (the partial record is not returned). */
  truncated: boolean;
}

export const LINKTYPE_ETHERNET = 1;

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

/** Parses a whole pcap file. Throws only for a file that is not pcap at all. */
export function parsePcap(buf: Buffer): PcapFile {
  if (buf.length < 24) throw new LabError("LAB_PCAP", `pcap too short for a header: ${buf.length} bytes`);
  let le: boolean;
  let nanosecond: boolean;
  const magicLE = buf.readUInt32LE(0);
  const magicBE = buf.readUInt32BE(0);
  if (magicLE === MAGIC_NS || magicLE === MAGIC_US) {
    le = true;
    nanosecond = magicLE === MAGIC_NS;
  } else if (magicBE === MAGIC_NS || magicBE === MAGIC_US) {
    le = false;
    nanosecond = magicBE === MAGIC_NS;
  } else {
    throw new LabError("LAB_PCAP", `not a pcap file (magic 0x${magicLE.toString(16)})`);
  }
  const u32 = (off: number) => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const linkType = u32(20) & 0x0fffffff; // upper bits may carry FCS information
  const records: PcapRecord[] = [];
  let off = 24;
  let truncated = false;
  while (off < buf.length) {
    if (off + 16 > buf.length) {
      truncated = true;
      break;
    }
    const sec = BigInt(u32(off));
    const frac = BigInt(u32(off + 4));
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    if (off + 16 + inclLen > buf.length) {
      truncated = true;
      break;
    }
    const tsNs = sec * 1_000_000_000n + (nanosecond ? frac : frac * 1000n);
    records.push({ tsNs, data: buf.subarray(off + 16, off + 16 + inclLen), origLen });
    off += 16 + inclLen;
  }
  return { linkType, nanosecond, records, truncated };
}

export interface CaptureOptions {
  /** Namespace to capture in; undefined = the test's namespace. */
  ns?: string | undefined;
  /** Interface name in that namespace. */
  iface: string;
  /** tcpdump filter expression, e.g. "icmp or tcp port 80". */
  filter?: string;
  /** Kernel capture buffer in KiB (-B); default 65536 (64 MiB). */
  bufferKiB?: number;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** A running tcpdump. stop() ends it and returns the parsed file. */
export class Capture {
  private stopped: Promise<PcapFile> | undefined;

  constructor(
    private readonly child: import("node:child_process").ChildProcess,
    /** The temporary directory holding the file (removed by stop(), or by the lab's teardown). */
    readonly dir: string,
    readonly file: string,
  ) {}

  /** Stops tcpdump (SIGINT flushes its buffers), waits for it, parses and deletes the file. */
  stop(settleMs = 20): Promise<PcapFile> {
    if (!this.stopped) this.stopped = this.doStop(settleMs);
    return this.stopped;
  }

  private async doStop(settleMs: number): Promise<PcapFile> {
    // Packets still on their way (e.g. a reply in an impairment queue) get a moment to arrive.
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
    // SIGINT ends tcpdump's loop without reading what is still in its kernel ring: on a loaded
    // machine tcpdump may not have run for tens of ms, and the last packets were lost (a CI-like run
    // saw 5 of a target's 6 probes). It writes each packet as it reads it (-U), so the file stops
    // growing once it has caught up: wait for 3 polls 10 ms apart without growth (at most 2 s).
    let size = -1;
    for (let still = 0, waited = 0; still < 3 && waited < 2000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
      const now = fileSize(this.file);
      still = now === size ? still + 1 : 0;
      size = now;
    }
    await stopChild(this.child, "SIGINT");
    try {
      return parsePcap(readFileSync(this.file));
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Starts tcpdump and resolves once it is capturing. */
export async function startCapture(procs: ProcessSet, opts: CaptureOptions): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), "netprobify-pcap-"));
  const file = join(dir, "capture.pcap");
  const args = [
    "-i",
    opts.iface,
    "-n",
    "-U",
    "--immediate-mode",
    "-B",
    String(opts.bufferKiB ?? 65536),
    "-s",
    "262144",
    "--time-stamp-precision=nano",
    "-Z",
    "root",
    "-w",
    file,
  ];
  if (opts.filter) args.push(opts.filter);
  const child = procs.spawn(opts.ns, "tcpdump", args);
  try {
    await waitForOutput(child, `tcpdump on ${opts.iface}`, /listening on/, 10_000, "stderr");
  } catch (e) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return new Capture(child, dir, file);
}
