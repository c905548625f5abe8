// The source address the kernel would use toward a destination, needed when a group fixes none: our
// packets carry hand-written IP headers, and their transport checksums cover the source address. A
// connected UDP socket asks the kernel's routing table without sending anything (connect() on a
// datagram socket only selects a route and a local address).
//
// For many destinations at once (start-up with thousands of targets), the addon re-connects one UDP
// socket per family in C: ~2 us per destination, where a Node dgram socket per destination cost
// ~40 us, a file descriptor and a trip through the event loop each.
import { createSocket } from "node:dgram";
import { routeSources } from "../native/rawsock.js";
import { formatAddress, parseAddress } from "../packet/addr.js";
import type { Family } from "./destination.js";

/** The local address the kernel picks for `dst`; rejects when there is no route. */
export function kernelSource(dst: string, family: Family): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket(family === "ipv4" ? "udp4" : "udp6");
    s.once("error", (err) => {
      s.close();
      reject(err);
    });
    s.connect(9, dst, (err?: Error) => {
      if (err) {
        s.close();
        reject(err);
        return;
      }
      try {
        resolve(s.address().address);
      } catch (err) {
        reject(err);
      } finally {
        s.close();
      }
    });
  });
}

/** kernelSource for many destinations; a destination without a route is left out of the map. */
export async function kernelSources(dsts: Iterable<[string, Family]>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // Literal addresses go through the addon in one call per family; anything else (a scoped IPv6
  // address, or no addon) through a dgram socket each.
  const rest: [string, Family][] = [];
  const byFamily = { ipv4: [] as [string, Uint8Array][], ipv6: [] as [string, Uint8Array][] };
  for (const [dst, family] of dsts) {
    const bytes = parseAddress(dst);
    if (bytes && bytes.length === (family === "ipv4" ? 4 : 16)) byFamily[family].push([dst, bytes]);
    else rest.push([dst, family]);
  }
  for (const family of ["ipv4", "ipv6"] as const) {
    const list = byFamily[family];
    if (list.length === 0) continue;
    const packed = new Uint8Array(list.length * 16);
    list.forEach(([, b], i) => {
      packed.set(b, i * 16);
    });
    const src = new Uint8Array(list.length * 16);
    const errors = new Uint32Array(list.length);
    try {
      routeSources(family === "ipv4" ? 4 : 6, packed, list.length, src, errors);
    } catch {
      for (const [dst] of list) rest.push([dst, family]); // no addon: one dgram socket each
      continue;
    }
    const f = family === "ipv4" ? 4 : 6;
    list.forEach(([dst], i) => {
      if (errors[i] === 0)
        out.set(dst, formatAddress(src.subarray(i * 16, i * 16 + (f === 4 ? 4 : 16)), 0, f));
    });
  }
  await Promise.all(
    rest.map(async ([dst, family]) => {
      try {
        out.set(dst, await kernelSource(dst, family));
      } catch {
        // no route: the caller reports the target as unreachable
      }
    }),
  );
  return out;
}
