// What the kernel says a process and its descendants cost: CPU seconds (user + system, including
// children they have waited for), resident memory and how many they are, from /proc/<pid>/stat,
// /proc/<pid>/status and /proc/<pid>/task/<tid>/children. Each inventory module's process is such a
// root (sandbox.ts): its forked children count towards it.
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
  // f[0] is field 3 (state): utime..cstime are fields 14..17.
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return { ticks };
}

function residentBytes(pid: string): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The pids of a process's children (from each of its threads' `children` list). */
function children(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, "latin1").split(" "))
        if (c !== "" && c !== "\n") out.push(Number(c));
    } catch {
      // thread gone meanwhile
    }
  }
  return out;
}

/**
 * Usage of a process and its descendants (undefined: the process is gone). Walking the tree costs a
 * few reads per process of the module, where scanning all of /proc would cost ~40 µs per process
 * of the machine on the daemon's main thread. A descendant whose parent died is reparented away
 * and no longer counted (it is still killed with the process group).
 */
export function treeUsage(root: number): GroupUsage | undefined {
  const rootStat = readStat(String(root));
  if (!rootStat) return undefined;
  const u: GroupUsage = { cpuSeconds: 0, residentBytes: 0, processes: 0 };
  const seen = new Set<number>();
  const todo = [root];
  while (todo.length > 0 && seen.size < 10_000) {
    const pid = todo.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const s = readStat(String(pid));
    if (!s) continue;
    u.cpuSeconds += s.ticks / TICKS;
    u.residentBytes += residentBytes(String(pid));
    u.processes++;
    todo.push(...children(pid));
  }
  return u;
}
