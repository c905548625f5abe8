// The machine's processes as /proc shows them, for tests that must leave none behind (inventory
// modules, their children): a zombie is already gone for these purposes (only its parent can reap it).
import { readdirSync, readFileSync } from "node:fs";

/** /proc/PID/stat after the command name: field 3 (state) is [0], field 5 (process group) is [2]. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Whether a pid is a live process (a zombie is not). */
export function alive(pid: number): boolean {
  try {
    return statFields(pid)[0] !== "Z";
  } catch {
    return false;
  }
}

export interface ProcessInfo {
  pid: number;
  /** The command line, its arguments NUL-separated. */
  cmdline: string;
  /** The process group. */
  pgid: number;
}

/** The live processes that `match` picks (those that end while being read are left out). */
export function liveProcesses(match: (p: ProcessInfo) => boolean): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const f = statFields(pid);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "latin1");
      if (f[0] !== "Z" && match({ pid, cmdline, pgid: Number(f[2]) })) found.push(pid);
    } catch {
      // ended meanwhile
    }
  }
  return found;
}
