// Values the original netprobify ran with although our schema's types would refuse them: a key left
// empty (YAML null, which its validator let through) and a negative interval (its loop compared with
// `> 0`). Before the schema sees a section, each such value is replaced with what the original made of
// it, and a warning names the rule, the key and the value used. Anything the original crashed on,
// hung on or never measured with is not listed here: the schema still refuses it.

export interface Adjusted {
  path: (string | number)[];
  message: string;
  rule: string;
}

/** What an empty key stands for: `undefined` means "as if unset" (the default applies). */
interface EmptyMeaning {
  value: unknown;
  why: string;
}

const unset = (why: string): EmptyMeaning => ({ value: undefined, why });

/** Keys whose empty value the original read without failing, and what it read. */
export const EMPTY_KEYS: Record<"global" | "groups" | "targets", Record<string, EmptyMeaning>> = {
  global: {
    percentile: unset("the default [95, 50] applies, as in the original"),
    verbose: unset("read as 0, as in the original"),
    l3_raw_socket: unset("read as false, as in the original"),
  },
  groups: {
    src_ip: unset("no source address, as in the original"),
    src_ipv4: unset("no IPv4 source address (src_ip is not used either), as in the original"),
    src_ipv6: unset("no IPv6 source address, as in the original"),
    src_subnet_ipv4: unset("no source subnet, as in the original"),
    src_subnet_ipv6: unset("no source subnet, as in the original"),
    ip_payload_size: unset("the smallest size applies, as in the original"),
    permit_target_auto_register: {
      value: false,
      why: "read as false (the original tested the empty value as false): no target joins it automatically",
    },
  },
  targets: {
    description: unset("the target's name is its description"),
    state: unset("no state"),
    alert_level: {
      value: null,
      why: 'the threshold gauge is labelled alert_level="None", as the original exported it (not no_alert)',
    },
    address_family: unset("detected from the destination, as in the original"),
    threshold: unset("no threshold gauge, as in the original"),
    ip_payload_size: unset("the smallest size applies, as in the original"),
    is_subnet: unset("read as false, as in the original"),
    dont_fragment: {
      value: false,
      why: "read as false (the original tested the empty value as false): the DF bit is not set",
    },
    auto_register_to_groups: {
      value: false,
      why: "read as false (the original tested the empty value as false): the target joins only explicit_groups.register_to",
    },
  },
};

/** Intervals the original compared with `> 0`: a negative one behaved as 0. */
export const NEGATIVE_AS_ZERO: Record<"global" | "targets", Record<string, string>> = {
  global: {
    interval: "iterations run back to back, as in the original",
    reload_conf_interval: "no automatic reload, as in the original",
    dns_update_interval: "the original's `> 0` test treated it like 0",
  },
  targets: { dns_update_interval: "the original's `> 0` test treated it like 0" },
};

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Returns a copy of one section's map (global, one group or one target) with the adjustments applied,
 * and the warnings they raise. `base` is its path, e.g. ["targets", "web"].
 */
export function adjustSection(
  kind: "global" | "groups" | "targets",
  value: unknown,
  base: (string | number)[],
): { value: unknown; adjusted: Adjusted[] } {
  if (!isMap(value)) return { value, adjusted: [] };
  const out: Record<string, unknown> = { ...value };
  const adjusted: Adjusted[] = [];
  for (const [key, meaning] of Object.entries(EMPTY_KEYS[kind])) {
    if (!(key in out) || out[key] !== null) continue;
    if (meaning.value === undefined) delete out[key];
    else out[key] = meaning.value;
    if (kind === "groups" && key === "src_ipv4") delete out.src_ip;
    adjusted.push({ path: [...base, key], message: `empty: ${meaning.why}`, rule: "empty-value" });
  }
  const negatives = kind === "groups" ? {} : NEGATIVE_AS_ZERO[kind];
  for (const [key, why] of Object.entries(negatives)) {
    const v = out[key];
    if (typeof v !== "number" || !(v < 0)) continue;
    out[key] = 0;
    adjusted.push({ path: [...base, key], message: `${v} is negative: ${why}`, rule: "negative-interval" });
  }
  return { value: out, adjusted };
}
