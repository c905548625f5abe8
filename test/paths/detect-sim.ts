// A seeded simulation of the anomaly detector on a running daemon: one target × group whose flows
// (8 source ports per way, as bench/paths.ts) are hashed at random onto the ways of an ECMP bundle,
// probes per flow and iteration as configured, every iteration recorded into the real ledger and
// judged by the real detector. Used by test/paths/anomaly.test.ts and bench/paths-verdict.ts to
// measure the time to detection and the false flags under uniform loss, without a network.
import { ALPHA, CONCENTRATION_ALPHA, detect, type Flagger } from "../../src/paths/anomaly.js";
import { Ledger, LONG_BLOCKS, WINDOW } from "../../src/paths/ledger.js";
import { rng } from "./fabric-sim.js";

export interface DetectScenario {
  ways: number;
  /** Loss on the flows of one way (a faulty member link), from iteration `warm` on. */
  loss: number;
  seed: number;
  portsPerWay?: number;
  probesPerFlow?: number;
  /** Loss on every flow (background, or uniform loss), default 0. */
  uniform?: number;
  /** Healthy iterations before the loss starts (default: a full long window). */
  warm?: number;
  /** Iterations after the start the run lasts (default 60: the 60 s at interval 1). */
  horizon?: number;
  /** The concentration test's level (default: the detector's). */
  concentrationAlpha?: number;
}

export interface DetectRun {
  /** Iterations from the loss starting to the first flag of a faulty flow; undefined: not within horizon. */
  detectedAfter: number | undefined;
  by: Flagger;
  /** Flows on the faulty way, of how many. */
  faulty: number;
  flows: number;
  /** Evaluations that flagged something, and how many were made (from the first iteration on). */
  flaggedEvaluations: number;
  evaluations: number;
  /** Flagged flows that are not on the faulty way, at the detection (the tracer takes the worst 4). */
  wrongInTop4: number;
}

const TARGET = "t";
const GROUP = "g";

export function simulateDetection(sc: DetectScenario): DetectRun {
  const rand = rng(sc.seed);
  const ports = (sc.portsPerWay ?? 8) * sc.ways;
  const perFlow = sc.probesPerFlow ?? 8;
  const warm = sc.warm ?? LONG_BLOCKS * WINDOW;
  const horizon = sc.horizon ?? 60;
  const way = Array.from({ length: ports }, () => Math.floor(rand() * sc.ways));
  const flows = way.map((_, p) => ({
    series: 0,
    dst: "198.18.10.1",
    src: "198.18.0.2",
    srcPort: 30000 + p,
    flowLabel: 0,
  }));
  const ledger = new Ledger();
  const series = [{ target: TARGET, group: GROUP }];
  const nan = () => new Float64Array(ports).fill(Number.NaN);
  let detectedAfter: number | undefined;
  let by: Flagger = null;
  let wrongInTop4 = 0;
  let flaggedEvaluations = 0;
  let evaluations = 0;
  for (let it = 0; it < warm + horizon; it++) {
    const faultOn = sc.loss > 0 && it >= warm;
    const lost = new Uint32Array(ports);
    for (let f = 0; f < ports; f++) {
      const q = 1 - (1 - (sc.uniform ?? 0)) * (faultOn && way[f] === 0 ? 1 - sc.loss : 1);
      for (let n = 0; n < perFlow; n++) if (rand() < q) lost[f]!++;
    }
    ledger.record(series, {
      flows,
      sent: new Uint32Array(ports).fill(perFlow),
      lost,
      unreachable: new Uint32Array(ports),
      samples: new Uint32Array(ports),
      rttMin: nan(),
      rttP50: nan(),
      rttMax: nan(),
      replyTtl: new Uint8Array(ports),
    });
    const d = detect(ledger.flows(TARGET, GROUP), ALPHA, sc.concentrationAlpha ?? CONCENTRATION_ALPHA);
    evaluations++;
    if (d.flagged.length > 0) flaggedEvaluations++;
    if (faultOn && detectedAfter === undefined && d.flagged.some((f) => way[f.srcPort - 30000] === 0)) {
      detectedAfter = it - warm + 1;
      by = d.by;
      wrongInTop4 = d.flagged.slice(0, 4).filter((f) => way[f.srcPort - 30000] !== 0).length;
    }
  }
  return {
    detectedAfter,
    by,
    faulty: way.filter((w) => w === 0).length,
    flows: ports,
    flaggedEvaluations,
    evaluations,
    wrongInTop4,
  };
}
