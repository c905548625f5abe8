// The live view without a terminal: renderFrame and plainLines are pure (widths 80 and 120, display
// width of long and double-width names, sparkline gaps, the hidden-rows line, colour), and the
// terminal driver is run against fake streams (alternate screen, in-place redraw, resize, keys,
// NO_COLOR, restore). The real terminal is test/cli/live-view-tmux.test.ts.
// biome-ignore-all lint/suspicious/noControlCharactersInRegex: the escape codes are what is tested
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { stripVTControlCharacters } from "node:util";
import fc from "fast-check";
import stringWidth from "string-width";
import {
  createLiveView,
  ENTER,
  LEAVE,
  plainLines,
  renderFrame,
  type ViewHeader,
  type ViewRow,
} from "../../src/cli/live-view.js";
import { duration, sparkline, truncate } from "../../src/cli/view/cells.js";

const header: ViewHeader = {
  elapsedS: 83,
  iterations: 14,
  probesPerSecond: 1234.4,
  cpuPercent: 3.25,
  metricsUrl: "curl -s http://127.0.0.1:9100/metrics",
  hint: "loss episode on tor3 until 1:45",
};

function row(name: string, over: Partial<ViewRow> = {}): ViewRow {
  return {
    name,
    type: "TCPsyn",
    family: 4,
    group: "wan",
    injected: "",
    sent: 10,
    lost: 0,
    recentSent: 100,
    recentLost: 0,
    p50: 0.0012,
    p95: 0.0019,
    history: [0.001, 0.0012, 0.0011, 0.0015],
    icmpErrors: 0,
    unreachable: 0,
    late: 0,
    duplicates: 0,
    ...over,
  };
}

const rows: ViewRow[] = [
  row("tor1", { type: "UDPunreachable", group: "dc" }),
  row("tor2", { type: "UDPunreachable", group: "dc", family: 6 }),
  row("tor3", { type: "UDPunreachable", group: "dc", injected: "5% loss", lost: 1, recentLost: 6 }),
  row("dc-far", { injected: "40ms ±5ms", p50: 0.0401, p95: 0.0452 }),
  row("inet-icmp", { type: "ICMPping", family: 6, late: 2, duplicates: 1 }),
  row("inet-gone", {
    type: "UDPunreachable",
    injected: "unreachable",
    lost: 10,
    recentLost: 100,
    p50: undefined,
    p95: undefined,
    history: [Number.NaN, Number.NaN],
    icmpErrors: 10,
    unreachable: 10,
  }),
];

const ESCAPE = /\x1b/;
const SGR_COLOUR = /\x1b\[3[0-9]m/;
const widest = (lines: string[]) => Math.max(...lines.map((l) => stringWidth(l)));
const lineOf = (lines: string[], name: string) =>
  lines.find((l) => stripVTControlCharacters(l).startsWith(name));

describe("renderFrame", () => {
  test("80 columns: every target and the essential columns, no line over 80", () => {
    const lines = renderFrame(header, rows, 80, 24);
    assert.ok(widest(lines) <= 80, lines.join("\n"));
    for (const r of rows) assert.ok(lineOf(lines, r.name), `${r.name} missing:\n${lines.join("\n")}`);
    const titles = lines.find((l) => l.startsWith("target")) ?? "";
    for (const t of ["type", "lost", "recent", "p50", "p95", "history", "icmp", "late", "dup", "injected"]) {
      assert.match(titles, new RegExp(`\\b${t}\\b`), titles);
    }
    assert.match(lines[0] ?? "", /1:23 {2}iter 14 {2}1234 probes\/s {2}cpu 3\.3%/);
    assert.ok(lines.includes("metrics: curl -s http://127.0.0.1:9100/metrics"));
    assert.ok(lines.includes("loss episode on tor3 until 1:45"));
    assert.match(lineOf(lines, "tor3") ?? "", /udp4 +1\/10 +6\.0% +1\.20ms +1\.90ms .* 5% loss$/);
    assert.match(lineOf(lines, "dc-far") ?? "", /tcp4 .* 40\.1ms +45\.2ms .* 40ms ±5ms$/);
    assert.match(lineOf(lines, "inet-gone") ?? "", /udp4 +10\/10 +100% +- +- +10 .* unreachable$/);
    assert.match(lineOf(lines, "inet-icmp") ?? "", /icmp6 .* 2 +1/);
  });

  test("120 columns show the group and unreachable columns too, no line over 120", () => {
    const narrow = renderFrame(header, rows, 80, 24).find((l) => l.startsWith("target")) ?? "";
    const lines = renderFrame(header, rows, 120, 24);
    assert.ok(widest(lines) <= 120);
    const titles = lines.find((l) => l.startsWith("target")) ?? "";
    assert.match(titles, /\bgroup\b.*\bunr\b/);
    assert.doesNotMatch(narrow, /\bgroup\b/);
    assert.match(lineOf(lines, "inet-gone") ?? "", / 10 +10 +0 +0 unreachable$/);
  });

  test("long and double-width names are cut to the column by display width, with an ellipsis", () => {
    const long = "internet-target-behind-a-very-long-name-that-never-ends";
    const wide = "東京データセンター宛先の長い名前";
    const many = [row(long), row(wide), row("x")];
    for (const width of [40, 60, 80, 120]) {
      const lines = renderFrame(header, many, width, 24);
      assert.ok(widest(lines) <= width, `${width}:\n${lines.join("\n")}`);
      const longLine = lines.find((l) => l.startsWith("internet-")) ?? "";
      const wideLine = lines.find((l) => l.startsWith("東京")) ?? "";
      assert.match(longLine, /…/);
      assert.match(wideLine, /…/);
      // Both names take the same number of columns: the next column starts at the same place.
      const col = (l: string) => stringWidth(l.slice(0, l.indexOf("tcp4")));
      assert.equal(col(longLine), col(wideLine), `${width}:\n${lines.join("\n")}`);
    }
    assert.equal(truncate("東京データ", 5), "東京…");
    assert.equal(truncate("東京データ", 4), "東…");
    assert.equal(stringWidth(truncate("e\u0301e\u0301e\u0301e\u0301", 3)), 3);
  });

  test("the sparkline leaves a gap where an iteration had no sample", () => {
    assert.deepEqual(sparkline([0.001, Number.NaN, 0.002], 3), ["▁", " ", "█"]);
    assert.deepEqual(sparkline([Number.NaN, Number.NaN], 3), [" ", " ", " "]);
    assert.deepEqual(sparkline([0.001], 3), [" ", " ", "▁"]);
    // Jitter of a few percent stays low; a doubling reaches the top.
    assert.deepEqual(sparkline([0.01, 0.0105, 0.0102], 3), ["▁", "▁", "▁"]);
    assert.deepEqual(sparkline([0.01, 0.02, 0.015, 0.04], 4), ["▁", "▃", "▂", "█"]);
    // Whatever is fed in, one block or blank per column (the span itself overflowing included).
    assert.deepEqual(sparkline([-1e308, 1e308, Number.POSITIVE_INFINITY, -5], 4), ["▁", "▁", " ", "▁"]);
    const lines = renderFrame(
      header,
      [row("gappy", { history: [0.001, 0.004, Number.NaN, Number.NaN, 0.008] })],
      80,
      24,
    );
    assert.match(lineOf(lines, "gappy") ?? "", /[▁▂▃▄▅▆▇█] {2}█/);
  });

  test("more targets than rows: the worst first, and a line saying how many are hidden", () => {
    const many = Array.from({ length: 40 }, (_, i) => row(`t${i}`));
    const lossy = [7, 23, 31];
    for (const i of lossy) many[i] = row(`t${i}`, { lost: 1 + i / 10, recentLost: i });
    const lines = renderFrame(header, many, 80, 24);
    assert.equal(lines.length, 24);
    assert.match(lines[23] ?? "", /^\+21 more targets hidden/);
    assert.equal(lines.filter((l) => /^t\d+ /.test(l)).length, 19);
    // The lossy ones first, the worst (most recent loss) at the top.
    const first = lines.filter((l) => /^t\d+ /.test(l)).map((l) => l.split(" ")[0]);
    assert.deepEqual(first.slice(0, 3), ["t31", "t23", "t7"]);
    // All fit: the caller's order, no hidden line.
    const all = renderFrame(header, many.slice(0, 10), 80, 24);
    assert.deepEqual(
      all.filter((l) => /^t\d+ /.test(l)).map((l) => l.split(" ")[0]),
      many.slice(0, 10).map((r) => r.name),
    );
    assert.ok(!all.some((l) => l.includes("hidden")));
  });

  test("no line over the width, no more lines than the height, for any size and names", () => {
    const name = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 30 }));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 220 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(
          fc.tuple(
            name,
            fc.string({ maxLength: 30 }),
            fc.nat(1_000_000),
            fc.nat(1_000_000),
            fc.option(fc.double({ min: 0, max: 1e4 }), { nil: undefined }),
            fc.array(fc.double(), { maxLength: 50 }),
          ),
          { maxLength: 70 },
        ),
        fc.boolean(),
        (width, height, specs, color) => {
          const rs = specs.map(([n, inj, sent, lost, p50, history]) =>
            row(n, {
              injected: inj,
              sent,
              lost: Math.min(lost, sent),
              p50,
              p95: p50,
              history,
              icmpErrors: lost,
            }),
          );
          const lines = renderFrame(header, rs, width, height, { color });
          assert.ok(lines.length <= height);
          for (const l of lines) assert.ok(stringWidth(l) <= width, JSON.stringify({ width, l }));
          for (const l of lines) assert.doesNotMatch(stripVTControlCharacters(l), /[\x00-\x1f\x7f]/);
        },
      ),
    );
  });

  test("colour only when asked: loss yellow, heavy loss red", () => {
    assert.ok(!renderFrame(header, rows, 80, 24).some((l) => ESCAPE.test(l)));
    const lines = renderFrame(header, rows, 80, 24, { color: true });
    assert.match(lineOf(lines, "tor3") ?? "", /\x1b\[33m *1\/10\x1b\[0m/);
    assert.match(lineOf(lines, "inet-gone") ?? "", /\x1b\[31m *10\/10\x1b\[0m/);
    assert.doesNotMatch(lineOf(lines, "tor1") ?? "", SGR_COLOUR);
  });

  test("durations fit 6 columns", () => {
    const cases: [number, string][] = [
      [0.000_042, "42µs"],
      [0.000_9996, "1.00ms"],
      [0.001_234, "1.23ms"],
      [0.040_06, "40.1ms"],
      [0.123_4, "123ms"],
      [1.5, "1.50s"],
      [12.34, "12.3s"],
    ];
    for (const [s, text] of cases) assert.equal(duration(s), text);
    assert.equal(duration(undefined), "-");
  });
});

describe("plainLines", () => {
  test("a header line then one key=value line per target, no escape codes", () => {
    const evil = row("bad\x1b[2Jname", { injected: "40ms ±5ms", group: "a\rb" });
    const lines = plainLines(header, [...rows, evil]);
    assert.equal(lines.length, rows.length + 2);
    for (const l of lines) assert.doesNotMatch(l, /[\x00-\x1f\x7f]/);
    assert.equal(
      lines[0],
      'elapsed=1:23 iteration=14 probes_per_s=1234 cpu=3.3% metrics="curl -s http://127.0.0.1:9100/metrics" hint="loss episode on tor3 until 1:45"',
    );
    assert.equal(
      lines[3],
      'target=tor3 type=UDPunreachable family=4 group=dc sent=10 lost=1 loss=10% recent_loss=6.0% p50=1.20ms p95=1.90ms icmp_errors=0 unreachable=0 late=0 duplicates=0 injected="5% loss"',
    );
    assert.match(lines[7] ?? "", /^target=bad\?\[2Jname .* group=a\?b .* injected="40ms ±5ms"$/);
  });
});

/** A TTY-like output stream that records what is written. */
class FakeTty extends EventEmitter {
  isTTY = true;
  written = "";
  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
  }
  write(s: string) {
    this.written += s;
    return true;
  }
  hasColors() {
    return true;
  }
}
class FakeKeys extends EventEmitter {
  isTTY = true;
  isRaw = false;
  reading = false;
  setRawMode(on: boolean) {
    this.isRaw = on;
    return this;
  }
  resume() {
    this.reading = true;
    return this;
  }
  pause() {
    this.reading = false;
    return this;
  }
}
const fakes = (columns = 80, rowsN = 24, env: NodeJS.ProcessEnv = {}) => {
  const out = new FakeTty(columns, rowsN);
  const input = new FakeKeys();
  const view = createLiveView({
    out: out as unknown as NodeJS.WriteStream,
    input: input as unknown as NodeJS.ReadStream,
    env,
  });
  return { out, input, view };
};

describe("createLiveView on a terminal (fake streams)", () => {
  test("alternate screen, raw keys, in-place redraws without clearing the screen, restored once on close", () => {
    const { out, input, view } = fakes();
    const sigint = process.listenerCount("SIGINT");
    const exit = process.listenerCount("exit");
    view.update(header, rows);
    assert.ok(out.written.startsWith(ENTER));
    assert.ok(input.isRaw && input.reading);
    view.update({ ...header, iterations: 15 }, rows);
    assert.doesNotMatch(out.written, /\x1b\[2J/, "never clears the whole screen");
    const frames = out.written.split("\x1b[H").slice(1);
    assert.equal(frames.length, 2);
    // Each line overwritten then cleared to its end; the rest of the screen cleared below.
    for (const f of frames) assert.match(f, /iter 1[45] .*\x1b\[K\r\n/);
    assert.match(frames[1] ?? "", /iter 15/);
    assert.equal(process.listenerCount("exit"), exit + 1);
    view.close();
    view.close();
    assert.ok(out.written.endsWith(LEAVE));
    assert.equal(out.written.split(LEAVE).length, 2, "restored exactly once");
    assert.ok(!input.isRaw && !input.reading);
    assert.equal(process.listenerCount("SIGINT"), sigint);
    assert.equal(process.listenerCount("exit"), exit);
    const before = out.written.length;
    view.update(header, rows);
    assert.equal(out.written.length, before, "nothing drawn after close");
  });

  test("a resize redraws at the new size", () => {
    const { out, view } = fakes(120, 24);
    view.update(header, rows);
    out.written = "";
    out.columns = 50;
    out.rows = 6;
    out.emit("resize");
    const frame = out.written.replace(/\x1b\[\?2026[hl]/g, "").replace(/^\x1b\[H/, "");
    const lines = frame.split("\r\n").map((l) => stripVTControlCharacters(l));
    assert.equal(lines.length, 6);
    assert.ok(widest(lines) <= 50, lines.join("\n"));
    assert.match(lines[5] ?? "", /^\+\d+ more targets hidden/);
    view.close();
  });

  test("q, Q and Ctrl-C call the quit callbacks", () => {
    const { input, view } = fakes();
    let quits = 0;
    view.onQuit(() => quits++);
    view.update(header, rows);
    input.emit("data", Buffer.from("x"));
    assert.equal(quits, 0);
    for (const k of ["q", "Q", "\x03"]) input.emit("data", Buffer.from(k));
    assert.equal(quits, 3);
    view.close();
  });

  test("colour where the terminal has it, none with NO_COLOR", () => {
    const coloured = fakes(80, 24, {});
    coloured.view.update(header, rows);
    coloured.view.close();
    assert.match(coloured.out.written, SGR_COLOUR);
    const plain = fakes(80, 24, { NO_COLOR: "1" });
    plain.view.update(header, rows);
    plain.view.close();
    assert.doesNotMatch(plain.out.written, /\x1b\[[0-9;]*m/);
    assert.match(plain.out.written, /tor3/);
  });

  test("not a terminal: plain lines, no escape codes", () => {
    let written = "";
    const write = (s: string) => {
      written += s;
      return true;
    };
    const out = { isTTY: false, write } as unknown as NodeJS.WriteStream;
    const view = createLiveView({ out });
    view.update(header, rows);
    view.update(header, rows);
    view.close();
    assert.doesNotMatch(written, ESCAPE);
    assert.equal(written.split("\n").length, 2 * (rows.length + 1) + 1);
  });
});
