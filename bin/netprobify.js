#!/usr/bin/env node
// Entry point installed as `netprobify`: runs the compiled CLI and exits with its code.
import { setFlagsFromString } from "node:v8";

// V8's young generation keeps its first size (1 MB semi-spaces) instead of doubling up to 16 MB as
// loading the configuration and planning keep objects alive: the probing paths allocate nothing per
// packet, and a run of 1,000,000 probes peaked ~20 MB lower (docs/performance.md, memory). Set before
// the CLI's modules load; V8 reads the factor at each growth. A young-generation flag given to Node
// (its command line or NODE_OPTIONS) is left to rule.
const own = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
if (!/semi[-_]space/.test(own)) setFlagsFromString("--semi-space-growth-factor=1");

const { main } = await import("../dist/src/cli/main.js");
const { processIo } = await import("../dist/src/cli/process-io.js");

process.exitCode = await main(process.argv.slice(2), processIo());
