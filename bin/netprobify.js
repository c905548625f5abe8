#!/usr/bin/env node
// Entry point installed as `netprobify`: runs the compiled CLI and exits with its code.
import { main } from "../dist/src/cli/main.js";
import { processIo } from "../dist/src/cli/process-io.js";

process.exitCode = await main(process.argv.slice(2), processIo());
