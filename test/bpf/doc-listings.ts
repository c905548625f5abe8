// The program listings shown in docs/bpf.md, built from the real builders with example parameters.
// docs.test.ts checks that the document shows exactly these; after changing a builder, refresh the
// document with `node dist/test/bpf/doc-listings.js --write`.

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { listing } from "../../src/bpf/disasm.js";
import { icmpFilter, icmpv6Filter } from "../../src/bpf/icmp.js";
import { tcpReplyFilter } from "../../src/bpf/tcp.js";

const ports = { lo: 65000, hi: 65100 };
const ids = [{ lo: 4096, hi: 4111 }];

/** Listing name → program text. Names appear in docs/bpf.md as `<!-- listing:NAME -->`. */
export function docListings(): Map<string, string> {
  return new Map([
    ["tcp4", listing(tcpReplyFilter({ family: 4, ports, ackWindow: { lo: 4294967000, hi: 999 } }))],
    ["tcp6", listing(tcpReplyFilter({ family: 6, ports }))],
    ["icmp4", listing(icmpFilter({ echoReplyIds: ids, quotedPorts: ports, quotedEchoIds: ids }))],
    ["icmp6", listing(icmpv6Filter({ echoReplyIds: ids, quotedPorts: ports, quotedEchoIds: ids }))],
  ]);
}

export const DOC_PATH = fileURLToPath(new URL("../../../docs/bpf.md", import.meta.url));

const BLOCK = /<!-- listing:(\w+) -->\n```text\n([\s\S]*?)```\n/g;

/** The listings as they appear in the document. */
export function listingsInDoc(text: string): Map<string, string> {
  return new Map([...text.matchAll(BLOCK)].map((m) => [m[1]!, m[2]!]));
}

/** The document with every listing block replaced by the current program. */
export function refreshDoc(text: string): string {
  const now = docListings();
  return text.replace(BLOCK, (whole, name: string) => {
    const body = now.get(name);
    return body === undefined ? whole : `<!-- listing:${name} -->\n\`\`\`text\n${body}\`\`\`\n`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--write")) {
  writeFileSync(DOC_PATH, refreshDoc(readFileSync(DOC_PATH, "utf8")));
}
