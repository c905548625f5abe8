// How the addon's send path uses the kernel, counted by strace (needs root, lab namespace, loopback
// only): runs of packets go out in one sendmmsg each, and after a refusal the rest of the call goes
// one sendmsg each from the refused packet on, so every refusal still has its own errno
// (native/io.c, send_runs). The counts are exact: the child process sends nothing else.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { assertLab } from "./lab.js";

const ENETUNREACH = 101;
const mod = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);

/** Three batches of 64 echo requests to 127.0.0.1; in the third, packet 10 goes to an unroutable lab address. */
const CHILD = `
  const { RawSockets, SEND_RESULT_WORDS } = await import(${mod("../../src/native/rawsock.js")});
  const { pack } = await import(${mod("./lab.js")});
  const { echo, LO4 } = await import(${mod("./pkt.js")});
  const tx = new RawSockets().openTx(4);
  const nowhere = Uint8Array.of(198, 18, 0, 1);
  const out = [];
  for (const bad of [-1, -1, 10]) {
    const dsts = Array.from({ length: 64 }, (_, i) => (i === bad ? nowhere : LO4));
    const res = new Uint32Array(64 * SEND_RESULT_WORDS);
    const sent = tx.sendBatch(pack(dsts.map((d, i) => echo(4, LO4, d, 0x5c01, i)), dsts), 0, 64, res);
    out.push({ sent, errnos: Array.from({ length: 64 }, (_, i) => res[i * SEND_RESULT_WORDS]) });
  }
  tx.close();
  console.log(JSON.stringify(out));
`;

/** Calls per syscall from `strace -c` output. */
function calls(summary: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of summary.split("\n")) {
    const t = line.trim().split(/\s+/);
    if (t.length >= 5 && /^\d/.test(t[0]!) && /^[a-z_0-9]+$/.test(t.at(-1)!)) out[t.at(-1)!] = Number(t[3]);
  }
  return out;
}

test("a batch goes out in one sendmmsg; after a refusal, one sendmsg per packet with exact errnos (needs root)", () => {
  assertLab();
  const dir = mkdtempSync(join(tmpdir(), "netprobify-send-syscalls-"));
  try {
    const file = join(dir, "strace.txt");
    const r = spawnSync(
      "strace",
      [
        "-f",
        "-qq",
        "-c",
        "-e",
        "trace=sendmsg,sendmmsg",
        "-o",
        file,
        process.execPath,
        "--input-type=module",
        "-e",
        CHILD,
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const batches = JSON.parse(r.stdout) as { sent: number; errnos: number[] }[];
    assert.deepEqual(
      batches.map((b) => b.sent),
      [64, 64, 63],
    );
    const want = Array.from({ length: 64 }, (_, i) => (i === 10 ? ENETUNREACH : 0));
    assert.deepEqual(batches[2]!.errnos, want, "the refused packet's own errno, the others sent");
    // 1st batch: the first packet learns the id mode (one sendmsg), then one sendmmsg for 63; 2nd: one
    // sendmmsg; 3rd: one sendmmsg (10 packets sent, stopped at the 11th), then one sendmsg for each of
    // the 54 left, and one more for the refused one (ENETUNREACH can be an earlier packet's stale
    // socket error: send_packet tries once more).
    const { total: _, ...counted } = calls(readFileSync(file, "utf8"));
    assert.deepEqual(counted, { sendmsg: 1 + 54 + 1, sendmmsg: 3 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
