// How the addon's send path uses the kernel, counted by strace (needs root, lab namespace, loopback
// only). A socket first sends one sendmsg per packet; after 256 packets in a row without EPERM or
// ENOBUFS (refusals the firewall or the qdisc count) it sends runs of packets in one sendmmsg each; a
// run stops at a refusal, and the rest of the call goes one sendmsg each from the refused packet on,
// so every refusal keeps its own errno; an EPERM or ENOBUFS sends the socket back to one by one, so
// that only that one packet was seen twice by the firewall (native/io.c, send_runs). The counts are
// exact: the child process sends nothing else.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../src/lab/exec.js";
import { assertLab } from "./lab.js";

const ENETUNREACH = 101;
const EPERM = 1;
const mod = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);

/**
 * Batches of 64 echo requests to 127.0.0.1: 4 clean ones, then one clean, one whose packet 10 goes to
 * an unroutable lab address, one clean, one whose packet 5 goes to 127.0.0.3 (dropped by the test's
 * nftables rule), one clean.
 */
const CHILD = `
  const { RawSockets, SEND_RESULT_WORDS } = await import(${mod("../../src/native/rawsock.js")});
  const { pack } = await import(${mod("./lab.js")});
  const { echo, LO4 } = await import(${mod("./pkt.js")});
  const tx = new RawSockets().openTx(4);
  const nowhere = Uint8Array.of(198, 18, 0, 1);
  const firewalled = Uint8Array.of(127, 0, 0, 3);
  const out = [];
  const plan = [...new Array(4).fill([-1, null]), [-1, null], [10, nowhere], [-1, null], [5, firewalled], [-1, null]];
  for (const [bad, to] of plan) {
    const dsts = Array.from({ length: 64 }, (_, i) => (i === bad ? to : LO4));
    const res = new Uint32Array(64 * SEND_RESULT_WORDS);
    const sent = tx.sendBatch(pack(dsts.map((d, i) => echo(4, LO4, d, 0x5c01, i)), dsts), 0, 64, res);
    out.push({ sent, errnos: Array.from({ length: 64 }, (_, i) => res[i * SEND_RESULT_WORDS]) });
  }
  tx.close();
  console.log(JSON.stringify(out.slice(4)));
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

test("sendmmsg runs after a clean stretch; after a refusal one sendmsg per packet, exact errnos, the firewall's count (needs root)", async () => {
  assertLab();
  const dir = mkdtempSync(join(tmpdir(), "netprobify-send-syscalls-"));
  await run("nft", ["-f", "-"], {
    input:
      "table ip sendsyscalls {\n counter fw {}\n chain out {\n type filter hook output priority 0\n ip daddr 127.0.0.3 counter name fw drop\n }\n}\n",
  });
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
      [64, 63, 64, 63, 64],
    );
    const one = (at: number, e: number) => Array.from({ length: 64 }, (_, i) => (i === at ? e : 0));
    assert.deepEqual(batches[1]!.errnos, one(10, ENETUNREACH), "the unroutable packet's own errno");
    assert.deepEqual(batches[3]!.errnos, one(5, EPERM), "the firewalled packet's own errno");
    // 256 sendmsg (the first 4 batches, one by one); then one sendmmsg; one sendmmsg (10 sent,
    // stopped at the 11th) and a sendmsg for each of the 54 left plus one more for the refused one
    // (ENETUNREACH can be an earlier packet's stale socket error: send_packet tries once more); one
    // sendmmsg (a routing refusal keeps the runs); one sendmmsg (5 sent, stopped at the 6th) and 59
    // sendmsg; then one by one again after the EPERM: 64 sendmsg.
    const { total: _, ...counted } = calls(readFileSync(file, "utf8"));
    assert.deepEqual(counted, { sendmsg: 256 + 55 + 59 + 64, sendmmsg: 4 });
    const fw = (await run("nft", ["list", "counter", "ip", "sendsyscalls", "fw"])).stdout;
    assert.match(
      fw,
      /packets 2 /,
      "the firewalled packet was tried twice: in the run it stopped, then alone",
    );
  } finally {
    await run("nft", ["delete", "table", "ip", "sendsyscalls"], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
