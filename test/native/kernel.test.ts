// Integration tests of the addon's kernel-facing edges (needs root, lab namespace): uv_poll surviving
// error-queue POLLERR, garbage collection while polling, the SO_RXQ_OVFL drop counter, receive buffer
// sizing, and the typed error when CAP_NET_RAW is missing (child process with the capability dropped).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import {
  allocRecvBuffers,
  IPPROTO,
  OPEN_NO_SELECT_ERR_QUEUE,
  POLL_ERRQUEUE,
  type RawSocket,
  RawSockets,
  SEND_RESULT_WORDS,
  TX_TS_WORDS,
} from "../../src/native/rawsock.js";
import { REPO } from "../support/paths.js";
import { assertLab, pack, receive, sleep } from "./lab.js";
import { DROP_ALL, echo, icmpTypesFilter, LO4 } from "./pkt.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function collect(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await sleep(1); // a new job: WeakRef targets deref'd before are no longer kept alive
    gc();
    await sleep(5); // N-API finalizers run after the GC, from the event loop
  }
}

const openFds = () => readdirSync("/proc/self/fd").length;

describe("native kernel edges (needs root, lab namespace)", () => {
  let socks: RawSockets;
  let tx: RawSocket;

  before(() => {
    assertLab();
    socks = new RawSockets();
    tx = socks.openTx(4);
  });

  after(() => tx?.close());

  /** A socket that both receives ICMP and holds TX timestamps: POLLIN and POLLERR at once. */
  function pingSelf(extraFlags = 0) {
    return socks.open({
      family: 4,
      protocol: IPPROTO.ICMP,
      headerIncluded: true,
      txTimestamps: true,
      rxTimestamps: true,
      extraFlags,
    });
  }

  test("uv_poll keeps running while the error queue raises POLLERR (SO_SELECT_ERR_QUEUE + UV_PRIORITIZED)", async () => {
    const s = pingSelf();
    const rounds = 30;
    let stamps = 0;
    let packets = 0;
    let errqueueEvents = 0;
    let sent = 0;
    let failure: Error | null = null;
    const b = allocRecvBuffers(16);
    const ts = new Uint32Array(16 * TX_TS_WORDS);
    const res = new Uint32Array(SEND_RESULT_WORDS);
    const next = () => {
      s.sendBatch(pack([echo(4, LO4, LO4, 0x4e52, sent)], [LO4]), 0, 1, res);
      sent++;
    };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      s.poll((err, events) => {
        if (err) {
          failure = err;
          clearTimeout(timer);
          resolve();
          return;
        }
        if (events & POLL_ERRQUEUE) errqueueEvents++;
        for (let n = s.recvBatch(b); n > 0; n = s.recvBatch(b)) packets += n;
        for (let n = s.readTxTimestamps(ts); n > 0; n = s.readTxTimestamps(ts)) stamps += n;
        if (stamps === sent && sent < rounds) next();
        if (stamps === rounds && packets >= 2 * rounds) {
          clearTimeout(timer);
          resolve();
        }
      });
      next();
    });
    s.close();
    assert.equal(failure, null, `poll stopped with ${failure}`);
    assert.equal(stamps, rounds, "every TX timestamp read through the poll callback");
    assert.ok(packets >= 2 * rounds, "our echo requests and the replies were received too");
    assert.ok(errqueueEvents > 0, "the error queue was signalled as prioritized");
  });

  test("without SO_SELECT_ERR_QUEUE libuv stops the poll handle with EBADF (the failure the fix prevents)", async () => {
    const s = pingSelf(OPEN_NO_SELECT_ERR_QUEUE);
    const err = await new Promise<Error | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      s.poll((e) => {
        if (e) {
          clearTimeout(timer);
          resolve(e);
        }
        // deliberately leave the error queue full, as a callback that only reads data would
      });
      s.sendBatch(pack([echo(4, LO4, LO4, 0x4e53, 1)], [LO4]), 0, 1, new Uint32Array(2));
    });
    s.close();
    assert.ok(err, "libuv reported an error");
    assert.equal((err as { sysCode?: string }).sysCode, "EBADF");
    assert.equal((err as { code?: string }).code, "NPF_SOCKET");
  });

  test("a polled socket referenced only by its poll handle survives GC and keeps delivering", async () => {
    let delivered = 0;
    const b = allocRecvBuffers(8);
    const weak = (() => {
      const s = socks.openRx(4, IPPROTO.ICMP);
      s.attachFilter(icmpTypesFilter(4, 0, 0));
      const w = new WeakRef(s);
      s.poll(() => {
        const sock = w.deref();
        if (sock) delivered += sock.recvBatch(b);
      });
      return w;
    })();
    await collect();
    assert.ok(weak.deref(), "still alive while polling");
    tx.sendBatch(pack([echo(4, LO4, LO4, 0x4e54, 1)], [LO4]), 0, 1, new Uint32Array(2));
    for (let i = 0; i < 100 && delivered === 0; i++) await sleep(5);
    assert.equal(delivered, 1, "the callback ran and received the reply after GC");
    weak.deref()!.stopPoll();
    for (let i = 0; i < 20 && weak.deref() !== undefined; i++) await collect(1);
    assert.equal(weak.deref(), undefined, "collectable once polling stopped");
  });

  test("sockets dropped without close() are closed by the finalizer, no crash", async () => {
    await collect();
    const before = openFds();
    (() => {
      for (let i = 0; i < 40; i++) socks.openRx(4, IPPROTO.TCP).attachFilter(DROP_ALL);
    })();
    assert.equal(openFds(), before + 40);
    for (let i = 0; i < 20 && openFds() > before; i++) await collect(1);
    assert.equal(openFds(), before, "every fd released");
  });

  test("receive buffer sizing reports what the kernel granted (SO_RCVBUFFORCE as root)", () => {
    const s = socks.openRx(4, IPPROTO.TCP);
    s.attachFilter(DROP_ALL);
    const big = s.setReceiveBuffer(8 << 20);
    assert.ok(big >= 8 << 20, `forced size ${big} >= 8 MiB (beyond rmem_max)`);
    const small = s.setReceiveBuffer(1);
    assert.ok(small > 0 && small < 16384, `minimum ${small}`);
    assert.equal(s.receiveBuffer, small);
    s.close();
  });

  test("SO_RXQ_OVFL: the drop counter grows when the receive buffer overflows", async () => {
    // No filter: the socket sees our echo requests and the replies, 2n packets. (While the buffer is
    // full the kernel drops, and counts, before running the filter, so a filter would not change the
    // count of drops but would make the arithmetic below depend on it.)
    const s = socks.openRx(4, IPPROTO.ICMP);
    s.setReceiveBuffer(1);
    const n = 200;
    const pkts = Array.from({ length: n }, (_, i) => echo(4, LO4, LO4, 0x4e55, i));
    const res = new Uint32Array(n * SEND_RESULT_WORDS);
    assert.equal(
      tx.sendBatch(
        pack(
          pkts,
          pkts.map(() => LO4),
        ),
        0,
        n,
        res,
      ),
      n,
    );
    await sleep(50);
    const kernel = s.kernelDrops();
    assert.ok(kernel > 0, `kernel counted drops (${kernel})`);
    const b = allocRecvBuffers(64);
    let got = 0;
    for (let k = s.recvBatch(b); k > 0; k = s.recvBatch(b)) got += k;
    assert.ok(got > 0, "some packets fit");
    assert.equal(got + kernel, 2 * n, `received ${got} + dropped ${kernel} = every packet`);
    tx.sendBatch(pack([echo(4, LO4, LO4, 0x4e55, 999)], [LO4]), 0, 1, res);
    assert.ok((await receive(s, b, 1)).length >= 1);
    assert.equal(s.rxDrops(), kernel, "the counter carried by the next packet (SO_RXQ_OVFL) matches");
    s.close();
  });

  test("without CAP_NET_RAW opening fails with NPF_NO_CAP_NET_RAW and exit code 77", () => {
    const url = new URL("dist/src/native/rawsock.js", `file://${REPO}`).href;
    const script =
      `import { RawSockets } from ${JSON.stringify(url)};` +
      "try { new RawSockets().openRx(4, 1).close(); console.log('OPENED'); }" +
      "catch (e) { console.log(e.code); console.error(e.message); process.exitCode = e.exitCode; }";
    const run = (prefix: string[]) =>
      spawnSync(
        prefix[0] ?? process.execPath,
        [...prefix.slice(1), process.execPath, "--input-type=module", "-e", script],
        {
          encoding: "utf8",
          timeout: 20000,
        },
      );
    const control = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(control.stdout.trim(), "OPENED", `control child opens: ${control.stderr}`);
    const denied = run(["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw"]);
    assert.equal(denied.error, undefined);
    assert.equal(denied.stdout.trim(), "NPF_NO_CAP_NET_RAW", denied.stderr);
    assert.equal(denied.status, 77);
    assert.match(denied.stderr, /setcap cap_net_raw\+ep/);
  });
});
