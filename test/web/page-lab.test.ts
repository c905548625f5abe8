// The status page against a real daemon in the lab (needs root): `netprobify CONFIG` probes three
// lab targets (ICMP over IPv4 and IPv6, TCP SYN), one of them behind 40 % loss (nftables), every
// second; headless Chromium (test/support/chromium.ts) opens `/` with the daemon's credentials and
// must be refused without them; every target × group gets a graph drawn from the real
// /api/v1/history (coloured pixels read back from its canvas), the lossy target is flagged and sorts
// first, its detail view opens with its configuration. (The screenshots in docs/ come from
// page.test.ts, whose fake API has hours of history to show.)
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { type Chromium, startChromium } from "../support/chromium.js";
import { BIN } from "../support/paths.js";
import { colouredPixels, shownIds } from "./page-probe.js";

const USER = "viewer";
const PASSWORD = "lab-s3cret";
const PORT = 19171;
const URL_ = `http://127.0.0.1:${PORT}/`;

describe("status page on a lab daemon in headless Chromium (needs root)", () => {
  let lab: Lab;
  let dir: string;
  let child: ChildProcess | undefined;
  let chromium: Chromium | undefined;
  let stderr = "";
  before(async () => {
    lab = await createLab({ targets: [{ name: "clean", tcpPorts: [443] }, { name: "lossy" }] });
    await lab.setLoss("lossy", 40, "to");
    dir = mkdtempSync(join(tmpdir(), "npf-page-lab-"));
    const clean = lab.target("clean");
    const file = join(dir, "netprobify.yaml");
    writeFileSync(
      file,
      `global: {probe_name: lab, interval: 1, nb_proc: 1, logging_level: INFO, prometheus_port: ${PORT}, prometheus_address: 127.0.0.1, dns_update_interval: 0, interval_packets: 0.005}
groups:
  standard: {}
targets:
  clean_ping: {type: ICMPping, destination: "${clean.v4}", nb_packets: 10, timeout: 0.5, description: "a clean path"}
  clean_ping6: {type: ICMPping, destination: "${clean.v6}", address_family: ipv6, nb_packets: 10, timeout: 0.5}
  clean_web: {type: TCPsyn, destination: "${clean.v4}", dst_port: 443, nb_packets: 10, timeout: 0.5}
  lossy_ping: {type: ICMPping, destination: "${lab.target("lossy").v4}", nb_packets: 20, timeout: 0.5}
`,
    );
    child = spawn(process.execPath, [BIN, file], {
      env: { ...process.env, PROM_USER: USER, PROM_PASSWORD: PASSWORD },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.on("data", (b) => {
      stderr += String(b);
    });
    // Three iterations in the history: enough points for a line.
    const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` };
    const deadline = Date.now() + 30_000;
    let count = 0;
    while (Date.now() < deadline && count < 3) {
      count = await fetch(`${URL_}api/v1/status`, { headers: auth })
        .then((r) => r.json() as Promise<{ iteration: { count: number } }>)
        .then(
          (s) => s.iteration.count,
          () => 0,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(count >= 3, `the daemon did not iterate 3 times:\n${stderr}`);
    chromium = await startChromium();
  });
  after(async () => {
    await chromium?.close();
    child?.kill("SIGKILL");
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("refused without credentials, then every target drawn, the lossy one first, its detail view", async () => {
    const refused = await chromium!.browser.newPage();
    try {
      const res = await refused.goto(URL_).catch((e: Error) => e);
      if (res instanceof Error) assert.match(res.message, /ERR_INVALID_AUTH_CREDENTIALS/);
      else assert.equal(res?.status(), 401);
      assert.equal(await refused.$("#list"), null);
    } finally {
      await refused.close();
    }

    const page = await chromium!.browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    try {
      await page.authenticate({ username: USER, password: PASSWORD });
      await page.setViewport({ width: 1100, height: 900 });
      assert.equal((await page.goto(URL_))?.status(), 200);
      await page.waitForSelector("html[data-first-render]", { timeout: 20_000 });
      // The daemon names a target × group "<target name>/<group>".
      const ids = await shownIds(page);
      assert.deepEqual(
        new Set(ids),
        new Set(["clean_ping", "clean_ping6", "clean_web", "lossy_ping"].map((n) => `${n}/standard`)),
      );
      assert.equal(ids[0], "lossy_ping/standard", `sorted by worst loss: ${ids.join(", ")}`);
      assert.deepEqual(
        await page.$$eval("article.card.lossy", (cs) => cs.map((c) => c.getAttribute("data-id"))),
        ["lossy_ping/standard"],
      );
      // The daemon has run a few seconds: the 5-minute range shows its points widest.
      await page.select("#range", "300");
      for (const id of ids) {
        const sel = `article.card[data-id="${id}"]`;
        await page.$eval(sel, (e) => e.scrollIntoView());
        await page.waitForSelector(`${sel} canvas`, { timeout: 10_000 });
        const n = await colouredPixels(page, `${sel} canvas`);
        assert.ok(n > 20, `${id}: ${n} coloured pixels`);
      }
      await page.$eval("body", (e) => e.scrollIntoView());

      await page.click(`article.card[data-id="lossy_ping/standard"] h2 a`);
      await page.waitForSelector("dialog[open] .plot canvas", { timeout: 10_000 });
      const detail = await page.$eval("#detail-body", (e) => e.textContent ?? "");
      assert.match(detail, /Configuration/);
      assert.match(detail, /"nb_packets": 20/);
      assert.match(detail, /late answers: \d+ · duplicate answers: \d+/);
      assert.ok((await colouredPixels(page, "dialog[open] .plot canvas")) > 20);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
});
