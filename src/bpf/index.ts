// The public face of src/bpf: classic BPF filters for netprobify's raw receive sockets, so that only
// replies to our own probes ever reach JavaScript. encode() gives the bytes for SO_ATTACH_FILTER.

export type { AsmItem, BpfProgram } from "./asm.js";
export { assemble, decode, encode } from "./asm.js";
export { checkProgram } from "./check.js";
export { listing } from "./disasm.js";
export { BpfError } from "./errors.js";
export { type IcmpFilterOptions, icmpFilter, icmpv6Filter } from "./icmp.js";
export { ACCEPT, DROP, type IdSet, MAX_RANGES, type SeqWindow, type U16Range } from "./match.js";
export { type TcpReplyFilterOptions, tcpReplyFilter } from "./tcp.js";
