// Clears skb->hash where packets enter the fabric. A veth keeps the sender's hash and a router's L4
// multipath hash reuses it when present (measured on this kernel), so a TCP socket's random txhash
// or an IPv6 socket's auto flow label, not the 5-tuple, would pick the ECMP path. The program is a
// three-instruction tc classifier calling bpf_set_hash_invalid, loaded and pinned by the C helper
// lab-sethash (no clang needed), attached with `tc filter ... bpf object-pinned ... da`, then
// unpinned: the filter keeps its own reference, so nothing stays on any bpf file system.

import { mkdtempSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../exec.js";
import { helperBinary } from "../native.js";

/** Attaches the hash-clearing program at the ingress of each `[namespace, interface]`. */
export async function clearHashAt(ifaces: readonly [string, string][]): Promise<void> {
  if (ifaces.length === 0) return;
  const bin = await helperBinary("sethash");
  // A fresh bpf file system instance, mounted in the lab's private mount namespace (enter.sh).
  const dir = mkdtempSync(join(tmpdir(), "netprobify-bpf-"));
  let mounted = false;
  try {
    await run("mount", ["-t", "bpf", "netprobify-lab-bpf", dir]);
    mounted = true;
    const pin = join(dir, "sethash");
    await run(bin, [pin]);
    for (const [ns, dev] of ifaces) {
      await run("tc", ["qdisc", "add", "dev", dev, "clsact"], { ns });
      await run("tc", ["filter", "add", "dev", dev, "ingress", "bpf", "object-pinned", pin, "da"], { ns });
    }
  } finally {
    if (mounted) await run("umount", [dir], { allowFail: true });
    rmdirSync(dir);
  }
}
