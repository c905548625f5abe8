// client_allowed_sans against the subjectAltName string node gives: every kind of name, values node
// JSON-quotes, IP addresses compared as addresses (the file's `fd18::1` is the certificate's
// FD18:0:0:0:0:0:0:1), and nothing else than an exact match.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSubjectAltName, sanAllowed } from "../../src/server/client-sans.js";

const SAN =
  'DNS:prom.lab, IP Address:198.18.0.1, IP Address:FD18:0:0:0:0:0:0:1, email:p@lab, URI:spiffe://lab/prom, DNS:"a, \\"b\\".lab"';

test("parseSubjectAltName reads every kind, quoted values included", () => {
  assert.deepEqual(parseSubjectAltName(SAN), [
    ["DNS", "prom.lab"],
    ["IP Address", "198.18.0.1"],
    ["IP Address", "FD18:0:0:0:0:0:0:1"],
    ["email", "p@lab"],
    ["URI", "spiffe://lab/prom"],
    ["DNS", 'a, "b".lab'],
  ]);
  assert.deepEqual(parseSubjectAltName(undefined), []);
});

test("sanAllowed: exact names, IP addresses as addresses", () => {
  for (const ok of [
    "prom.lab",
    "198.18.0.1",
    "fd18::1",
    "FD18::0:1",
    "p@lab",
    "spiffe://lab/prom",
    'a, "b".lab',
  ])
    assert.equal(sanAllowed(SAN, [ok]), true, ok);
  for (const no of ["prom", "PROM.LAB", "198.18.0.2", "fd18::2", "spiffe://lab", "lab/prom", "a"])
    assert.equal(sanAllowed(SAN, [no]), false, no);
  assert.equal(sanAllowed(undefined, ["prom.lab"]), false, "no certificate, no name");
  assert.equal(sanAllowed(SAN, ["x", "prom.lab"]), true, "any one of the list");
});
