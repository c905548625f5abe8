// The committed pcap corpus must be exactly what the builders produce today: a codec change that
// alters bytes shows up here and needs a deliberate `node dist/test/packet/corpus.js --write`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CORPUS_JSON, CORPUS_PCAP, corpus } from "./corpus.js";
import { readPcap } from "./pcap.js";

test("committed packet corpus matches the builders (regenerate: node dist/test/packet/corpus.js --write)", () => {
  const cases = corpus();
  const committed = readPcap(readFileSync(CORPUS_PCAP));
  assert.equal(committed.length, cases.length);
  for (const [i, c] of cases.entries()) {
    assert.ok(Buffer.from(c.bytes).equals(committed[i]!), `packet ${i} ${c.name} differs`);
  }
  const names = (JSON.parse(readFileSync(CORPUS_JSON, "utf8")) as { name: string }[]).map((c) => c.name);
  assert.deepEqual(
    names,
    cases.map((c) => c.name),
  );
});
