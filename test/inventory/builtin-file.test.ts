// The built-in `file` inventory, run in-process with a recording context: first read, edits seen
// through inotify and through the periodic check, JSON, a broken file (failure, nothing published:
// the last good list stays), a missing file, and a prompt stop.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { start } from "../../src/inventory/builtin/file.js";
import { parseList } from "../../src/inventory/builtin/list.js";
import { Recorder } from "./builtin-support.js";

const dir = mkdtempSync(join(tmpdir(), "npf-file-inv-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("built-in file inventory", () => {
  test("publishes the list, picks up edits (in place and by rename), keeps the last good list on a broken file", async () => {
    const path = join(dir, "targets.yaml");
    writeFileSync(path, "- {hostname: 198.18.0.1, type: ICMPping}\n");
    const r = new Recorder({ type: "file" as const, path, interval: 60 });
    const run = start(r.ctx);
    assert.deepEqual(await r.next(1), {
      kind: "publish",
      targets: [{ hostname: "198.18.0.1", type: "ICMPping" }],
    });

    writeFileSync(
      path,
      "targets:\n  - {hostname: 198.18.0.2, type: ICMPping}\n  - {hostname: 198.18.0.3, type: ICMPping}\n",
    );
    const e2 = await r.next(2, 3000); // interval is 60 s: only inotify can deliver this in time
    assert.equal(e2.kind, "publish");
    assert.equal((e2 as { targets: unknown[] }).targets.length, 2);

    writeFileSync(path, "- {hostname: [unclosed\n");
    const e3 = await r.next(3, 3000);
    assert.equal(e3.kind, "failure");
    assert.match((e3 as { message: string }).message, /not valid YAML.*last good list stays/);

    // Editors that save by writing a new file and renaming it over the old one.
    writeFileSync(join(dir, ".targets.yaml.tmp"), "- {hostname: 198.18.0.4, type: ICMPping}\n");
    renameSync(join(dir, ".targets.yaml.tmp"), path);
    assert.deepEqual(await r.next(4, 3000), {
      kind: "publish",
      targets: [{ hostname: "198.18.0.4", type: "ICMPping" }],
    });
    r.controller.abort();
    await run;
    assert.equal(r.events.length, 4, "no event after the edits beyond those expected");
  });

  test("JSON files; a missing file is one failure until it appears; the periodic check finds changes", async () => {
    const sub = join(dir, "later");
    const path = join(sub, "targets.json"); // the directory does not exist yet: no inotify, polling only
    const r = new Recorder({ type: "file" as const, path, interval: 0.1 });
    const run = start(r.ctx);
    const e1 = await r.next(1);
    assert.equal(e1.kind, "failure");
    assert.match((e1 as { message: string }).message, /cannot read .*targets\.json/);
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(r.events.length, 1, "a file that stays missing is reported once");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(sub);
    writeFileSync(path, JSON.stringify([{ hostname: "db1", type: "TCPsyn", dst_port: 5432 }]));
    assert.deepEqual(await r.next(2, 3000), {
      kind: "publish",
      targets: [{ hostname: "db1", type: "TCPsyn", dst_port: 5432 }],
    });
    writeFileSync(path, "[{");
    const e3 = await r.next(3, 3000);
    assert.match((e3 as { message: string }).message, /not valid JSON/);
    r.controller.abort();
    await run;
  });

  test("document shapes", () => {
    assert.deepEqual(parseList("", "yaml"), []);
    assert.deepEqual(parseList("targets: []\nversion: 3\n", "yaml"), []);
    assert.deepEqual(
      parseList("- {hostname: a, up: yes}\n", "yaml"),
      [{ hostname: "a", up: true }],
      "YAML 1.1",
    );
    assert.throws(() => parseList("hostname: a\n", "yaml"), /expected a list of targets/);
    assert.throws(() => parseList("{}", "json"), /expected a list/);
  });
});
