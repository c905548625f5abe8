#!/usr/bin/env node
// Entry point installed as `netprobify`: runs the compiled CLI and exits with its code.
// V8's young generation stays at its first size while the configuration loads and the plan is
// built (a daemon lets it grow after its first iteration): src/young-generation.ts. Set before the
// CLI's modules load; a young-generation flag given to Node rules.
const { holdYoungGeneration } = await import("../dist/src/young-generation.js");
holdYoungGeneration();

const { main } = await import("../dist/src/cli/main.js");
const { processIo } = await import("../dist/src/cli/process-io.js");

process.exitCode = await main(process.argv.slice(2), processIo());
