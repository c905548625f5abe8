// The exposition served to scrapers, produced once per change instead of once per scrape. The series
// change when an iteration is recorded or a configuration applied; rendering every series for each of
// many back-to-back scrapers is what starved probing (with 3,000 targets, 16 scrapers cut the
// iteration rate tenfold). publish() renders the registry into one Buffer right after such a change
// (between iterations, off the probing path); every scrape until the next change is served that
// same Buffer: no per-scrape work but the socket write, and every series of one answer comes from
// the same iteration.
// A second, small registry (the process's own metrics: CPU, memory, fds, event loop, GC) must be fresh
// at scrape time instead: it is rendered again when a scrape finds its last rendering older than
// `liveMaxAgeMs` (1 s), so a scraper always sees values at most a second old and a storm of scrapers
// costs at most one such rendering (~1 ms) per second. It is appended to the big rendering without
// compressing that again: the big part is deflated once with a sync flush (byte-aligned, not final),
// the small part is deflated on its own and follows it, and the gzip header and trailer (CRC-32 of
// the whole, chained from the big part's) frame both: one standard gzip member, which every client
// decodes (several members, the simpler way, are dropped after the first by some clients).
// In OpenMetrics (a registry of that content type) the exposition ends with `# EOF`: the big part is
// kept without it and the live part, rendered in OpenMetrics too, ends the whole.
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import type { Registry } from "prom-client";
import { CONTENT_TYPES, render } from "./render.js";

export interface Exposition {
  contentType: string;
  body: Buffer;
  /** performance.now() when its big part was rendered. */
  renderedAt: number;
  /** How long rendering its big part took, in ms. */
  renderMs: number;
  /**
   * The body gzip-compressed (level 1, on the thread pool) before the rendering is served: scrapers
   * that accept gzip (Prometheus does) get it, about 30 times fewer bytes to write. Undefined only
   * when compression failed.
   */
  gzip?: Buffer;
}

export interface SnapshotOptions {
  /** Runs just before each rendering of the big part (e.g. to copy outside counters into the registry). */
  beforeRender?: () => void;
  /** A registry rendered fresh for scrapes (at most `liveMaxAgeMs` old), after the big one. */
  live?: Registry;
  /** Age in ms beyond which the live part is rendered again for a scrape (default 1000). */
  liveMaxAgeMs?: number;
  /** Monotonic ms clock (tests). */
  now?: () => number;
}

/** The big part: its text, and its deflate stream flushed but not finished, with its CRC-32. */
interface Part {
  body: Buffer;
  renderedAt: number;
  renderMs: number;
  deflated?: Buffer;
  crc: number;
}

interface LivePart {
  body: Buffer;
  /** Deflate stream of the body alone, finished (its last block is final). */
  deflated: Buffer;
  at: number;
}

const deflateRaw = promisify(zlib.deflateRaw);
/** gzip header: magic, deflate, no flags, no mtime, XFL 4 (fastest), OS 3 (Unix). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3]);

export class Snapshot {
  private current: Part | undefined;
  private rendering: Promise<Part> | undefined;
  private again = false;
  private live: LivePart | undefined;
  private liveRendering: Promise<LivePart> | undefined;
  /** The last exposition served, reused while neither part changed. */
  private composed: { part: Part; live: LivePart | undefined; e: Exposition } | undefined;
  private readonly beforeRender: () => void;
  private readonly now: () => number;
  /** OpenMetrics: the live part is rendered in it and the big part's `# EOF` is left to the live part. */
  private readonly openMetrics: boolean;

  constructor(
    private readonly registry: Registry,
    private readonly opts: SnapshotOptions = {},
  ) {
    this.beforeRender = opts.beforeRender ?? (() => {});
    this.now = opts.now ?? (() => performance.now());
    this.openMetrics = registry.contentType === CONTENT_TYPES.openmetrics;
  }

  /**
   * Renders the registry now (a rendering in progress is followed by one more). The process metrics
   * are left for the next scrape to read: no scraper, no cost.
   */
  async publish(): Promise<void> {
    await this.publishPart();
  }

  private publishPart(): Promise<Part> {
    if (this.rendering) {
      this.again = true;
      return this.rendering;
    }
    this.rendering = this.render().finally(() => {
      this.rendering = undefined;
      if (this.again) {
        this.again = false;
        void this.publishPart().catch(() => {}); // a failure is seen by the next get()
      }
    });
    return this.rendering;
  }

  /**
   * The exposition a scrape gets: the big part in progress if any (it ends once compressed), else
   * the last (the first call renders one), followed by a live part at most liveMaxAgeMs old.
   */
  async get(): Promise<Exposition> {
    const part = await (this.rendering ??
      (this.current ? Promise.resolve(this.current) : this.publishPart()));
    // The process metrics never cost a scrape its probe series: if they cannot be read, the last
    // reading (or none) is served.
    const live = this.opts.live ? await this.freshLive().catch(() => this.live) : undefined;
    const c = this.composed;
    if (c && c.part === part && c.live === live) return c.e;
    const e = compose(this.registry.contentType, part, live);
    this.composed = { part, live, e };
    return e;
  }

  /** Size in bytes of the last rendering of the big part (0 before the first). */
  get bytes(): number {
    return this.current?.body.length ?? 0;
  }

  private freshLive(): Promise<LivePart> {
    const maxAge = this.opts.liveMaxAgeMs ?? 1000;
    if (this.live && this.now() - this.live.at < maxAge) return Promise.resolve(this.live);
    this.liveRendering ??= (async () => {
      try {
        // Text: a blank line between the two parts, as prom-client puts between metrics. OpenMetrics:
        // no blank line, and this part's `# EOF` ends the exposition.
        const body = Buffer.from(
          this.openMetrics
            ? await render(this.opts.live!, "openmetrics")
            : `\n${await render(this.opts.live!)}`,
        );
        this.live = { body, deflated: zlib.deflateRawSync(body, { level: 1 }), at: this.now() };
        return this.live;
      } finally {
        this.liveRendering = undefined;
      }
    })();
    return this.liveRendering;
  }

  private async render(): Promise<Part> {
    const t0 = performance.now();
    this.beforeRender();
    // prom-client reads every metric's values synchronously when metrics() is called, then formats
    // in microtasks: no timer or I/O callback (hence no other write) can run in between.
    let text = await render(this.registry);
    if (this.openMetrics && this.opts.live && text.endsWith("# EOF\n"))
      text = text.slice(0, -"# EOF\n".length);
    const t1 = performance.now();
    const body = Buffer.from(text);
    const part: Part = { body, renderedAt: t1, renderMs: t1 - t0, crc: crc32(body) };
    // The compressed copy is made before the rendering is served: scrapes that come meanwhile wait
    // for it (tens of ms on the thread pool; the event loop stays free for probing). Served at once,
    // the plain body went to every scraper of that window: with 16 back-to-back scrapers of a
    // 12.7 MB exposition, most got the plain text and writing it cost the probing 3 % of its rate.
    try {
      part.deflated = await deflateRaw(body, { level: 1, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch {
      // no compressed copy: the plain body is served
    }
    this.current = part;
    return part;
  }
}

/** One exposition of the big part and the live part; its plain body is joined only if asked for. */
function compose(contentType: string, part: Part, live: LivePart | undefined): Exposition {
  let gzip: Buffer | undefined;
  if (part.deflated) {
    const tail = live?.deflated ?? zlib.deflateRawSync(Buffer.alloc(0));
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(live ? crc32(live.body, part.crc) : part.crc, 0);
    trailer.writeUInt32LE((part.body.length + (live?.body.length ?? 0)) % 2 ** 32, 4);
    gzip = Buffer.concat([GZIP_HEADER, part.deflated, tail, trailer]);
  }
  let body: Buffer | undefined;
  return {
    contentType,
    renderedAt: part.renderedAt,
    renderMs: part.renderMs,
    gzip,
    // Most scrapers take the gzip copy: the plain body (megabytes) is copied only for one that does not.
    get body() {
      body ??= live ? Buffer.concat([part.body, live.body]) : part.body;
      return body;
    },
  };
}

/** CRC-32 (gzip's) of `data`, continuing from `value`: node's zlib.crc32 where it exists (20.15+). */
function crc32(data: Buffer, value = 0): number {
  const native = (zlib as { crc32?: (d: Buffer, v?: number) => number }).crc32;
  if (native) return native(data, value);
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
