// A fake module context for the built-in inventories' tests: records what a module publishes and
// reports, and lets a test wait for the next event.
import type { BuiltinContext } from "../../src/inventory/builtin/list.js";

export type Event = { kind: "publish"; targets: unknown } | { kind: "failure"; message: string };

export class Recorder<O> {
  readonly events: Event[] = [];
  readonly controller = new AbortController();
  private waiters: (() => void)[] = [];
  readonly ctx: BuiltinContext<O>;

  constructor(options: O) {
    const push = (e: Event) => {
      this.events.push(e);
      for (const w of this.waiters.splice(0)) w();
    };
    const quiet = () => {};
    this.ctx = {
      name: "t",
      options,
      publish: (targets) => push({ kind: "publish", targets: JSON.parse(JSON.stringify(targets)) }),
      reportFailure: (message) => push({ kind: "failure", message }),
      log: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      signal: this.controller.signal,
    };
  }

  /** Waits until `n` events have been recorded in total (fails after `ms`). */
  async next(n: number, ms = 5000): Promise<Event> {
    const deadline = Date.now() + ms;
    while (this.events.length < n) {
      if (Date.now() > deadline)
        throw new Error(`event ${n} not seen within ${ms} ms: ${JSON.stringify(this.events)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.events[n - 1]!;
  }
}
