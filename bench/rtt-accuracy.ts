// How close the RTTs netprobify reports are to the wire: ≥ 10,000 probes (TCPsyn, ICMPping,
// UDPunreachable; IPv4 and IPv6) through the real engine to a direct lab target and to one behind an
// impairment stage (1 ms ± 0.5 ms toward the target by default), with tcpdump capturing at the same
// time. Prints p50/p99/max of |reported − wire| per type × family, per path and overall, for each
// referee asked for (one iteration each, same lab):
//   host     both directions on the test namespace's veth (what lab.capture() does);
//   ingress  each direction where it enters the next namespace (tcpdump -Q in): probes at the far
//            end of the link, answers on the test namespace's veth;
//   far      both directions at the far end of the link.
// Writes JSON to build/bench/rtt-accuracy.json. The goal is p99 within 5 µs.
// Run: npx tsc -p tsconfig.json && sh src/lab/enter.sh node dist/bench/rtt-accuracy.js
//        [--addresses 100] [--packets 9] [--pps 20000|max] [--capture host,ingress] [--delay-us 1000]
//        [--jitter-us 500]
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { resolve } from "node:path";
import { createLab } from "../src/lab/lab.js";
import { repoRoot } from "../src/lab/native.js";
import {
  type AccuracyReport,
  accuracyLabSpec,
  accuracyTable,
  CAPTURE_MODES,
  type CaptureMode,
  measureRttAccuracy,
  SIGNED_QUANTILES,
} from "./lib/rtt-accuracy.js";
import { intFlag, stringFlag } from "./lib/stats.js";

const argv = process.argv.slice(2);
const addresses = intFlag(argv, "addresses", 100);
const packets = intFlag(argv, "packets", 9);
const ppsFlag = stringFlag(argv, "pps", "20000");
const pps = ppsFlag === "max" ? Infinity : intFlag(argv, "pps", 20_000);
const captures = stringFlag(argv, "capture", "host,ingress").split(",");
const delayUs = intFlag(argv, "delay-us", 1000);
const jitterUs = intFlag(argv, "jitter-us", 500);

const isMode = (m: string): m is CaptureMode => (CAPTURE_MODES as readonly string[]).includes(m);
const DESCRIBE: Record<CaptureMode, string> = {
  host: "both directions on the test namespace's veth",
  ingress: "tcpdump -Q in where each packet enters the next namespace",
  far: "both directions at the far end of each link",
};

function print(mode: CaptureMode, r: AccuracyReport): string {
  const table = accuracyTable(r);
  const q = SIGNED_QUANTILES.map((x) => `p${x * 100}`).join("/");
  const fmt = (v: number[]) => v.map((x) => x.toFixed(2)).join(" / ");
  console.log(`\n### Referee: ${mode} (${DESCRIBE[mode]})\n`);
  console.log(
    `${r.probes.toLocaleString("en-US")} probes; answered ${r.answered}, timed ${r.timed}, compared ` +
      `${r.compared}, not answered on the wire ${r.missingOnWire} ` +
      `(probe not captured ${r.missingProbe}, answer not captured ${r.missingAnswer}), socket drops ${r.socketDrops}, ` +
      `iteration ${r.durationMs.toFixed(0)} ms\n`,
  );
  console.log(table);
  console.log(
    `\nsigned engine − referee, µs (${q}): TX ${fmt(r.signed.tx)}; RX ${fmt(r.signed.rx)}; RTT ${fmt(r.signed.rtt)}`,
  );
  console.log(
    `target p99 ≤ 5 µs: ${r.overall.p99 <= 5 ? "met" : "NOT met"} (overall p99 ${r.overall.p99.toFixed(2)} µs)`,
  );
  return table;
}

async function main(): Promise<void> {
  const modes = captures.filter(isMode);
  if (modes.length !== captures.length || modes.length === 0)
    throw new Error(`--capture is a comma-separated list of ${CAPTURE_MODES.join(", ")}`);
  const lab = await createLab(
    accuracyLabSpec(addresses, { delayMs: delayUs / 1000, jitterMs: jitterUs / 1000 }),
  );
  try {
    console.log(
      `2 paths (direct; delayed ${delayUs} µs ± ${jitterUs} µs toward the target) × 3 types × 2 families × ` +
        `${addresses} addresses × ${packets} packets, pacing ${ppsFlag} pps; ` +
        `${cpus().length} CPUs, kernel ${release()}, Node ${process.versions.node}`,
    );
    const runs: ({ capture: CaptureMode; table: string } & AccuracyReport)[] = [];
    for (const mode of modes) {
      const r = await measureRttAccuracy(lab, { addresses, packets, pps, capture: mode });
      runs.push({ capture: mode, ...r, table: print(mode, r) });
    }
    const dir = resolve(repoRoot(), "build/bench");
    mkdirSync(dir, { recursive: true });
    const file = resolve(dir, "rtt-accuracy.json");
    const out = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, kernel: release(), node: process.versions.node },
      options: { addresses, packets, pps: ppsFlag, delayUs, jitterUs },
      signedQuantiles: SIGNED_QUANTILES,
      runs,
    };
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nJSON: ${file}`);
  } finally {
    await lab.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
