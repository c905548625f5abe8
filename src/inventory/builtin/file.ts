// The built-in `file` inventory: a YAML or JSON list of targets in a file, re-read when it changes.
// Changes are seen at once through inotify (fs.watch on the directory, so editors that save by
// renaming a new file over the old one are caught) and, as a fallback for filesystems without
// inotify, by comparing size, mtime and inode every `interval` seconds. A file that cannot be read or
// parsed is reported as a failure and the last good list stays in force; a missing file at start
// publishes nothing until it appears.
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { FileInventoryInput } from "../../config/schema.js";
import { type BuiltinContext, formatOf, parseList, sleep } from "./list.js";

export async function start(ctx: BuiltinContext<FileInventoryInput>): Promise<void> {
  const { path, interval } = ctx.options;
  let seen: string | undefined; // size:mtime:inode of the version last read, good or bad
  let checking = false;
  let again = false;

  const check = async (): Promise<void> => {
    if (checking) {
      again = true; // an event during a read: read once more afterwards
      return;
    }
    checking = true;
    try {
      do {
        again = false;
        await readIfChanged();
      } while (again && !ctx.signal.aborted);
    } finally {
      checking = false;
    }
  };

  const readIfChanged = async (): Promise<void> => {
    let sig: string;
    let text: string;
    try {
      const st = await stat(path);
      sig = `${st.size}:${st.mtimeMs}:${st.ino}`;
      if (sig === seen) return;
      text = await readFile(path, "utf8");
    } catch (err) {
      const sigMissing = `error:${(err as NodeJS.ErrnoException).code}`;
      if (seen !== sigMissing) ctx.reportFailure(`cannot read ${path}: ${(err as Error).message}`);
      seen = sigMissing;
      return;
    }
    seen = sig;
    try {
      const list = parseList(text, formatOf(path));
      ctx.log.info("inventory file read", { path, entries: list.length });
      ctx.publish(list);
    } catch (err) {
      ctx.reportFailure(`${path}: ${(err as Error).message}; the last good list stays`);
    }
  };

  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  try {
    watcher = watch(dirname(path), (_event, file) => {
      if (file !== null && file !== basename(path)) return;
      // An editor's save is often several writes: read once they have settled.
      clearTimeout(debounce);
      debounce = setTimeout(() => void check(), 50);
    });
    watcher.on("error", () => watcher?.close()); // the poll below still runs
  } catch {
    watcher = undefined; // directory missing or no inotify: polling only
  }
  try {
    await check();
    while (!ctx.signal.aborted) {
      await sleep(interval * 1000, ctx.signal);
      if (!ctx.signal.aborted) await check();
    }
  } finally {
    clearTimeout(debounce);
    watcher?.close();
  }
}
