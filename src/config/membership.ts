// Which groups a target belongs to, decided in exactly one place (the original netprobify's rule):
//   every group whose permit_target_auto_register is true, when the target's auto_register_to_groups
//   is true; plus explicit_groups.register_to (unknown names: warning, ignored); minus
//   explicit_groups.exclude_from (unknown names: warning). exclude_from wins over register_to.
// A target left in no group is disabled, with a warning. Groups come out in the config's group order.

export interface MembershipGroup {
  permit_target_auto_register: boolean;
}

export interface MembershipTarget {
  auto_register_to_groups: boolean;
  register_to: readonly string[];
  exclude_from: readonly string[];
}

export interface MembershipProblem {
  kind: "unknown-group" | "no-group";
  /** For unknown-group: which list named it, and its index there. */
  list?: "register_to" | "exclude_from";
  index?: number;
  group?: string;
}

export interface Membership {
  groups: string[];
  problems: MembershipProblem[];
}

export function membershipOf(
  target: MembershipTarget,
  groups: ReadonlyMap<string, MembershipGroup>,
): Membership {
  const problems: MembershipProblem[] = [];
  const chosen = new Set<string>();
  if (target.auto_register_to_groups) {
    for (const [name, g] of groups) if (g.permit_target_auto_register) chosen.add(name);
  }
  target.register_to.forEach((name, index) => {
    if (groups.has(name)) chosen.add(name);
    else problems.push({ kind: "unknown-group", list: "register_to", index, group: name });
  });
  target.exclude_from.forEach((name, index) => {
    if (groups.has(name)) chosen.delete(name);
    else problems.push({ kind: "unknown-group", list: "exclude_from", index, group: name });
  });
  const ordered = [...groups.keys()].filter((n) => chosen.has(n));
  if (ordered.length === 0) problems.push({ kind: "no-group" });
  return { groups: ordered, problems };
}
