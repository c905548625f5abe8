// The status page's static files (its HTML shell, one JS module, one stylesheet, and uPlot from the
// `uplot` npm package), read once from the installed package and kept in memory with their gzip
// form: the page works offline, without a CDN, and costs the server nothing per request but a write.
// uPlot is served under a path carrying its version, so a browser never mixes two versions.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export interface Asset {
  contentType: string;
  body: Buffer;
  gzip: Buffer;
}

/** src/web/page in the package (this module runs from dist/src/web). */
export const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../../src/web/page");

const require = createRequire(import.meta.url);
const UPLOT_DIR = dirname(require.resolve("uplot/dist/uPlot.iife.min.js"));
const UPLOT_VERSION = (require("uplot/package.json") as { version: string }).version;

/** The URL path (relative to the page) of each served file, with its source. */
export const ASSET_PATHS = {
  js: "static/page.js",
  css: "static/page.css",
  uplotJs: `static/uplot-${UPLOT_VERSION}/uPlot.iife.min.js`,
  uplotCss: `static/uplot-${UPLOT_VERSION}/uPlot.min.css`,
} as const;

const SOURCES: readonly [path: string, file: string, type: string][] = [
  [ASSET_PATHS.js, join(PAGE_DIR, "page.js"), "text/javascript; charset=utf-8"],
  [ASSET_PATHS.css, join(PAGE_DIR, "page.css"), "text/css; charset=utf-8"],
  [ASSET_PATHS.uplotJs, join(UPLOT_DIR, "uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
  [ASSET_PATHS.uplotCss, join(UPLOT_DIR, "uPlot.min.css"), "text/css; charset=utf-8"],
];

function asset(body: Buffer, contentType: string): Asset {
  return { contentType, body, gzip: gzipSync(body, { level: 9 }) };
}

let loaded: Map<string, Asset> | undefined;

/** The static files by absolute URL path ("/static/page.js"), read on first use. */
export function staticAssets(): ReadonlyMap<string, Asset> {
  if (!loaded) {
    loaded = new Map();
    for (const [path, file, type] of SOURCES) loaded.set(`/${path}`, asset(readFileSync(file), type));
  }
  return loaded;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page's HTML shell (src/web/page/index.html) with the version and probe name filled in, escaped. */
export function pageHtml(version: string, probeName?: string): string {
  const title = `netprobify${probeName ? ` (${escapeHtml(probeName)})` : ""}`;
  const vars: Record<string, string> = {
    title,
    version: escapeHtml(version),
    js: ASSET_PATHS.js,
    css: ASSET_PATHS.css,
    uplotJs: ASSET_PATHS.uplotJs,
    uplotCss: ASSET_PATHS.uplotCss,
  };
  return readFileSync(join(PAGE_DIR, "index.html"), "utf8").replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`index.html: unknown placeholder ${k}`);
    return v;
  });
}
