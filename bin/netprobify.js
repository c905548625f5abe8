#!/usr/bin/env node
// Entry point installed as `netprobify`: runs the compiled CLI and exits with its code.
import { main } from "../dist/src/cli/main.js";

process.exitCode = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
