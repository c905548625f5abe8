// Minimal classic-pcap reader and writer (LINKTYPE_RAW: each record starts at the IP header), so the
// packet corpus can be handed to tshark and read back by our parsers without any capture library.
// Timestamps are the record index in seconds, which keeps the committed file byte-for-byte stable.

export const LINKTYPE_RAW = 101;

export function writePcap(packets: readonly Uint8Array[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(LINKTYPE_RAW, 20);
  const parts: Buffer[] = [header];
  packets.forEach((p, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(i, 0);
    rec.writeUInt32LE(p.length, 8);
    rec.writeUInt32LE(p.length, 12);
    parts.push(rec, Buffer.from(p));
  });
  return Buffer.concat(parts);
}

/** Records of a little-endian LINKTYPE_RAW pcap (what writePcap produces). Throws on anything else. */
export function readPcap(file: Buffer): Buffer[] {
  if (file.length < 24 || file.readUInt32LE(0) !== 0xa1b2c3d4 || file.readUInt32LE(20) !== LINKTYPE_RAW) {
    throw new Error("not a little-endian LINKTYPE_RAW pcap");
  }
  const out: Buffer[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const incl = file.readUInt32LE(off + 8);
    out.push(file.subarray(off + 16, off + 16 + incl));
    off += 16 + incl;
  }
  if (off !== file.length) throw new Error("truncated pcap record");
  return out;
}
