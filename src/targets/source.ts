// The source address the kernel would use toward a destination, needed when a group fixes none: our
// packets carry hand-written IP headers, and their transport checksums cover the source address. A
// connected UDP socket asks the kernel's routing table without sending anything (connect() on a
// datagram socket only selects a route and a local address).
import { createSocket } from "node:dgram";
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
  await Promise.all(
    [...dsts].map(async ([dst, family]) => {
      try {
        out.set(dst, await kernelSource(dst, family));
      } catch {
        // no route: the caller reports the target as unreachable
      }
    }),
  );
  return out;
}
