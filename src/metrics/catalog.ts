// Every metric netprobify exports, declared once: name, type, help and label names. The registry
// (registry.ts) is built from this table and docs/metrics.md is checked against it by a test, so a
// metric cannot exist without being documented nor be documented without existing. Names, types and
// labels of the compat metrics are a contract with users' alert rules (docs/migration.md): change
// them only with that contract.
import type { ProbeType } from "../config/schema.js";
import { PROBE_TYPE } from "../probes/types.js";

export type MetricType = "counter" | "gauge" | "histogram";

export interface MetricDecl {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Only targets of this probe type have series of this metric. */
  readonly probeType?: ProbeType;
  /** "compat": same name, type and labels as the original netprobify; "new": added here. */
  readonly origin: "compat" | "new";
}

/** The labels of one series of one (target, group): every per-series metric starts with these. */
export const SERIES_LABELS = ["probe_name", "destination", "address_family", "state", "group"] as const;
/** Per (target, group) without state (the original's app_time_ooo_total; our new per-series counters). */
export const TARGET_GROUP_LABELS = ["probe_name", "destination", "address_family", "group"] as const;
/** Per target (the original's foreign-reply gauges and DNS metrics). */
export const TARGET_LABELS = ["probe_name", "destination", "address_family"] as const;

/** Per target × group, for the ECMP path metrics (docs/paths.md). */
export const PATH_LABELS = ["probe_name", "destination", "group"] as const;
/** Per flow of a target × group: destination address, source address and port, IPv6 flow label. */
export const FLOW_LABELS = [...PATH_LABELS, "dst_addr", "src_addr", "src_port", "flow_label"] as const;

/** Metric name prefix of each probe type (src/probes/types.ts). */
export const PREFIX: Record<ProbeType, string> = {
  TCPsyn: PROBE_TYPE.TCPsyn.metricPrefix,
  ICMPping: PROBE_TYPE.ICMPping.metricPrefix,
  UDPunreachable: PROBE_TYPE.UDPunreachable.metricPrefix,
};

function perType(type: ProbeType): [MetricDecl, MetricDecl, MetricDecl, MetricDecl] {
  const p = PREFIX[type];
  const what = PROBE_TYPE[type].what;
  return [
    {
      name: `${p}_sent_total`,
      type: "counter",
      help: `${what} probes handed to the kernel.`,
      labels: SERIES_LABELS,
      probeType: type,
      origin: "compat",
    },
    {
      name: `${p}_loss_total`,
      type: "counter",
      help: `${what} probes sent that got no answer from the destination within the target's timeout (unreachable ones included: see netprobify_unreachable_probes_total).`,
      labels: SERIES_LABELS,
      probeType: type,
      origin: "compat",
    },
    {
      name: `${p}_loss_ratio`,
      type: "gauge",
      help: `Lost / sent ${what} probes of the last iteration (0..1; 0 when nothing was sent).`,
      labels: SERIES_LABELS,
      probeType: type,
      origin: "compat",
    },
    {
      name: `${p}_round_trip_seconds`,
      type: "gauge",
      help: `Percentile of the ${what} round-trip times of the last iteration (kernel timestamps); absent when the iteration had no sample.`,
      labels: [...SERIES_LABELS, "percentile"],
      probeType: type,
      origin: "compat",
    },
  ];
}

export const CATALOG = [
  ...perType("TCPsyn"),
  {
    name: "tcpsyn_match_ack_fail_count",
    type: "gauge",
    help: "TCP replies from the target's address whose acknowledgement matched no SYN we sent (incremented, never reset).",
    labels: TARGET_LABELS,
    probeType: "TCPsyn",
    origin: "compat",
  },
  {
    name: "tcpsyn_port_mismatch_count",
    type: "gauge",
    help: "Replies whose key matched one of the target's TCP SYNs but whose ports did not (incremented, never reset).",
    labels: TARGET_LABELS,
    probeType: "TCPsyn",
    origin: "compat",
  },
  ...perType("ICMPping"),
  ...perType("UDPunreachable"),
  {
    name: "udp_unreachable_port_mismatch_count",
    type: "gauge",
    help: "Replies whose key matched one of the target's UDP probes but whose ports did not (incremented, never reset).",
    labels: TARGET_LABELS,
    probeType: "UDPunreachable",
    origin: "compat",
  },
  {
    name: "threshold",
    type: "gauge",
    help: "The target's configured threshold (type latency: seconds as written; type loss: as written).",
    labels: ["probe_name", "destination", "address_family", "type", "state", "alert_level", "group"],
    origin: "compat",
  },
  {
    name: "app_host_resolution_status",
    type: "gauge",
    help: "1 when the target resolved at its last resolution (an IP literal, subnet or range always does, this host's own address included), 0 when its hostname did not.",
    labels: TARGET_LABELS,
    origin: "compat",
  },
  {
    name: "app_host_resolution_change_total",
    type: "counter",
    help: "Resolutions of the target that gave addresses other than the previous outcome: the first success counts 1 (as in the original), a success after a failure counts 1, a reload counts none.",
    labels: TARGET_LABELS,
    origin: "compat",
  },
  {
    name: "app_time_ooo_total",
    type: "counter",
    help: "Answers whose kernel RX timestamp preceded the TX timestamp (clock stepped): counted, not used as RTT samples.",
    labels: TARGET_GROUP_LABELS,
    origin: "compat",
  },
  {
    name: "app_iteration_time_seconds",
    type: "gauge",
    help: "Duration of the last probing iteration, first send to last answer or timeout.",
    labels: ["probe_name"],
    origin: "compat",
  },
  {
    name: "app_target_name_dup_total",
    type: "counter",
    help: "Times a target name was found twice (static file and a dynamic inventory); the first one is kept.",
    labels: ["target_name"],
    origin: "compat",
  },
  {
    name: "app_process_timed_out_total",
    type: "counter",
    help: "Iterations stopped by global.timeout before every probe was settled.",
    labels: ["probe_name"],
    origin: "compat",
  },
  {
    name: "app_reload_conf_failed_status",
    type: "gauge",
    help: "1 when the last configuration reload failed (the previous configuration stays in use), else 0.",
    labels: ["probe_name"],
    origin: "compat",
  },
  {
    name: "netprobify_info",
    type: "gauge",
    help: "Always 1; the version label says which netprobify runs.",
    labels: ["version"],
    origin: "compat",
  },
  {
    name: "netprobify_late_replies_total",
    type: "counter",
    help: "Answers that arrived after their probe timed out (the probe stays counted as lost).",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_duplicate_replies_total",
    type: "counter",
    help: "Second and later answers to one probe.",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_unsent_probes_total",
    type: "counter",
    help: "Probes refused on this host, never sent (counted apart from loss; see netprobify_send_failures_total for why).",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_untimed_replies_total",
    type: "counter",
    help: "Answers without both kernel timestamps: they count as answered but give no RTT sample.",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_icmp_errors_total",
    type: "counter",
    help: "Answers that were ICMP errors from the destination quoting a probe (they count as answers, as in the original), by ICMP type and code.",
    labels: [...TARGET_GROUP_LABELS, "icmp_type", "icmp_code"],
    origin: "new",
  },
  {
    name: "netprobify_unreachable_probes_total",
    type: "counter",
    help: "Probes that got no answer but an ICMP error from something other than the destination (a router's host unreachable, time exceeded, prohibited) or of a kind the original never accepted, by the error's ICMP type and code: counted in *_loss_total too.",
    labels: [...TARGET_GROUP_LABELS, "icmp_type", "icmp_code"],
    origin: "new",
  },
  {
    name: "netprobify_send_failures_total",
    type: "counter",
    help: "Probes refused on this host (never sent, never loss), by errno name: the kernel's (e.g. ENOBUFS from a full qdisc, EPERM from a firewall, ENETUNREACH), or ETIMEDOUT / ECANCELED for probes still unsent when the iteration hit global.timeout or the engine closed.",
    labels: ["probe_name", "errno"],
    origin: "new",
  },
  {
    name: "netprobify_socket_drops_total",
    type: "counter",
    help: "Packets the kernel dropped on the receive sockets (queue full): answers that may show up as loss.",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_unmatched_replies_total",
    type: "counter",
    help: "Replies counted against no target: reason address_mismatch (the key of a probe sent to another address or of another type), unknown_source (a TCP reply matching no SYN, from an address no TCPsyn target probes), port_mismatch (wrong ports, for a target no longer configured), unknown_key (a reply whose key matches no probe sent in the recent iterations: none of theirs, or one the kernel refused), not_a_reply (a packet the filters let in that answers no probe type, or does not parse), settled_error (an ICMP error from elsewhere for a probe already answered or timed out).",
    labels: ["probe_name", "reason"],
    origin: "new",
  },
  {
    name: "netprobify_iterations_total",
    type: "counter",
    help: "Probing iterations completed.",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_iteration_probes",
    type: "gauge",
    help: "Probes the last iteration planned (sent + refused by the kernel).",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_internal_errors_total",
    type: "counter",
    help: "Throws and rejections the daemon survived, by where: iteration, plan, metrics, reload, inventory, dns (the loop logs them and goes on with the next step), receive, timestamps (reading replies or TX timestamps threw, or a socket's poll failed and was re-armed; receive also: a receive thread left the expiry's barrier unanswered for 1 s), rst (our RST after a SYN-ACK could not be sent), unhandled_rejection, uncaught_exception (anywhere else in the process). Any increase is a bug to report.",
    labels: ["probe_name", "where"],
    origin: "new",
  },
  {
    name: "netprobify_log_lines_dropped_total",
    type: "counter",
    help: "Log lines not written because the log could not take them (disk full, reader gone: ENOSPC, EPIPE, EAGAIN, EIO) or the log queue was full; probing and serving go on.",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_http_connections_refused_total",
    type: "counter",
    help: "HTTP connections answered 503 and closed at once because the connection cap was reached.",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_targets_excluded",
    type: "gauge",
    help: "Enabled targets that probe nothing, by reason: self (every address is this host's), unresolved (DNS failed), no_route (no source address).",
    labels: ["probe_name", "reason"],
    origin: "new",
  },
  {
    name: "netprobify_target_issue",
    type: "gauge",
    help: "A target with addresses left out, by reason (self, unresolved, no_route): 1 when it probes nothing at all, 0 when some of its addresses are still probed.",
    labels: [...TARGET_LABELS, "reason"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_errors_total",
    type: "counter",
    help: "Failures of a dynamic inventory, by reason: crash (the module threw, rejected, exited, was killed or reached its memory limit: the log says which; it is restarted with backoff) or reported (it could not fetch or parse its source, e.g. HTTP 500 or a timeout). Its last good list stays in force.",
    labels: ["probe_name", "inventory", "reason"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_targets",
    type: "gauge",
    help: "Targets a dynamic inventory adds to the running configuration (valid, not expired, in this instance's shard).",
    labels: ["probe_name", "inventory"],
    origin: "new",
  },
  {
    name: "netprobify_path_suspect_link",
    type: "gauge",
    help: 'Estimated loss (0..1) on the link a trace-on-loss incident blames: from/to are the hop addresses as the routers answered (to="*" when the far end never answered, as behind a blackhole). Present while the incident is open (docs/paths.md).',
    labels: [...PATH_LABELS, "from", "to"],
    origin: "new",
  },
  {
    name: "netprobify_path_per_packet",
    type: "gauge",
    help: "1 while a trace-on-loss incident sees a per-packet load balancer on the target's paths (one flow answered by several routers at one TTL): nothing is blamed then.",
    labels: PATH_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_distinct_paths",
    type: "gauge",
    help: "Distinct router paths among the flows an open trace-on-loss incident traced.",
    labels: PATH_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_hops",
    type: "gauge",
    help: "Distinct router addresses (hops) among the flows an open trace-on-loss incident traced.",
    labels: PATH_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_changes_total",
    type: "counter",
    help: "Traced flows whose path changed between two traces of an open incident (its series goes when the incident closes).",
    labels: PATH_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_incidents_open",
    type: "gauge",
    help: "Trace-on-loss incidents open (at most global.path_tracing_max_incidents).",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_path_trace_probes_sent_total",
    type: "counter",
    help: "TTL-limited trace probes sent by trace-on-loss incidents (paced by global.path_tracing_packets_per_second).",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_path_trace_budget_exhausted_total",
    type: "counter",
    help: "Trace-on-loss incidents that used their whole budget (global.path_tracing_budget) while still wanting probes.",
    labels: ["probe_name"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_invalid_entries",
    type: "gauge",
    help: "Entries of a dynamic inventory's current list that were skipped as invalid (logged with the reason).",
    labels: ["probe_name", "inventory"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_targets_over_ceiling",
    type: "gauge",
    help: "Valid targets of a dynamic inventory's current list left out because they would take the plan over global.max_probes_per_iteration (logged); the file's targets keep probing.",
    labels: ["probe_name", "inventory"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_last_publish_timestamp_seconds",
    type: "gauge",
    help: "When a dynamic inventory last published its list, or confirmed it (e.g. HTTP 304): alert on time() minus this to catch a stale inventory.",
    labels: ["probe_name", "inventory"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_cpu_seconds_total",
    type: "counter",
    help: "CPU seconds (user + system) used by a dynamic inventory's processes (the module and the children it forked), across its restarts; sampled every second from /proc. A module spinning forever shows 1 per second.",
    labels: ["probe_name", "inventory"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_resident_memory_bytes",
    type: "gauge",
    help: "Resident memory of a dynamic inventory's processes (sum of VmRSS), sampled every second; 0 while it waits to be restarted. Its limit is global.dynamic_inventories_memory_mb.",
    labels: ["probe_name", "inventory"],
    origin: "new",
  },
  {
    name: "netprobify_inventory_dropped_total",
    type: "counter",
    help: "What a dynamic inventory sent or wrote that was dropped, by reason: too_large (a message over 8 MiB), too_many_entries (a list over 50,000 entries: the last list stays), superseded (a list replaced by a newer one before it was processed: lists are processed at most once per second), log (log or output lines over 20 per second), malformed (not a JSON object).",
    labels: ["probe_name", "inventory", "reason"],
    origin: "new",
  },
  {
    name: "netprobify_rtt_min_seconds",
    type: "gauge",
    help: "Smallest round-trip time of the last iteration (kernel timestamps); absent when the iteration had no sample.",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_rtt_max_seconds",
    type: "gauge",
    help: "Largest round-trip time of the last iteration (kernel timestamps); absent when the iteration had no sample.",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_ipdv_mean_seconds",
    type: "gauge",
    help: "Jitter: mean absolute IP packet delay variation (RFC 3393) of the last iteration, over pairs of consecutive probes of the same flow (source address and port, destination) both answered; absent without such a pair.",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_ipdv_max_seconds",
    type: "gauge",
    help: "Jitter: largest absolute IP packet delay variation (RFC 3393) of the last iteration, same pairs as netprobify_ipdv_mean_seconds; absent without such a pair.",
    labels: TARGET_GROUP_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_flow_sent_total",
    type: "counter",
    help: "Probes sent on one flow (only targets or groups with path_metrics: true, at most global.path_metrics_max_flows flows per target × group, worst first; docs/paths.md).",
    labels: FLOW_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_flow_lost_total",
    type: "counter",
    help: "Probes of one flow that got no answer and no ICMP error (same flows as netprobify_path_flow_sent_total).",
    labels: FLOW_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_flow_loss_ratio",
    type: "gauge",
    help: "Lost / sent probes of one flow over the ledger's window (the last 16 iterations).",
    labels: FLOW_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_flow_rtt_seconds",
    type: "gauge",
    help: 'Round-trip time of one flow over the ledger\'s window: stat="min", "p50" (median of the iterations\' medians) or "max"; absent without a sample.',
    labels: [...FLOW_LABELS, "stat"],
    origin: "new",
  },
  {
    name: "netprobify_path_flow_reply_ttl",
    type: "gauge",
    help: "TTL (IPv4) or hop limit (IPv6) of the last answer on one flow as it arrived (0 when unknown).",
    labels: FLOW_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_flows",
    type: "gauge",
    help: "Flows of a target × group the ledger holds (those that sent probes in the window).",
    labels: PATH_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_anomaly",
    type: "gauge",
    help: "Flows of a target × group flagged: those whose loss is significantly above the other flows' (Fisher exact test, Holm-corrected at 0.001), else, when the lost probes of the last 49-64 iterations fell on significantly few flows (occupancy test at 0.01), every flow with a loss (docs/paths.md). 0: none, or loss alike on every flow.",
    labels: PATH_LABELS,
    origin: "new",
  },
  {
    name: "netprobify_path_anomaly_loss_ratio",
    type: "gauge",
    help: "Lost / sent probes of the flows netprobify_path_anomaly counts, over the window their test used: the ledger's last 16 iterations, or 49-64 for the occupancy test (0 when none).",
    labels: PATH_LABELS,
    origin: "new",
  },
  // Last: registered when a configuration enables it (src/metrics/rtt-histogram.ts), after the others.
  {
    name: "netprobify_rtt_seconds",
    type: "histogram",
    help: "Every round-trip time measured (kernel timestamps), cumulative, by probe type (TCPsyn, ICMPping, UDPunreachable): sum it across targets, groups and probes. Only with global.rtt_histogram: true; buckets from global.rtt_histogram_buckets.",
    labels: [...TARGET_GROUP_LABELS, "type"],
    origin: "new",
  },
] as const satisfies readonly MetricDecl[];

export type MetricName = (typeof CATALOG)[number]["name"];

/** Label values of netprobify_unmatched_replies_total's reason. */
export const UNMATCHED_REASONS = [
  "address_mismatch",
  "unknown_source",
  "port_mismatch",
  "unknown_key",
  "not_a_reply",
  "settled_error",
] as const;

/** Label values of netprobify_internal_errors_total's where. */
export const INTERNAL_ERROR_PLACES = [
  "iteration",
  "plan",
  "metrics",
  "reload",
  "inventory",
  "dns",
  "trace",
  "receive",
  "timestamps",
  "rst",
  "unhandled_rejection",
  "uncaught_exception",
] as const;

/** Label values of the excluded-target reasons, in the order they are exported. */
export const EXCLUSION_REASONS = ["self", "unresolved", "no_route"] as const;

/** The declaration of a metric by name. */
export function declOf(name: MetricName): MetricDecl {
  const d = BY_NAME.get(name);
  if (!d) throw new Error(`undeclared metric ${name}`);
  return d;
}

const BY_NAME = new Map<string, MetricDecl>(CATALOG.map((m: MetricDecl) => [m.name, m]));

/** The catalog as the markdown table docs/metrics.md shows (one row per metric, catalog order). */
export function catalogMarkdown(): string {
  const rows = CATALOG.map(
    (m: MetricDecl) =>
      `| \`${m.name}\` | ${m.type} | ${m.labels.join(", ")} | ${m.origin} | ${m.help.replaceAll("|", "\\|")} |`,
  );
  return ["| metric | type | labels | origin | meaning |", "|---|---|---|---|---|", ...rows, ""].join("\n");
}
