// The exposition served to scrapers, produced once per change instead of once per scrape. The series
// change when an iteration is recorded or a configuration applied; rendering every series for each of
// many back-to-back scrapers is what starved probing (with 3,000 targets, 16 scrapers cut the
// iteration rate tenfold). publish() renders the registry into one Buffer right after such a change
// (between iterations, off the probing path); every scrape until the next change is served that
// same Buffer: no per-scrape work but the socket write, and every series of one answer comes from
// the same iteration. prom-client stays the registry: whatever is registered there (default or
// process metrics too) is rendered. Each format (Prometheus text, OpenMetrics) is rendered at a
// change only if scrapers asked for it lately, else once when first asked: a Prometheus that always
// asks for OpenMetrics does not also pay for a text rendering nobody reads.
import { promisify } from "node:util";
import { gzip as gzipCb } from "node:zlib";
import type { Registry } from "prom-client";
import { CONTENT_TYPES, type Format, render } from "./render.js";

export type { Format };

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

/**
 * A format asked for within this long is rendered at every change; one not asked for since is
 * rendered only when a scraper asks (once per change). Prometheus asks for OpenMetrics at every
 * scrape; curl or an older scraper for the text format. Longer than any sensible scrape interval.
 */
export const WANTED_MS = 10 * 60_000;

const FORMATS: readonly Format[] = ["text", "openmetrics"];

export class Snapshot {
  /** The renderings of the last change, by format. */
  private current = new Map<Format, Exposition>();
  private rendering: Promise<Map<Format, Exposition>> | undefined;
  private again = false;
  /** When each format was last asked for (performance.now()). */
  private readonly asked = new Map<Format, number>();
  /** Renderings of a format nobody had asked for at the last change, made when first asked. */
  private readonly late = new Map<Format, Promise<Exposition>>();

  /** `beforeRender` runs just before each rendering (e.g. to copy outside counters into the registry). */
  constructor(
    private readonly registry: Registry,
    private readonly beforeRender: () => void = () => {},
  ) {}

  /** Renders the registry now in the formats asked for lately (a rendering in progress is followed by one more). */
  publish(): Promise<Map<Format, Exposition>> {
    if (this.rendering) {
      this.again = true;
      return this.rendering;
    }
    this.rendering = this.renderAll().finally(() => {
      this.rendering = undefined;
      if (this.again) {
        this.again = false;
        void this.publish().catch(() => {}); // a failure is seen by the next get()
      }
    });
    return this.rendering;
  }

  /**
   * The rendering in progress if any (it ends once compressed), else the last; the first call
   * renders one. A format not rendered at the last change is rendered now, once for all its scrapers.
   */
  async get(format: Format = "text"): Promise<Exposition> {
    this.asked.set(format, performance.now());
    const all = this.rendering
      ? await this.rendering
      : this.current.size > 0
        ? this.current
        : await this.publish();
    const e = all.get(format);
    if (e) return e;
    let late = this.late.get(format);
    if (!late) {
      late = this.renderOne(format).then((x) => {
        if (this.current === all) all.set(format, x);
        return x;
      });
      this.late.set(format, late);
      void late.finally(() => this.late.delete(format)).catch(() => {});
    }
    return late;
  }

  /** Size in bytes of the last text rendering (0 before the first). */
  get bytes(): number {
    return this.current.get("text")?.body.length ?? 0;
  }

  private async renderAll(): Promise<Map<Format, Exposition>> {
    this.beforeRender();
    const now = performance.now();
    let formats = FORMATS.filter((f) => now - (this.asked.get(f) ?? Number.NEGATIVE_INFINITY) < WANTED_MS);
    if (formats.length === 0) formats = ["text"];
    // Each rendering reads every metric's values in the turn it starts (see renderOne): started
    // together, they show the same moment.
    const done = await Promise.all(formats.map((f) => this.renderOne(f)));
    const all = new Map(formats.map((f, i) => [f, done[i]!]));
    this.current = all;
    return all;
  }

  private async renderOne(format: Format): Promise<Exposition> {
    const t0 = performance.now();
    // prom-client reads every metric's values synchronously when metrics() is called, then formats
    // in microtasks: no timer or I/O callback (hence no other write) can run in between.
    const text = await render(this.registry, format);
    const t1 = performance.now();
    const e: Exposition = {
      contentType: CONTENT_TYPES[format],
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
    return e;
  }
}
