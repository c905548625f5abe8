// Reading the shipped Grafana dashboard (grafana/netprobify.json) the way Grafana would: its
// variables, every panel's queries (rows included), and Grafana's substitution of variables into a
// query. Grafana is not packaged in Debian, so the lab test runs these queries against a real
// Prometheus itself, and docs/dashboard.md is generated from the same walk (doc.ts).
import { readFileSync } from "node:fs";
import { REPO } from "../support/paths.js";

export const DASHBOARD = `${REPO}grafana/netprobify.json`;

export interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  format?: string;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: { defaults?: { unit?: string } };
}

export interface Variable {
  name: string;
  label?: string;
  type: string;
  query: string | { query: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  title: string;
  uid: string;
  description?: string;
  templating: { list: Variable[] };
  panels: Panel[];
}

export interface PanelQuery {
  row: string;
  panel: Panel;
  target: Target;
}

export function loadDashboard(path = DASHBOARD): Dashboard {
  return JSON.parse(readFileSync(path, "utf8")) as Dashboard;
}

/** Every panel in display order, with the row it sits under ("" before the first row). */
export function panelsOf(d: Dashboard): { row: string; panel: Panel }[] {
  const out: { row: string; panel: Panel }[] = [];
  let row = "";
  for (const p of d.panels) {
    if (p.type === "row") {
      row = p.title;
      for (const inner of p.panels ?? []) out.push({ row, panel: inner });
    } else out.push({ row, panel: p });
  }
  return out;
}

export function queriesOf(d: Dashboard): PanelQuery[] {
  return panelsOf(d).flatMap(({ row, panel }) =>
    (panel.targets ?? []).map((target) => ({ row, panel, target })),
  );
}

export function variableQuery(v: Variable): string {
  return typeof v.query === "string" ? v.query : v.query.query;
}

/**
 * Grafana's substitution: `$name`, `${name}`, `${name:format}` and `[[name]]` of the dashboard's
 * variables (given values), plus the built-in intervals. A variable left unknown throws.
 */
export function substitute(
  expr: string,
  values: Record<string, string>,
  builtins: Record<string, string>,
): string {
  const all: Record<string, string> = { ...builtins, ...values };
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (m, a, b, c) => {
    const name = (a ?? b ?? c) as string;
    const v = all[name];
    if (v === undefined) throw new Error(`unknown variable ${m} in ${expr}`);
    return v;
  });
}

/** The value Grafana substitutes for "All" of each variable (its allValue). */
export function allValues(d: Dashboard): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of d.templating.list) if (v.includeAll && v.allValue !== undefined) out[v.name] = v.allValue;
  return out;
}
