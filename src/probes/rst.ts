// Our answer to a SYN-ACK: a RST that closes the half-open connection our SYN opened, so the target's
// SYN queue does not fill with our probes (the "stealth" of TCPsyn). The local kernel usually sends one
// too (no socket owns the port); ours also covers sources the kernel does not own, such as addresses
// of a source subnet used for ECMP spreading. Same flow as the probe: same ports, DSCP, flow label.
import {
  IPPROTO_TCP,
  IPV4_HEADER_LEN,
  IPV6_HEADER_LEN,
  pseudoSum4,
  pseudoSum6,
  TCP,
  TCP_HEADER_LEN,
  TcpFlag,
  writeChecksum,
  writeIPv4Header,
  writeIPv6Header,
  writeTcpHeader,
} from "../packet/index.js";

export interface RstFields {
  /** 4- or 16-byte addresses: our source and the target, as in the probe. */
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  /** The SYN-ACK's acknowledgement number (our SYN's sequence + 1). */
  seq: number;
  dscp: number;
  flowLabel: number;
}

/** Writes the RST packet (IP header included) at buf[off]; returns its length. */
export function writeRst(buf: Uint8Array, off: number, f: RstFields): number {
  const v4 = f.src.length === 4;
  const hl = v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  const t = off + hl;
  writeTcpHeader(buf, t, {
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    seq: f.seq,
    flags: TcpFlag.RST,
    window: 0,
  });
  const pseudo = v4
    ? pseudoSum4(f.src, 0, f.dst, 0, IPPROTO_TCP, TCP_HEADER_LEN)
    : pseudoSum6(f.src, 0, f.dst, 0, IPPROTO_TCP, TCP_HEADER_LEN);
  writeChecksum(buf, t, TCP_HEADER_LEN, pseudo, t + TCP.CHECKSUM);
  if (v4) {
    writeIPv4Header(buf, off, {
      dscp: f.dscp,
      totalLength: hl + TCP_HEADER_LEN,
      id: 0,
      df: true,
      ttl: 64,
      protocol: IPPROTO_TCP,
      src: f.src,
      dst: f.dst,
    });
  } else {
    writeIPv6Header(buf, off, {
      dscp: f.dscp,
      flowLabel: f.flowLabel,
      payloadLength: TCP_HEADER_LEN,
      nextHeader: IPPROTO_TCP,
      hopLimit: 64,
      src: f.src,
      dst: f.dst,
    });
  }
  return hl + TCP_HEADER_LEN;
}
