// Dropping root after the privileged work is done: the raw sockets are open and the metrics port is
// bound, so the daemon can go on as an ordinary user (`netprobify --user NAME`). Sockets already open
// keep working; what would need new privileged sockets later (a reload that changes the families or
// the source-port range) is refused and reported, and the running configuration stays.
import { execFileSync } from "node:child_process";
import { Code, NetprobifyError, UsageError } from "../errors.js";

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** Looks a user up in the system's account database (getent: /etc/passwd, NSS). */
export function lookupUser(name: string): Account {
  let line: string;
  try {
    line = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).trim();
  } catch {
    throw new UsageError(`--user ${name}: no such user`);
  }
  const f = line.split(":");
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
}

/** Switches the whole process to the account (groups, gid, then uid: order matters). */
export function dropTo(account: Account): void {
  if (process.getuid?.() !== 0) {
    throw new NetprobifyError(Code.NPF_DROP_NOT_ROOT, `--user ${account.name}: only root can switch user`);
  }
  process.setgroups?.([account.gid]);
  process.setgid?.(account.gid);
  process.setuid?.(account.uid);
}
