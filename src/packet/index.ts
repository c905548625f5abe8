// The packet codecs' public surface, so probes and the engine import one module. Everything here is
// a pure function over bytes: builders write into caller buffers, parsers never throw.
export * from "./addr.js";
export * from "./checksum.js";
export * from "./icmp.js";
export * from "./ipv4.js";
export * from "./ipv6.js";
export * from "./layout.js";
export * from "./packet.js";
export * from "./payload.js";
export * from "./quoted.js";
export * from "./tcp.js";
export * from "./udp.js";
