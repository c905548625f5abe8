// Test helpers for the metrics: a small parser of the Prometheus text exposition format (what a
// scraper reads, so tests assert on the served text rather than on prom-client internals), iteration
// results built by hand (no sockets), and the configurations the tests load.
import { loadConfigText } from "../../src/config/load.js";
import type { IterationResult } from "../../src/engine/engine.js";
import { InFlight } from "../../src/engine/inflight.js";
import { newForeignCounters, type SeriesResult } from "../../src/engine/results.js";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  help: Map<string, string>;
  type: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;

function unescapeValue(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

/** Parses exposition text; throws on a line it does not understand (the test then fails). */
export function parseExposition(text: string): Exposition {
  const out: Exposition = { samples: [], help: new Map(), type: new Map() };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === "HELP" ? out.help : out.type).set(
        meta[2]!,
        meta[1] === "HELP" ? unescapeValue(meta[3]!) : meta[3]!,
      );
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    LABEL.lastIndex = 0;
    let consumed = 0;
    for (let l = LABEL.exec(body); l; l = LABEL.exec(body)) {
      labels[l[1]!] = unescapeValue(l[2]!);
      consumed = LABEL.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`unparsable labels: ${line}`);
    out.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Samples of one metric whose labels include `match`. */
export function find(e: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return e.samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the single sample matching, or undefined when there is none; throws if several. */
export function value(e: Exposition, name: string, match: Record<string, string>): number | undefined {
  const f = find(e, name, match);
  if (f.length > 1) throw new Error(`${f.length} samples of ${name} match ${JSON.stringify(match)}`);
  return f[0]?.value;
}

/** A series result with defaults (nothing sent). */
export function series(target: string, group: string, o: Partial<SeriesResult> = {}): SeriesResult {
  return {
    target,
    group,
    sent: 0,
    lost: 0,
    unreachable: 0,
    unreachableBy: new Map(),
    failed: 0,
    late: 0,
    duplicates: 0,
    negativeRtt: 0,
    untimed: 0,
    rtts: new Float64Array(),
    icmpErrors: new Map(),
    ipdvPairs: 0,
    ipdvMeanAbs: undefined,
    ipdvMaxAbs: undefined,
    ...o,
  };
}

/** An iteration result with defaults. */
export function iteration(list: SeriesResult[], o: Partial<IterationResult> = {}): IterationResult {
  return {
    series: list,
    foreign: newForeignCounters(),
    durationMs: 1000,
    timedOut: false,
    received: 0,
    faults: new Map(),
    socketDrops: 0,
    sendErrors: new Map(),
    inflight: new InFlight(0, 0, () => 1000),
    ...o,
  };
}

export const GLOBAL = (probeName = "lab", percentile = "[95, 50]") => `global:
  probe_name: ${probeName}
  interval: 30
  nb_proc: 1
  logging_level: INFO
  prometheus_port: 8000
  dns_update_interval: 0
  percentile: ${percentile}
`;

/** Two groups, and targets of the three types (one disabled: it belongs to no group). */
export const BASE_CONFIG = `groups:
  g1: {}
  g2: {src_port_a: 65100, src_port_z: 65101}
targets:
  web:
    type: TCPsyn
    destination: 198.18.0.10
    dst_port: 443
    state: in production
    alert_level: paging
    threshold: {latency: 0.1, loss: 0.05}
  ping6:
    type: ICMPping
    destination: fd18::10
    explicit_groups: {exclude_from: [g2]}
  udp:
    type: UDPunreachable
    destination: 198.18.0.20
    dst_port: 33434
    state: validation
    alert_level: sandbox
    threshold: {loss: 0.5}
  off:
    type: TCPsyn
    destination: 198.18.0.30
    dst_port: 80
    auto_register_to_groups: false
`;

export function config(body = BASE_CONFIG, probeName = "lab", percentile = "[95, 50]") {
  return loadConfigText("metrics-test.yaml", GLOBAL(probeName, percentile) + body);
}
