// The structure of the Grafana dashboard in docs/dashboard.md (variables, rows, panels, queries) is
// generated from grafana/netprobify.json; dashboard.test.ts checks the document shows exactly it.
// After changing the dashboard, refresh the document with `npm run docs:dashboard`.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Dashboard, loadDashboard, panelsOf, variableQuery } from "./dashboard.js";

export const DOC_PATH = fileURLToPath(new URL("../../../docs/dashboard.md", import.meta.url));

const BLOCK = /(<!-- dashboard:start -->\n)([\s\S]*?)(<!-- dashboard:end -->)/;

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const code = (s: string) => `\`${cell(s).replace(/`/g, "'")}\``;

/** The generated part of the document. */
export function dashboardMarkdown(d: Dashboard = loadDashboard()): string {
  const out: string[] = [];
  out.push("### Variables", "", "| variable | label | kind | values | All means |", "|---|---|---|---|---|");
  for (const v of d.templating.list) {
    const all = v.includeAll ? code(v.allValue ?? "every value") : "";
    out.push(`| \`${v.name}\` | ${v.label ?? ""} | ${v.type} | ${code(variableQuery(v))} | ${all} |`);
  }
  let row: string | undefined;
  for (const { row: r, panel } of panelsOf(d)) {
    if (r !== row) {
      row = r;
      const rp = d.panels.find((p) => p.type === "row" && p.title === r);
      out.push("", `### ${r}`, "");
      if (rp?.description) out.push(rp.description, "");
      out.push("| panel | kind | shows | queries |", "|---|---|---|---|");
    }
    const queries = (panel.targets ?? []).map((t) => code(t.expr)).join("<br>");
    const unit = panel.fieldConfig?.defaults?.unit;
    out.push(
      `| **${cell(panel.title)}** | ${panel.type}${unit ? ` (${unit})` : ""} | ${cell(panel.description ?? "")} | ${queries} |`,
    );
  }
  return `${out.join("\n")}\n`;
}

/** The generated block as the document shows it, or undefined when the markers are missing. */
export function blockInDoc(text: string): string | undefined {
  return BLOCK.exec(text)?.[2];
}

export function refreshDoc(text: string): string {
  return text.replace(
    BLOCK,
    (_, start: string, _old: string, end: string) => start + dashboardMarkdown() + end,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(DOC_PATH, refreshDoc(readFileSync(DOC_PATH, "utf8")));
  console.log(`wrote ${DOC_PATH}`);
}
