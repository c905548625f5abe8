// Status page benchmark (issue 16): with 5,000 targets, how long does the page's first render take
// in Debian's headless Chromium, and how heavy is the page? The data comes from the fake status API
// (test/support/fake-status-api.ts) behind the real HTTP server; the page and uPlot are the real
// ones. First render = from navigation start to the page's `npf-first-render` mark: the status
// fetched, the list of 5,000 cards built, and every card visible in the 1280×900 viewport drawn
// with its history. The bar is < 2 s. Loads the page --loads times (fresh browser context each:
// nothing cached) and prints each and the median; page weight is the bytes of HTML + JS + CSS as
// sent (identity and gzip), uPlot apart. Writes build/bench/page.json.
// Run: npm run bench:page [-- --targets 5000 --loads 3]
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { landingPage } from "../src/server/landing.js";
import { ASSET_PATHS, staticAssets } from "../src/web/assets.js";
import { startChromium } from "../test/support/chromium.js";
import { startFakeStatusApi } from "../test/support/fake-status-api.js";
import { intFlag, median, stringFlag, thousands } from "./lib/stats.js";

const argv = process.argv.slice(2);
const TARGETS = intFlag(argv, "targets", 5_000);
const LOADS = intFlag(argv, "loads", 3);
const OUT = stringFlag(argv, "out", resolve("build/bench"));
const BAR_MS = 2_000;

function weight() {
  const assets = staticAssets();
  const html = Buffer.from(landingPage("0.1.0", "probe"));
  const own = [html, assets.get(`/${ASSET_PATHS.js}`)!.body, assets.get(`/${ASSET_PATHS.css}`)!.body];
  const ownGzip = [
    gzipSync(html),
    assets.get(`/${ASSET_PATHS.js}`)!.gzip,
    assets.get(`/${ASSET_PATHS.css}`)!.gzip,
  ];
  const uplot = [assets.get(`/${ASSET_PATHS.uplotJs}`)!, assets.get(`/${ASSET_PATHS.uplotCss}`)!];
  const sum = (bs: Buffer[]) => bs.reduce((a, b) => a + b.length, 0);
  return {
    html: html.length,
    js: own[1]!.length,
    css: own[2]!.length,
    page: sum(own),
    page_gzip: sum(ownGzip),
    uplot: sum(uplot.map((a) => a.body)),
    uplot_gzip: sum(uplot.map((a) => a.gzip)),
  };
}

const fake = await startFakeStatusApi({
  targets: TARGETS,
  lossy: [17, 2_500, TARGETS - 1].filter((i) => i < TARGETS),
  auth: { user: "bench", password: "bench" },
});
const chromium = await startChromium();
const loads: { first_render_ms: number; cards: number; charts: number; status_bytes: number }[] = [];
try {
  for (let i = 0; i < LOADS; i++) {
    const context = await chromium.browser.createBrowserContext();
    const page = await context.newPage();
    await page.authenticate({ username: "bench", password: "bench" });
    await page.setViewport({ width: 1280, height: 900 });
    let statusBytes = 0;
    page.on("response", async (r) => {
      if (r.url().includes("api/v1/status")) statusBytes = Number(r.headers()["content-length"] ?? 0);
    });
    await page.goto(fake.url);
    await page.waitForSelector("html[data-first-render]", { timeout: 60_000 });
    const r = (await page.evaluate(`({
      ms: performance.getEntriesByName("npf-first-render")[0].startTime,
      cards: document.querySelectorAll("article.card").length,
      charts: document.querySelectorAll("article.card canvas").length,
    })`)) as { ms: number; cards: number; charts: number };
    if (r.cards !== TARGETS) throw new Error(`${r.cards} cards, expected ${TARGETS}`);
    loads.push({
      first_render_ms: Math.round(r.ms),
      cards: r.cards,
      charts: r.charts,
      status_bytes: statusBytes,
    });
    await context.close();
  }
} finally {
  await chromium.close();
  await fake.close();
}

const w = weight();
const med = median(loads.map((l) => l.first_render_ms));
console.log(
  `status page, ${thousands(TARGETS)} targets, headless Chromium, ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`,
);
for (const [i, l] of loads.entries())
  console.log(
    `  load ${i + 1}: first render ${l.first_render_ms} ms (${l.charts} graphs drawn of ${l.cards} cards; /api/v1/status ${thousands(l.status_bytes)} B gzip)`,
  );
console.log(`first render, median: ${med} ms (bar: < ${BAR_MS} ms) ${med < BAR_MS ? "PASS" : "FAIL"}`);
console.log(
  `page weight: ${thousands(w.page)} B (HTML ${thousands(w.html)} + JS ${thousands(w.js)} + CSS ${thousands(w.css)}), ${thousands(w.page_gzip)} B gzip; uPlot apart: ${thousands(w.uplot)} B, ${thousands(w.uplot_gzip)} B gzip`,
);
mkdirSync(OUT, { recursive: true });
writeFileSync(
  `${OUT}/page.json`,
  `${JSON.stringify({ targets: TARGETS, loads, median_first_render_ms: med, bar_ms: BAR_MS, weight: w }, null, 2)}\n`,
);
if (med >= BAR_MS) process.exitCode = 1;
