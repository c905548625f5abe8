// Debian's Chromium, started headless for a test or benchmark and driven over the DevTools protocol
// by puppeteer-core (which downloads no browser). Its profile lives in a temp dir removed at the
// end, and close() kills the browser process group even if the DevTools connection is broken, so a
// failing test leaves no Chromium behind. Run it inside src/lab/enter.sh: no route out, so the
// browser's own background requests (if any slipped past the flags) go nowhere.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser } from "puppeteer-core";

export const CHROMIUM = process.env.NETPROBIFY_CHROMIUM ?? "/usr/bin/chromium";

export interface Chromium {
  browser: Browser;
  close(): Promise<void>;
}

export async function startChromium(): Promise<Chromium> {
  const profile = mkdtempSync(join(tmpdir(), "npf-chromium-"));
  let browser: Browser | undefined;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: profile,
      args: [
        // Chromium's sandbox needs user namespaces it cannot have as root in our lab namespace.
        ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
      ],
      timeout: 30_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const b = browser;
  const proc = b.process();
  return {
    browser: b,
    close: async () => {
      try {
        await Promise.race([b.close(), new Promise((r) => setTimeout(r, 5_000))]);
      } finally {
        if (proc?.pid !== undefined) {
          const running = proc.exitCode === null && proc.signalCode === null;
          const exited = running ? new Promise((r) => proc.once("exit", r)) : undefined;
          // puppeteer starts Chromium as a process group leader: the group holds its helpers too.
          try {
            process.kill(-proc.pid, "SIGKILL");
          } catch {
            // the group is gone already
          }
          await exited;
        }
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
