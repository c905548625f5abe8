// What the kernel says a group of processes costs: CPU seconds (user + system, including children
// they have waited for) and resident memory, summed per process group, from /proc/<pid>/stat and
// /proc/<pid>/status. Each inventory module runs in its own process group (sandbox.ts), so one scan
// of /proc gives every module's CPU, memory and process count, its forked children included.
import { readdirSync, readFileSync } from "node:fs";

/** /proc's clock ticks per second (USER_HZ): 100 on every Linux architecture Node runs on. */
const TICKS = 100;

export interface GroupUsage {
  /** User + system CPU seconds of the group's live processes (and the children they reaped). */
  cpuSeconds: number;
  /** Sum of the processes' resident memory (VmRSS), bytes. */
  residentBytes: number;
  processes: number;
}

interface Stat {
  pgrp: number;
  ticks: number;
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function readStat(pid: string): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined; // gone meanwhile
  }
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state): pgrp is field 5, utime..cstime fields 14..17.
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return { pgrp: Number(f[2]), ticks };
}

function residentBytes(pid: string): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Usage of each of the given process groups (absent: no live process in it). */
export function groupUsage(groups: ReadonlySet<number>): Map<number, GroupUsage> {
  const out = new Map<number, GroupUsage>();
  if (groups.size === 0) return out;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const pid of pids) {
    const s = readStat(pid);
    if (!s || !groups.has(s.pgrp)) continue;
    const u = out.get(s.pgrp) ?? { cpuSeconds: 0, residentBytes: 0, processes: 0 };
    u.cpuSeconds += s.ticks / TICKS;
    u.residentBytes += residentBytes(pid);
    u.processes++;
    out.set(s.pgrp, u);
  }
  return out;
}
