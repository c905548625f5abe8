// Content negotiation for /metrics: which exposition format and which encoding a scraper gets.
// Prometheus asks for OpenMetrics first (its Accept header lists application/openmetrics-text above
// text/plain) and accepts gzip; curl and older scrapers ask for nothing in particular and get the
// Prometheus text format, the default. Headers come from the network: parsing never throws.

export type ExpositionFormat = "text" | "openmetrics";

interface Range {
  type: string;
  params: Map<string, string>;
  q: number;
}

function ranges(header: string): Range[] {
  const out: Range[] = [];
  for (const part of header.split(",")) {
    const [type = "", ...rest] = part.split(";").map((s) => s.trim());
    const params = new Map<string, string>();
    for (const p of rest) {
      const eq = p.indexOf("=");
      if (eq > 0)
        params.set(
          p.slice(0, eq).trim().toLowerCase(),
          p
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, ""),
        );
    }
    const q = params.has("q") ? Number(params.get("q")) : 1;
    out.push({ type: type.toLowerCase(), params, q: Number.isFinite(q) ? Math.min(1, Math.max(0, q)) : 0 });
  }
  return out;
}

/** OpenMetrics versions whose text this server's 1.0.0 output satisfies (0.0.1 is the same syntax). */
const OPENMETRICS_VERSIONS = new Set([undefined, "1.0.0", "0.0.1"]);

/**
 * The format an Accept header asks for: OpenMetrics when it is acceptable and preferred over the
 * text format (strictly higher q), else text. A wildcard counts for text only: OpenMetrics is
 * served to those who name it.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (!accept) return "text";
  let om = 0;
  let text = 0;
  for (const r of ranges(accept)) {
    if (r.type === "application/openmetrics-text" && OPENMETRICS_VERSIONS.has(r.params.get("version")))
      om = Math.max(om, r.q);
    else if (r.type === "text/plain" || r.type === "text/*" || r.type === "*/*") text = Math.max(text, r.q);
  }
  return om > 0 && om > text ? "openmetrics" : "text";
}

/** Whether an Accept-Encoding header allows gzip (listed, and not with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  for (const part of header.split(",")) {
    const [coding = "", ...params] = part.trim().toLowerCase().split(";");
    if (coding.trim() !== "gzip" && coding.trim() !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}
