// One iteration as a timeline of its kernel timestamps, read from netprobify's probe log (bench/timeline.ts):
// where a short iteration's time goes between its start and its last answer. Pure, so tests can feed it.

/** The timeline of one run, from its probe log (CLOCK_REALTIME ns) and its start (ms, same clock). */
export function timeline(csv: string, iterationStartedAtMs: number) {
  const lines = csv.split("\n");
  const col = Object.fromEntries(lines[0]!.split(",").map((c, i) => [c, i]));
  const tx: number[] = [];
  let lastRx = 0;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === "") continue;
    const c = lines[i]!.split(",");
    const t = c[col.tx_ns!]!;
    if (t !== "") tx.push(Number(BigInt(t) - BigInt(iterationStartedAtMs) * 1_000_000n) / 1e6);
    const r = c[col.rx_ns!]!;
    if (r !== "")
      lastRx = Math.max(lastRx, Number(BigInt(r) - BigInt(iterationStartedAtMs) * 1_000_000n) / 1e6);
  }
  tx.sort((a, b) => a - b);
  const n = tx.length;
  const first = tx[0]!;
  const tenths = Array.from(
    { length: 10 },
    (_, k) => tx[Math.min(n - 1, Math.ceil(((k + 1) * n) / 10) - 1)]!,
  );
  const gaps = tx.slice(1).map((t, i) => ({ at: i + 1, ms: t - tx[i]! }));
  gaps.sort((a, b) => b.ms - a.ms);
  return {
    startToFirstTxMs: first,
    /** ms after the first probe left when each tenth had left. */
    tenthsMs: tenths.map((t) => t - first),
    /** Probes per second within each tenth. */
    tenthRates: tenths.map((t, k) => n / 10 / ((t - (k === 0 ? first : tenths[k - 1]!)) / 1e3)),
    topGaps: gaps.slice(0, 5),
    gapsOver500us: gaps.filter((g) => g.ms > 0.5).length,
    lastTxToLastRxMs: lastRx - tx[n - 1]!,
  };
}
