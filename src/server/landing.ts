// The page at `/`: what a person who opens the exporter's address in a browser sees. It is the
// status page (src/web): its header and footer carry the links every Prometheus exporter's landing
// page has. Built once per start (no request input reaches it); the probe name is escaped.
import { pageHtml } from "../web/assets.js";

export function landingPage(version: string, probeName?: string): string {
  return pageHtml(version, probeName);
}
