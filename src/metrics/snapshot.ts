// The exposition served to scrapers, produced once per change instead of once per scrape. The series
// change when an iteration is recorded or a configuration applied; rendering every series for each of
// many back-to-back scrapers is what starved probing (with 3,000 targets, 16 scrapers cut the
// iteration rate tenfold). publish() renders the registry into one Buffer right after such a change
// (between iterations, off the probing path); every scrape until the next change is served that
// same Buffer: no per-scrape work but the socket write, and every series of one answer comes from
// the same iteration. prom-client stays the registry: whatever is registered there (default or
// process metrics too) is rendered.
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import type { Registry } from "prom-client";
import { render } from "./render.js";

export interface Exposition {
  contentType: string;
  body: Buffer;
  /** performance.now() when it was rendered. */
  renderedAt: number;
  /** How long rendering took, in ms. */
  renderMs: number;
  /**
   * The body gzip-compressed (level 1, on the thread pool) before the rendering is served: scrapers
   * that accept gzip (Prometheus does) get it, about 30 times fewer bytes to write. Undefined only
   * when compression failed.
   */
  gzip?: Buffer;
}

const gzip = promisify(gzipCb);

export class Snapshot {
  private current: Exposition | undefined;
  private rendering: Promise<Exposition> | undefined;
  private again = false;

  /** `beforeRender` runs just before each rendering (e.g. to copy outside counters into the registry). */
  constructor(
    private readonly registry: Registry,
    private readonly beforeRender: () => void = () => {},
  ) {}

  /** Renders the registry now (a rendering in progress is followed by one more). */
  publish(): Promise<Exposition> {
    if (this.rendering) {
      this.again = true;
      return this.rendering;
    }
    this.rendering = this.render().finally(() => {
      this.rendering = undefined;
      if (this.again) {
        this.again = false;
        void this.publish().catch(() => {}); // a failure is seen by the next get()
      }
    });
    return this.rendering;
  }

  /** The rendering in progress if any (it ends once compressed), else the last; the first call renders one. */
  get(): Promise<Exposition> {
    if (this.rendering) return this.rendering;
    return this.current ? Promise.resolve(this.current) : this.publish();
  }

  /** Size in bytes of the last rendering (0 before the first). */
  get bytes(): number {
    return this.current?.body.length ?? 0;
  }

  private async render(): Promise<Exposition> {
    const t0 = performance.now();
    this.beforeRender();
    // prom-client reads every metric's values synchronously when metrics() is called, then formats
    // in microtasks: no timer or I/O callback (hence no other write) can run in between.
    const text = await render(this.registry);
    const t1 = performance.now();
    const e: Exposition = {
      contentType: this.registry.contentType,
      body: Buffer.from(text),
      renderedAt: t1,
      renderMs: t1 - t0,
    };
    // The compressed copy is made before the rendering is served: scrapes that come meanwhile wait
    // for it (tens of ms on the thread pool; the event loop stays free for probing). Served at once,
    // the plain body went to every scraper of that window: with 16 back-to-back scrapers of a
    // 12.7 MB exposition, most got the plain text and writing it cost the probing 3 % of its rate.
    try {
      e.gzip = await gzip(e.body, { level: 1 });
    } catch {
      // no compressed copy: the plain body is served
    }
    this.current = e;
    return e;
  }
}
