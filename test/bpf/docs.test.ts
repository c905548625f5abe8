// docs/bpf.md shows each filter as a listing; this keeps those listings identical to what the builders
// produce, so the documentation is never a stale picture of the program the kernel runs.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { DOC_PATH, docListings, listingsInDoc } from "./doc-listings.js";

test("docs/bpf.md shows the current programs (refresh: node dist/test/bpf/doc-listings.js --write)", () => {
  const inDoc = listingsInDoc(readFileSync(DOC_PATH, "utf8"));
  const now = docListings();
  assert.deepEqual([...inDoc.keys()].sort(), [...now.keys()].sort(), "every listing appears once");
  for (const [name, text] of now) assert.equal(inDoc.get(name), text, `listing ${name} is stale`);
});
