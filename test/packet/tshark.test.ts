// Byte-for-byte check of the codecs against an independent decoder: Wireshark's dissectors (tshark,
// from Debian). The committed corpus (corpus.ts) is dissected with checksum validation switched on;
// every field we meant to write must read back the same, with checksums "good", and our own parsers
// must decode every packet to the same fields tshark reports, including ICMP errors quoting our probes.
// tshark is required: this test fails, not skips, when it is missing (CI installs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { CORPUS_PCAP, corpus } from "./corpus.js";
import { ipv6EntryPointsDiffer, ourFields } from "./ours.js";

type Json = string | Json[] | { [k: string]: Json };

const PROTOCOLS = new Set(["ip", "ipv6", "tcp", "udp", "icmp", "icmpv6"]);

/** tshark's JSON layer tree → flat field map; fields inside an ICMP(v6) error's quote get "inner.". */
function flatten(layers: { [k: string]: Json }): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (obj: { [k: string]: Json }, prefix: string, inIcmp: boolean) => {
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === "string") {
        if (!(prefix + k in out)) out[prefix + k] = v;
      } else if (Array.isArray(v)) {
        out[prefix + k] = JSON.stringify(v);
      } else {
        const nested = inIcmp && PROTOCOLS.has(k);
        walk(v, nested ? "inner." : prefix, inIcmp || k === "icmp" || k === "icmpv6");
      }
    }
  };
  walk(layers, "", false);
  return out;
}

function tshark(file: string): { [k: string]: Json }[] {
  const r = spawnSync(
    "tshark",
    [
      "-r",
      file,
      "-T",
      "json",
      "--no-duplicate-keys",
      "-o",
      "ip.check_checksum:TRUE",
      "-o",
      "tcp.check_checksum:TRUE",
      "-o",
      "udp.check_checksum:TRUE",
      "-o",
      "tcp.relative_sequence_numbers:FALSE",
    ],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  if (r.error)
    assert.fail(`tshark is required for this test (apt-get install -y tshark): ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { _source: { layers: { [k: string]: Json } } }[]).map(
    (p) => p._source.layers,
  );
}

describe("packet codecs against tshark (Wireshark dissectors)", () => {
  const cases = corpus();
  const dissected = tshark(CORPUS_PCAP);

  test("tshark sees every packet of the corpus", () => {
    assert.equal(dissected.length, cases.length);
  });

  cases.forEach((c, i) => {
    test(`${c.name}: tshark reads what we built, and our parsers read what tshark reads`, () => {
      const t = flatten(dissected[i]!);
      assert.equal(t["frame.len"], String(c.bytes.length));
      assert.ok(!Object.keys(t).some((k) => k.startsWith("_ws.malformed")), `tshark: malformed ${c.name}`);
      const fromTshark: Record<string, string | undefined> = {};
      for (const k of Object.keys(c.expect)) fromTshark[k] = t[k];
      assert.deepEqual(fromTshark, c.expect, "tshark vs. the options we built from");
      const ours = ourFields(c.bytes);
      assert.ok(ours, "our parser rejected a packet tshark accepts");
      const fromOurs: Record<string, string | undefined> = {};
      for (const k of Object.keys(c.expect)) fromOurs[k] = ours[k];
      assert.deepEqual(fromOurs, fromTshark, "our parsers vs. tshark");
      if (c.bytes[0]! >>> 4 === 6) assert.equal(ipv6EntryPointsDiffer(c.bytes), undefined);
    });
  });
});
