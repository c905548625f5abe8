// What a flood of foreign replies costs the prober (issue 11 item 9): the engine probes a lab target
// once a second (ICMP echo and TCP SYN, IPv4) for a few seconds without a flood, then while a lab
// namespace floods the prober's address with foreign ICMP echo replies (random identifiers) and
// SYN-ACKs (random acknowledgement numbers, to our source ports) at --rate packets/s. It prints the
// prober's CPU (process.cpuUsage over wall time) and the packets its RX sockets delivered to
// JavaScript in each phase. Before the filters followed our keys, every foreign echo reply and
// SYN-ACK reached JavaScript (60k/s took the prober from 3 % to 18 % CPU). Not a test: numbers depend
// on the machine and its load.
// Run: npx tsc -p tsconfig.json && sh src/lab/enter.sh node dist/bench/flood.js [--rate 60000] [--seconds 5]

import { createLab } from "../src/lab/lab.js";
import { kernelSource } from "../src/targets/source.js";
import { flood } from "../test/integration/lib/flood.js";
import { buildPlan, labEngine, type PlanTargetInput, warmUp } from "../test/integration/support.js";
import { intFlag } from "./lib/stats.js";

const argv = process.argv.slice(2);
const RATE = intFlag(argv, "rate", 60_000);
const SECONDS = intFlag(argv, "seconds", 5);
const PORTS: [number, number] = [61000, 61015];

interface Phase {
  cpuPct: number;
  received: number;
  probes: number;
  answered: number;
}

async function main(): Promise<void> {
  const lab = await createLab({ targets: [{ name: "pinged", rangeSize: 64 }, { name: "flood" }] });
  try {
    const t = lab.target("pinged");
    const f = lab.target("flood");
    const src = await kernelSource(t.v4, "ipv4");
    const dst = await kernelSource(f.v4, "ipv4");
    const targets: PlanTargetInput[] = (["ICMPping", "TCPsyn"] as const).map((type) => ({
      name: type,
      type,
      family: "ipv4",
      addresses: t.range!.all4(),
      dstPort: 81,
      nbPackets: 5,
      dontFragment: true,
      timeout: 0.5,
      groups: [{ name: "g", srcPortA: PORTS[0], srcPortZ: PORTS[1], dscp: 0, src }],
    }));
    const plan = buildPlan(targets, () => {
      throw new Error("sources are fixed");
    });
    const engine = labEngine(targets);
    await warmUp();
    /** Iterations once a second for `seconds`, as the daemon runs them. */
    const phase = async (seconds: number): Promise<Phase> => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const p: Phase = { cpuPct: 0, received: 0, probes: 0, answered: 0 };
      while (performance.now() - t0 < seconds * 1000) {
        const start = performance.now();
        const r = await engine.run(plan);
        p.received += r.received;
        for (const s of r.series) {
          p.probes += s.sent;
          p.answered += s.sent - s.lost - s.unreachable;
        }
        const wait = 1000 - (performance.now() - start);
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
      const cpu = process.cpuUsage(cpu0);
      p.cpuPct = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;
      return p;
    };
    try {
      const quiet = await phase(SECONDS);
      const count = Math.ceil((RATE * SECONDS) / 2);
      const flooding = flood(lab, { ns: f.ns, src: f.v4, dst, ports: PORTS, count, rate: RATE });
      const loud = await phase(SECONDS);
      const sent = await flooding;
      const achieved = Math.round((sent.echo + sent.synack) / sent.seconds);
      const row = (name: string, p: Phase) =>
        `| ${name} | ${p.cpuPct.toFixed(1)} % | ${p.received} | ${p.answered}/${p.probes} |`;
      console.log(
        `flood: ${sent.echo} echo replies + ${sent.synack} SYN-ACKs in ${sent.seconds.toFixed(1)} s (${achieved}/s, asked ${RATE}/s)`,
      );
      console.log("| phase | prober CPU | packets read by the engine | answered/sent |");
      console.log("|---|---|---|---|");
      console.log(row("no flood", quiet));
      console.log(row("flood", loud));
      console.log(`CPU ratio flood / no flood: ${(loud.cpuPct / Math.max(quiet.cpuPct, 0.01)).toFixed(2)}`);
    } finally {
      engine.close();
    }
  } finally {
    await lab.destroy();
  }
}

await main();
