// The page at `/`: what a person who opens the exporter's address in a browser sees, as every
// Prometheus exporter has one. Static (no input reaches it), so it is built once; the probe name is
// the only variable and is escaped.

const ENDPOINTS: readonly [path: string, what: string][] = [
  ["/metrics", "Prometheus metrics (text format; OpenMetrics when asked for)"],
  ["/-/healthy", "200 while the process serves"],
  ["/-/ready", "200 once the first iteration has finished, 503 before"],
  ["/health", "health check with detail (JSON)"],
];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function landingPage(version: string, probeName?: string): string {
  const title = `netprobify${probeName ? ` (${escapeHtml(probeName)})` : ""}`;
  const items = ENDPOINTS.map(([p, what]) => `<li><a href=".${p}">${p}</a>: ${escapeHtml(what)}</li>`).join(
    "\n",
  );
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title></head>
<body>
<h1>${title}</h1>
<p>Packet loss and latency prober, version ${escapeHtml(version)}.</p>
<ul>
${items}
</ul>
<p><code>POST /-/reload</code> reloads the configuration and the web configuration (as SIGHUP does).</p>
</body>
</html>
`;
}
