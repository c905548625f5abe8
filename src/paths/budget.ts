// The trace budget the verdict was sized for: how many flows, TTLs and probes per TTL one incident may
// spend. The trace orchestrator reads these; the seeded fabric simulation (test/paths/verdict-sim)
// shows they name a 1 % lossy link in a 16-way fabric within the 20,000 probes per incident.

/** Hard ceiling of extra probes per incident (issue 15). */
export const INCIDENT_PROBE_LIMIT = 20_000;
/** Flows traced per incident: the flagged ones first (at most TRACE_FLAGGED_FLOWS), healthy ones fill the rest. */
export const TRACE_FLOWS = 8;
/** At most this many flagged flows per incident; the rest of TRACE_FLOWS stays for healthy references. */
export const TRACE_FLAGGED_FLOWS = 4;
/** TTLs per flow: the path length plus two TTLs that reach the destination (a leaf-spine path is 4 hops). */
export const TRACE_TTLS = 6;
/**
 * Probes per flow and TTL. A loss rate p is seen at a TTL crossing the link only if at least one of the
 * n probes there is lost: P(no loss seen) = (1 - p)^n. The verdict tells "loss before hop X" from "loss
 * after it" by the probes that reach hop X; with TRACE_FLAGGED_FLOWS flows crossing the link that is
 * 4 × 400 = 1,600 probes, and 0.99^1600 ≈ 1e-7 at 1 % loss (one flagged flow alone: 0.99^400 ≈ 1.8 %).
 */
export const TRACE_PROBES_PER_TTL = 400;
/** The recommended budget: 8 flows × 6 TTLs × 400 probes = 19,200 probes. */
export const TRACE_BUDGET = TRACE_FLOWS * TRACE_TTLS * TRACE_PROBES_PER_TTL;

/** Probes per TTL that keep `flows × ttls × n` within the incident limit (longer paths get fewer). */
export function probesPerTtl(flows: number, ttls: number, limit = INCIDENT_PROBE_LIMIT): number {
  if (flows <= 0 || ttls <= 0) return 0;
  return Math.min(TRACE_PROBES_PER_TTL, Math.floor(limit / (flows * ttls)));
}

/**
 * Probes per TTL summed over the flagged flows: what localises 1 % loss whether 1 or 4 flows are flagged
 * (1,600 probes at the TTL after the link: 0.99^1600 ≈ 1e-7 that none is lost).
 */
export const TRACE_FLAGGED_PROBES_PER_TTL = TRACE_FLAGGED_FLOWS * TRACE_PROBES_PER_TTL;

/**
 * Probes per TTL for each flagged and each healthy flow of one incident: the flagged flows share
 * TRACE_FLAGGED_PROBES_PER_TTL (fewer flagged flows get more each), the healthy ones get what is left,
 * at most TRACE_PROBES_PER_TTL each, and the whole stays within `limit`.
 */
export function splitBudget(
  flagged: number,
  healthy: number,
  ttls: number,
  limit = INCIDENT_PROBE_LIMIT,
): { flagged: number; healthy: number } {
  if (ttls <= 0 || flagged + healthy <= 0) return { flagged: 0, healthy: 0 };
  const even = probesPerTtl(flagged + healthy, ttls, limit);
  if (flagged === 0) return { flagged: 0, healthy: even };
  const perFlagged = Math.max(
    even,
    Math.floor(Math.min(TRACE_FLAGGED_PROBES_PER_TTL, limit / (2 * ttls)) / flagged),
  );
  const left = limit - flagged * ttls * perFlagged;
  const perHealthy =
    healthy > 0 ? Math.min(TRACE_PROBES_PER_TTL, perFlagged, Math.floor(left / (healthy * ttls))) : 0;
  return { flagged: perFlagged, healthy: perHealthy };
}
